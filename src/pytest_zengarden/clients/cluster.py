"""The live cluster through the official ``kubernetes`` client (dynamic client, read and write)."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import TargetError
from ..facts.cluster import API_VERSIONS, KubeObject
from ..redaction import redact, remember


class KubeClusterClient:
    """Reads cluster objects as dicts; every request carries a timeout and no retries hide a dead API.

    Every request is bounded by ``timeout`` (total, connect and read), the API discovery the dynamic
    client does on first use included.  Bearer tokens and passwords from the kubeconfig are masked in
    logs; inline client keys and certificates reach ssl through anonymous memory files (``memfd``),
    never a copy on disk as the kubernetes loader would write, and the kubeconfig is never written back.
    """

    def __init__(self, kubeconfig: Path, context: str | None = None, timeout: float = 10.0):
        from kubernetes import client, config
        from kubernetes.dynamic import DynamicClient

        self.timeout = timeout
        self.endpoint = f"cluster (kubeconfig {kubeconfig})"
        if not kubeconfig.exists():
            raise TargetError(self.endpoint, f"kubeconfig {kubeconfig} does not exist")
        # The CA certificate (public) may still be materialized by the loader: in a directory of ours.
        self._tmp = Path(tempfile.mkdtemp(prefix="zg-kube-"))
        self._fds: list[int] = []
        cfg = client.Configuration()
        problem = ""
        try:
            data = _in_memory_client_credentials(kubeconfig, self._fds)
            # The loader itself, not load_kube_config: it never writes the kubeconfig back (persist).
            config.kube_config.KubeConfigLoader(  # type: ignore[no-untyped-call]
                config_dict=data,
                active_context=context,
                config_base_path=str(kubeconfig.parent),
                temp_file_path=str(self._tmp),
            ).load_and_set(cfg)
        except Exception as exc:  # the loader raises ConfigException, KeyError, yaml errors...
            problem = redact(str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        if problem:
            self._release()
            raise TargetError(self.endpoint, f"cannot load kubeconfig: {problem}") from None
        for value in (*cfg.api_key.values(), cfg.password or ""):
            if value:
                remember(str(value).removeprefix("Bearer ").removeprefix("Basic "))
        cfg.retries = 0
        self.endpoint = f"cluster {cfg.host}"
        self.api_client = client.ApiClient(cfg)
        _bound_every_request(self.api_client, timeout)
        self._dyn: Any = None
        self._dynamic_cls = DynamicClient

    @property
    def cache_dir(self) -> Path:
        """A private directory this client removes when closed (discovery caches live there)."""
        return self._tmp

    def _dynamic(self) -> Any:
        # Discovery is a network call: do it on first use, inside the error mapping.
        if self._dyn is None:
            # Discovery cached in this client's own directory: the library's default is one file per API
            # host in /tmp, shared by every process, so a lab rebuilt without a CRD read as still serving it.
            self._dyn = self._dynamic_cls(  # type: ignore[no-untyped-call]
                self.api_client, cache_file=str(self._tmp / "discovery.json")
            )
        return self._dyn

    def list(self, kind: str) -> list[KubeObject]:
        api_version = API_VERSIONS.get(kind)
        if api_version is None:
            raise ValueError(f"unknown kind {kind!r}; add it to cluster_state.API_VERSIONS")
        result: Any = None
        cause = ""
        try:
            resource = self._dynamic().resources.get(api_version=api_version, kind=kind)
            result = resource.get(_request_timeout=self.timeout)
        except Exception as exc:
            cause = _cause(exc)
        if result is None:
            # Raised outside the except block: no chained urllib3/kubernetes frames in the report.
            raise TargetError(self.endpoint, f"list {kind}: {cause}") from None
        items: list[KubeObject] = result.to_dict().get("items", [])
        return items

    def _release(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
        while self._fds:
            with contextlib.suppress(OSError):
                os.close(self._fds.pop())

    def close(self) -> None:
        try:
            self.api_client.close()  # type: ignore[no-untyped-call]
        finally:
            self._release()


def _in_memory_client_credentials(kubeconfig: Path, fds: list[int]) -> dict[str, Any]:
    """The kubeconfig as data, inline client keys and certificates moved into memfds (``/proc/self/fd/N``).

    The kubernetes loader writes ``client-key-data`` to a temporary file because ssl loads keys by path;
    an anonymous memory file gives ssl a path without a copy of the key on any disk.
    """
    import yaml

    data = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a kubeconfig (expected a mapping)")
    if not hasattr(os, "memfd_create"):
        return data  # not Linux: the loader's own temporary files
    for entry in data.get("users") or []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(user, dict):
            continue
        for key in ("client-key", "client-certificate"):
            inline = user.get(f"{key}-data")
            if not inline:
                continue
            fd = os.memfd_create(f"zg-{key}", os.MFD_CLOEXEC)
            fds.append(fd)
            os.write(fd, base64.standard_b64decode(inline))
            user[key] = f"/proc/self/fd/{fd}"
            del user[f"{key}-data"]
    return data


def _bound_every_request(api_client: Any, timeout: float) -> None:
    """Give every request without its own timeout this one (discovery passes none, and None means forever)."""
    rest = api_client.rest_client
    request = rest.request

    def bounded(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("_request_timeout"):
            kwargs["_request_timeout"] = timeout
        return request(*args, **kwargs)

    rest.request = bounded


def _cause(exc: BaseException) -> str:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    if isinstance(exc, ResourceNotFoundError):
        return "the API server does not serve this kind (CRD not installed?)"
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    text = str(exc)
    for marker in (
        "Connection refused",
        "timed out",
        "Name or service not known",
        "certificate verify failed",
    ):
        if marker in text:
            return marker.lower()
    return redact(text.splitlines()[0][:200]) if text else type(exc).__name__
