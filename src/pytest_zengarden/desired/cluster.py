"""The cluster objects a site implies (pure): what the converged lab holds and provisioning will apply.

IngressClasses with their controllers, the MetalLB pool and L2 advertisement (and the two MetalLB CRDs,
reduced to what the API server needs to serve them), each ingress controller's LoadBalancer Service
on its class VIP.  Every object carries a ``zengarden.dev/control`` annotation naming its control.
"""

from __future__ import annotations

from typing import Any

from ..site.schema import Site

Obj = dict[str, Any]
CONTROL_ANNOTATION = "zengarden.dev/control"


def _crd(kind: str, plural: str) -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.metallb.io"},
        "spec": {
            "group": "metallb.io",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1beta1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }],
        },
    }  # fmt: skip


def crds(site: Site) -> list[Obj]:
    """CRDs the site's objects need (MetalLB's, reduced to a schema-less form)."""
    return [_crd("IPAddressPool", "ipaddresspools"), _crd("L2Advertisement", "l2advertisements")]


def objects(site: Site) -> list[Obj]:
    """Namespaced and cluster objects, in an order that applies cleanly."""
    c = site.cluster
    mlb = c.metallb
    out: list[Obj] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "metallb-system"}}]
    for name, cls in site.ingress.items():
        out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cls.namespace}})
        out.append({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": name, "annotations": {CONTROL_ANNOTATION: cls.control}},
            "spec": {"controller": cls.controller},
        })  # fmt: skip
    out.append({
        "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
        "metadata": {"name": mlb.pool, "namespace": "metallb-system", "annotations": {CONTROL_ANNOTATION: mlb.control}},
        "spec": {"addresses": [f"{mlb.first}-{mlb.last}"]},
    })  # fmt: skip
    out.append({
        "apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
        "metadata": {"name": mlb.l2_advertisement, "namespace": "metallb-system",
                     "annotations": {CONTROL_ANNOTATION: mlb.control}},
        "spec": {"ipAddressPools": [mlb.pool]},
    })  # fmt: skip
    for cls in site.ingress.values():
        out.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": cls.service, "namespace": cls.namespace,
                         "annotations": {CONTROL_ANNOTATION: cls.control,
                                         "metallb.universe.tf/loadBalancerIPs": str(cls.vip)}},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}],
                     "selector": {"app.kubernetes.io/component": "controller"}},
        })  # fmt: skip
    return out


KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def nodes(site: Site) -> list[Obj]:
    """The five blades as Nodes, labelled with their roles as k3s labels them (no taints: k3s sets none).

    The lab has no kubelets: kwok (managing nodes with :data:`KWOK_ANNOTATION`) keeps them Ready.
    """
    from ..site.schema import Role

    out = []
    for name, blade in site.blades.items():
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "arm64",
            "type": "kwok",
        }
        if Role.CONTROL_PLANE in blade.roles:
            labels |= {"node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/master": "true"}
        if Role.ETCD in blade.roles:
            labels["node-role.kubernetes.io/etcd"] = "true"
        out.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels,
                         "annotations": {KWOK_ANNOTATION: "fake", CONTROL_ANNOTATION: blade.control}},
            "status": {"addresses": [{"type": "InternalIP", "address": str(blade.address)},
                                     {"type": "Hostname", "address": name}]},
        })  # fmt: skip
    return out


def load_balancer_status(site: Site) -> list[tuple[str, str, str]]:
    """(namespace, service, ip) the LoadBalancer status must show (what MetalLB's controller would write)."""
    return [(cls.namespace, cls.service, str(cls.vip)) for cls in site.ingress.values()]
