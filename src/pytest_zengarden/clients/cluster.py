"""The live cluster through the official ``kubernetes`` client (dynamic client, read and write)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import TargetError
from ..facts.cluster import API_VERSIONS, KubeObject


class KubeClusterClient:
    """Reads cluster objects as dicts; every request carries a timeout and no retries hide a dead API."""

    def __init__(self, kubeconfig: Path, context: str | None = None, timeout: float = 10.0):
        from kubernetes import client, config
        from kubernetes.dynamic import DynamicClient

        self.timeout = timeout
        self.endpoint = f"cluster (kubeconfig {kubeconfig})"
        if not kubeconfig.exists():
            raise TargetError(self.endpoint, f"kubeconfig {kubeconfig} does not exist")
        try:
            cfg = client.Configuration()
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), context=context, client_configuration=cfg
            )
        except Exception as exc:  # the loader raises ConfigException, KeyError, yaml errors...
            raise TargetError(self.endpoint, f"cannot load kubeconfig: {exc}") from None
        cfg.retries = 0
        self.endpoint = f"cluster {cfg.host}"
        self.api_client = client.ApiClient(cfg)
        self._dyn: Any = None
        self._dynamic_cls = DynamicClient

    def _dynamic(self) -> Any:
        # Discovery is a network call: do it on first use, inside the error mapping.
        if self._dyn is None:
            self._dyn = self._dynamic_cls(self.api_client)  # type: ignore[no-untyped-call]
        return self._dyn

    def list(self, kind: str) -> list[KubeObject]:
        api_version = API_VERSIONS.get(kind)
        if api_version is None:
            raise ValueError(f"unknown kind {kind!r}; add it to cluster_state.API_VERSIONS")
        try:
            resource = self._dynamic().resources.get(api_version=api_version, kind=kind)
            result = resource.get(_request_timeout=self.timeout)
        except Exception as exc:
            raise TargetError(self.endpoint, f"list {kind}: {_cause(exc)}") from None
        items: list[KubeObject] = result.to_dict().get("items", [])
        return items

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]


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
    return text.splitlines()[0][:200] if text else type(exc).__name__
