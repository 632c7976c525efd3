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


PSA_PREFIX = "pod-security.kubernetes.io/"
DERIVED_GROUP = "secrets.oleksiyp.dev"  # the DerivedSecret operator's API (homelab facts §3)


def _crd(kind: str, plural: str, group: str = "metallb.io", version: str = "v1beta1", scope: str = "Namespaced") -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
            "scope": scope,
            "versions": [{
                "name": version, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }],
        },
    }  # fmt: skip


def crds(site: Site) -> list[Obj]:
    """CRDs the site's objects need (MetalLB's and the DerivedSecret operator's, reduced to a schema-less form)."""
    out = [_crd("IPAddressPool", "ipaddresspools"), _crd("L2Advertisement", "l2advertisements")]
    out.append(_crd("DerivedSecret", "derivedsecrets", DERIVED_GROUP, "v1alpha1"))
    out.append(_crd("MasterPassword", "masterpasswords", DERIVED_GROUP, "v1alpha1", scope="Cluster"))
    return out


def psa_labels(site: Site) -> dict[str, str]:
    """The Pod Security labels every namespace outside the exemptions carries (the site's levels)."""
    psa = site.cluster.pod_security
    out = {}
    for mode in ("enforce", "audit", "warn"):
        out[f"{PSA_PREFIX}{mode}"] = str(getattr(psa, mode))
        out[f"{PSA_PREFIX}{mode}-version"] = psa.version
    return out


def secrets_objects(site: Site) -> list[Obj]:
    """The MasterPassword (a reference to its Secret, never the value) and the DerivedSecrets the site declares."""
    master = site.secrets.master
    out: list[Obj] = [{
        "apiVersion": f"{DERIVED_GROUP}/v1alpha1", "kind": "MasterPassword",
        "metadata": {"name": "default", "annotations": {CONTROL_ANNOTATION: site.secrets.kdf.control}},
        "spec": {"secret": {"name": master.secret, "create": False}},
    }]  # fmt: skip
    for ds in site.secrets.derived:
        keys: dict[str, Any] = {}
        for name, key in ds.keys.items():
            keys[name] = {"type": key.type} | ({"length": key.length} if key.length is not None else {})
        out.append({
            "apiVersion": f"{DERIVED_GROUP}/v1alpha1", "kind": "DerivedSecret",
            "metadata": {"name": ds.name, "namespace": ds.namespace, "annotations": {CONTROL_ANNOTATION: ds.control}},
            "spec": {"keys": keys},
        })  # fmt: skip
    return out


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


NETPOL_API = "networking.k8s.io/v1"
DEFAULT_DENY = "default-deny"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace


def default_deny(site: Site, namespace: str) -> Obj | None:
    """The NetworkPolicy denying what the site denies by default in ``namespace`` (every pod, no rules)."""
    deny = site.cluster.network_policies.default_deny
    types = [t for t, on in (("Ingress", deny.ingress), ("Egress", deny.egress)) if on]
    if not types:
        return None
    return {
        "apiVersion": NETPOL_API, "kind": "NetworkPolicy",
        "metadata": {"name": DEFAULT_DENY, "namespace": namespace,
                     "annotations": {CONTROL_ANNOTATION: site.cluster.network_policies.control}},
        "spec": {"podSelector": {}, "policyTypes": types},
    }  # fmt: skip


def netpol_allowances(site: Site, namespace: str) -> list[Obj]:
    """The NetworkPolicies the site lists for ``namespace`` besides its default-deny."""
    np = site.cluster.network_policies
    out: list[Obj] = []
    for allow in np.allow.get(namespace, []):
        peers: list[Obj] = []
        for ns in allow.namespaces:
            selector: Obj = {} if ns == "*" else {"matchLabels": {NAMESPACE_NAME_LABEL: ns}}
            peers.append({"namespaceSelector": selector})
        peers += [{"ipBlock": {"cidr": str(c)}} for c in allow.cidrs]
        rule: Obj = {}
        if peers:
            rule["from" if allow.direction == "ingress" else "to"] = peers
        if allow.ports:
            rule["ports"] = [{"protocol": allow.protocol, "port": p} for p in allow.ports]
        selector = {"matchLabels": dict(allow.pod_selector)} if allow.pod_selector else {}
        annotations = {CONTROL_ANNOTATION: np.control}
        if allow.description:
            annotations["zengarden.dev/description"] = allow.description
        out.append({
            "apiVersion": NETPOL_API, "kind": "NetworkPolicy",
            "metadata": {"name": allow.name, "namespace": namespace, "annotations": annotations},
            "spec": {"podSelector": selector, "policyTypes": [allow.direction.capitalize()],
                     allow.direction: [rule]},
        })  # fmt: skip
    return out


def network_policies(site: Site, namespaces: list[str]) -> list[Obj]:
    """Default-deny and the listed allowances for every one of ``namespaces`` the site does not exempt."""
    exempt = set(site.cluster.netpol_exempt)
    out: list[Obj] = []
    for ns in dict.fromkeys(namespaces):
        if ns in exempt:
            continue
        deny = default_deny(site, ns)
        out += [deny] if deny is not None else []
        out += netpol_allowances(site, ns)
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
