"""The live cluster through the official ``kubernetes`` client (dynamic client, read and write)."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import TargetError
from ..facts.cluster import API_VERSIONS, KubeObject
from ..redaction import redact, remember

T = TypeVar("T")


class KubeClusterClient:
    """Reads cluster objects as dicts; every request carries a timeout and no retries hide a dead API.

    Every request is bounded by ``timeout`` (total, connect and read), the API discovery the dynamic
    client does on first use included.  Bearer tokens and passwords from the kubeconfig are masked in
    logs; inline client keys and certificates reach ssl through anonymous memory files (``memfd``),
    never a copy on disk as the kubernetes loader would write, and the kubeconfig is never written back.
    """

    def __init__(
        self, kubeconfig: Path, context: str | None = None, timeout: float = 10.0, *, server: str | None = None
    ):
        """``server``: ask this API server (``https://host:port``) instead of the kubeconfig's, same credentials."""
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
        if server:
            cfg.host = server
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
            resource = retrying_429(lambda: self._dynamic().resources.get(api_version=api_version, kind=kind))
            result = retrying_429(lambda: resource.get(_request_timeout=self.timeout), 2 * self.timeout)
        except Exception as exc:
            cause = _cause(exc)
        if result is None:
            # Raised outside the except block: no chained urllib3/kubernetes frames in the report.
            raise TargetError(self.endpoint, f"list {kind}: {cause}") from None
        items: list[KubeObject] = result.to_dict().get("items", [])
        return items

    def dry_run_create(self, obj: dict[str, Any]) -> tuple[bool, str]:
        """Server-side dry-run create of ``obj`` (``dryRun=All``: admission runs, nothing is persisted).

        Admitted: ``(True, "")``.  Refused by the API (403 Forbidden, 422 Invalid: admission or
        validation): ``(False, the server's message)``.  Anything else (transport, timeout, 5xx) raises
        :class:`TargetError`.
        """
        from kubernetes.client.exceptions import ApiException

        kind, meta = str(obj.get("kind")), obj.get("metadata") or {}
        what = f"dry-run create {kind} {meta.get('namespace') or ''}/{meta.get('name')}".replace(" /", " ")
        admitted = False
        refused: str | None = None
        cause = ""
        try:
            resource = self._dynamic().resources.get(api_version=obj.get("apiVersion"), kind=kind)
            retrying_429(
                lambda: resource.create(
                    body=obj, namespace=meta.get("namespace"), dry_run="All", _request_timeout=self.timeout
                ),
                2 * self.timeout,
            )
            admitted = True
        except Exception as exc:
            if isinstance(exc, ApiException) and exc.status in (403, 422):
                refused = _api_message(exc)
            else:
                cause = _cause(exc)
        if admitted:
            return True, ""
        if refused is not None:
            return False, refused
        # Raised outside the except block: no chained urllib3/kubernetes frames in the report.
        raise TargetError(self.endpoint, f"{what}: {cause}") from None

    def unauthenticated_get(self, address: str, port: int, path: str = "/api") -> tuple[int, str]:
        """GET ``https://address:port/path`` with no credentials at all, trusting only the kubeconfig's CA.

        What an anonymous client sees of that API server: ``(status, message)``.  See
        :func:`unauthenticated_get`.
        """
        ca = self.api_client.configuration.ssl_ca_cert
        if not ca:
            raise TargetError(self.endpoint, "the kubeconfig names no certificate authority to verify the server")
        return unauthenticated_get(address, port, path, str(ca), self.timeout)

    @property
    def server(self) -> str:
        """The API server this client asks (``https://host:port``)."""
        return str(self.api_client.configuration.host)

    def get_raw(self, path: str, query: tuple[tuple[str, str], ...] = ()) -> tuple[int, str]:
        """GET ``path`` (e.g. ``/readyz`` with ``(("verbose", ""),)``) on this client's server: status, body.

        Any HTTP status is an answer; a server that does not answer raises :class:`TargetError`.
        """
        answer: tuple[int, str] | None = None
        cause = ""
        try:
            method, url, headers, _, _ = self.api_client.param_serialize(
                method="GET", resource_path=path, query_params=list(query), auth_settings=["BearerToken"]
            )
            resp = self.api_client.call_api(method, url, header_params=headers, _request_timeout=self.timeout)
            body = resp.read() or b""  # type: ignore[no-untyped-call]
            answer = (int(resp.status), redact(body.decode("utf-8", errors="replace")[:20000]))
        except Exception as exc:
            status = getattr(exc, "status", None)
            if isinstance(status, int) and status:
                answer = (status, redact(str(getattr(exc, "body", "") or "")[:20000]))
            else:
                cause = _cause(exc)
        if answer is None:
            raise TargetError(self.endpoint, f"GET {path}: {cause}") from None
        return answer

    def serving_sans(self) -> Sequence[tuple[str, str]]:
        """The subjectAltName entries of this server's certificate, verified against the kubeconfig's CA."""
        import socket
        import ssl
        from urllib.parse import urlsplit

        ca = self.api_client.configuration.ssl_ca_cert
        if not ca:
            raise TargetError(self.endpoint, "the kubeconfig names no certificate authority to verify the server")
        where = urlsplit(self.server)
        host, port = where.hostname or "", where.port or 443
        sans: Sequence[tuple[str, str]] | None = None
        cause = ""
        try:
            ctx = ssl.create_default_context(cafile=str(ca))
            ctx.check_hostname = False  # the SANs are what is judged; the chain is still verified
            with (
                socket.create_connection((host, port), timeout=self.timeout) as raw,
                ctx.wrap_socket(raw, server_hostname=host) as tls,
            ):
                cert: dict[str, Any] = dict(tls.getpeercert() or {})
                sans = [(str(entry[0]), str(entry[1])) for entry in cert.get("subjectAltName", ())]
        except ssl.SSLCertVerificationError as exc:
            cause = f"certificate verify failed ({exc.verify_message})"
        except TimeoutError:
            cause = "timed out"
        except OSError as exc:
            cause = (exc.strerror or type(exc).__name__).lower()
        if sans is None:
            raise TargetError(self.endpoint, f"TLS handshake: {cause}") from None
        return sans

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


def retrying_429(call: Callable[[], T], budget: float = 20.0) -> T:
    """``call()``, again after the server's Retry-After while it answers 429 Too Many Requests (as client-go
    does), within ``budget`` seconds.  A server that has just (re)started answers 429 until its caches are
    filled; that is the server asking to be asked again, not an answer about the cluster."""
    deadline = time.monotonic() + budget
    while True:
        try:
            return call()
        except Exception as exc:
            if getattr(exc, "status", None) != 429 or time.monotonic() > deadline:
                raise
            headers = getattr(exc, "headers", None) or {}
            try:
                wait = float(headers.get("Retry-After", 1))
            except (TypeError, ValueError):
                wait = 1.0
        time.sleep(min(max(wait, 0.1), 5.0, max(0.0, deadline - time.monotonic())))


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
        "No route to host",
        "Network is unreachable",
        "Connection reset by peer",
    ):
        if marker in text:
            return marker.lower()
    return redact(text.splitlines()[0][:200]) if text else type(exc).__name__


def _api_message(exc: Any) -> str:
    """The message of a refused request (the Status body's ``message``), redacted and bounded."""
    import json

    message = ""
    try:
        message = str(json.loads(exc.body or "{}").get("message") or "")
    except (ValueError, AttributeError, TypeError):
        message = ""
    return redact((message or f"HTTP {exc.status} {exc.reason}")[:2000])


def unauthenticated_get(address: str, port: int, path: str, ca_file: str, timeout: float) -> tuple[int, str]:
    """One HTTPS GET with no client certificate and no token, the server verified against ``ca_file``.

    Returns the status and the Status body's ``message`` (bounded, redacted).  A server that cannot be
    reached or verified raises :class:`TargetError` naming it; ``timeout`` bounds connect and read.
    """
    import http.client
    import json
    import ssl

    endpoint = f"https://{address}:{port}{path}"
    status, body, cause = 0, b"", ""
    try:
        ctx = ssl.create_default_context(cafile=ca_file)
        conn = http.client.HTTPSConnection(address, port, context=ctx, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Accept": "application/json"})
            resp = conn.getresponse()
            status, body = resp.status, resp.read(4096)
        finally:
            conn.close()
    except ssl.SSLCertVerificationError as exc:
        cause = f"certificate verify failed: {exc.verify_message}"
    except (OSError, http.client.HTTPException) as exc:
        cause = redact(str(exc).splitlines()[0][:200]) if str(exc) else type(exc).__name__
    if cause:
        raise TargetError(endpoint, cause) from None
    try:
        message = str(json.loads(body or b"{}").get("message") or "")
    except (ValueError, AttributeError):
        message = body.decode("utf-8", "replace")[:200]
    return status, redact(message[:300])
