"""The cluster's objects as plain dicts, whatever they were read from (pure interface).

The live client (:mod:`pytest_zengarden.clients.cluster`) and the offline manifest reader both provide
:class:`ClusterReader`, so the cluster evaluators take lists of dicts and never do I/O themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

KubeObject = dict[str, Any]


@dataclass(frozen=True)
class Unanswered:
    """A server that did not answer a question (the cause as its client reported it)."""

    cause: str


# Kinds the checks read, with the API group/version they are served under.
API_VERSIONS: dict[str, str] = {
    "Namespace": "v1",
    "Node": "v1",
    "Service": "v1",
    "Secret": "v1",
    "IngressClass": "networking.k8s.io/v1",
    "Ingress": "networking.k8s.io/v1",
    "IPAddressPool": "metallb.io/v1beta1",
    "L2Advertisement": "metallb.io/v1beta1",
    "DerivedSecret": "secrets.oleksiyp.dev/v1alpha1",
    # Trust Boundary 3 and RBAC (Defense in Depth: Kubernetes).
    "NetworkPolicy": "networking.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    # Pods and the workloads holding pod templates (judged by the Pod Security evaluator).
    "Pod": "v1",
    "PodTemplate": "v1",
    "ReplicationController": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    # Control-plane HA: the controllers' leader election.
    "Lease": "coordination.k8s.io/v1",
}


class ClusterReader(Protocol):
    """Lists objects of one kind."""

    endpoint: str

    def list(self, kind: str) -> list[KubeObject]: ...


def labels(obj: KubeObject) -> dict[str, str]:
    """An object's labels (``{}`` when it has none)."""
    return dict((obj.get("metadata") or {}).get("labels") or {})


def name_of(obj: KubeObject) -> str:
    """``namespace/name`` for namespaced objects, ``name`` otherwise."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))
