"""Cluster objects against the site: Pod Security labels, ingress classes, MetalLB, VIPs (pure)."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_address

from ..facts.cluster import KubeObject, labels, name_of
from ..site.schema import Site
from .findings import Finding, finding

PSA_ORDER = {"privileged": 0, "baseline": 1, "restricted": 2}
PSA_MODES = ("enforce", "audit", "warn")


def pod_security(site: Site, namespaces: list[KubeObject]) -> list[Finding]:
    """No namespace outside the exemptions lowers a Pod Security mode below the site's level.

    A namespace without a label inherits the cluster default (the AdmissionConfiguration), so only
    explicit labels can weaken it; an unknown level is reported too.
    """
    psa = site.cluster.pod_security
    exempt = set(psa.exemptions.namespaces)
    out = []
    for ns in namespaces:
        name = name_of(ns)
        if name in exempt:
            out.append(finding(psa, f"namespace {name}", True, "exempt by design"))
            continue
        lbl = labels(ns)
        problems = []
        for mode in PSA_MODES:
            want = getattr(psa, mode)
            have = lbl.get(f"pod-security.kubernetes.io/{mode}")
            if have is None:
                continue
            if have not in PSA_ORDER:
                problems.append(f"{mode}={have!r} is not a Pod Security level")
            elif PSA_ORDER[have] < PSA_ORDER[want]:
                problems.append(f"{mode}={have}, expected {want}")
        if problems:
            out.append(finding(psa, f"namespace {name}", False, "; ".join(problems) + " (not exempt)"))
        else:
            out.append(finding(psa, f"namespace {name}", True, f"{psa.enforce} (label or cluster default)"))
    return out


def ingress_class(site: Site, name: str, classes: list[KubeObject]) -> Finding:
    """IngressClass ``name`` exists with the site's controller."""
    spec = site.ingress[name]
    found = [c for c in classes if name_of(c) == name]
    if not found:
        return finding(spec, f"IngressClass {name}", False, "does not exist")
    controller = (found[0].get("spec") or {}).get("controller")
    if controller != spec.controller:
        return finding(spec, f"IngressClass {name}", False, f"controller {controller!r}, expected {spec.controller!r}")
    return finding(spec, f"IngressClass {name}", True, f"controller {controller}")


def _pool_bounds(entry: str) -> tuple[IPv4Address, IPv4Address] | None:
    try:
        if "-" in entry:
            lo, hi = entry.split("-", 1)
            a, b = ip_address(lo.strip()), ip_address(hi.strip())
        else:
            from ipaddress import ip_network

            net = ip_network(entry.strip(), strict=False)
            a, b = net[0], net[-1]
    except ValueError:
        return None
    if isinstance(a, IPv4Address) and isinstance(b, IPv4Address):
        return a, b
    return None


def metallb_pool(site: Site, pools: list[KubeObject], adverts: list[KubeObject]) -> Finding:
    """The MetalLB pool has exactly the site's range and an L2Advertisement announces it."""
    mlb = site.cluster.metallb
    subject = f"IPAddressPool {mlb.pool}"
    found = [p for p in pools if (p.get("metadata") or {}).get("name") == mlb.pool]
    if not found:
        return finding(mlb, subject, False, "does not exist")
    addresses = list((found[0].get("spec") or {}).get("addresses") or [])
    bounds = [_pool_bounds(a) for a in addresses]
    if bounds != [(mlb.first, mlb.last)]:
        return finding(mlb, subject, False, f"addresses {addresses}, expected ['{mlb.first}-{mlb.last}']")
    announced = [
        a
        for a in adverts
        if (a.get("metadata") or {}).get("name") == mlb.l2_advertisement
        and mlb.pool in ((a.get("spec") or {}).get("ipAddressPools") or [mlb.pool])
    ]
    if not announced:
        return finding(mlb, subject, False, f"no L2Advertisement {mlb.l2_advertisement} announces it")
    return finding(mlb, subject, True, f"{mlb.first}-{mlb.last}, announced by {mlb.l2_advertisement}")


def ingress_vip(site: Site, name: str, services: list[KubeObject]) -> Finding:
    """The ingress class's controller Service is a LoadBalancer on the class VIP."""
    spec = site.ingress[name]
    subject = f"Service {spec.namespace}/{spec.service}"
    found = [s for s in services if name_of(s) == f"{spec.namespace}/{spec.service}"]
    if not found:
        return finding(spec, subject, False, "does not exist")
    svc = found[0]
    svc_spec = svc.get("spec") or {}
    if svc_spec.get("type") != "LoadBalancer":
        return finding(spec, subject, False, f"type {svc_spec.get('type')!r}, expected LoadBalancer")
    ips = {i.get("ip") for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []}
    annotations = (svc.get("metadata") or {}).get("annotations") or {}
    requested = {svc_spec.get("loadBalancerIP"), annotations.get("metallb.universe.tf/loadBalancerIPs")} - {None}
    have = sorted(x for x in (ips | requested) if x)
    if have != [str(spec.vip)]:
        return finding(spec, subject, False, f"addresses {have or 'none'}, expected {spec.vip}")
    return finding(spec, subject, True, f"LoadBalancer on {spec.vip}")
