"""Cluster objects against the site: Pod Security labels, ingress classes, MetalLB, VIPs (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv4Address, ip_address

from ..facts.cluster import KubeObject, labels, name_of
from ..facts.in_effect import JournalHost, Running, file_in_effect, running
from ..facts.yaml_text import parse
from ..site.schema import Role, Site
from .findings import Finding, finding
from .hosts import podsecurity_configuration, psa_admission

PSA_ORDER = {"privileged": 0, "baseline": 1, "restricted": 2}
PSA_MODES = ("enforce", "audit", "warn")
# Kubernetes' PodSecurity plugin without a configuration (or a mode left unset in it) applies this level.
PSA_BUILTIN = "privileged"


@dataclass(frozen=True)
class PsaDefaults:
    """The Pod Security defaults one API server applies to unlabelled namespaces, and where they come from.

    ``exempt`` are the namespaces its admission configuration exempts; ``source`` says which file (or
    which absence) decided, for messages.
    """

    server: str
    levels: dict[str, str]
    exempt: frozenset[str]
    source: str


def psa_in_effect(server: str, run: Running, read: Callable[[str], str | None]) -> PsaDefaults:
    """The defaults ``server``'s API server applies: the admission configuration its running kube-apiserver
    was started with (``run``, from the journal), read with ``read(path)`` as it was then; Kubernetes'
    built-in default (privileged) when none is named, the file is absent or it configures no PodSecurity
    plugin.  Raise ``ValueError`` when the configuration cannot be judged."""
    builtin = {m: PSA_BUILTIN for m in PSA_MODES}
    disabled = ",".join(run.values("disable-admission-plugins")).split(",")
    if "PodSecurity" in disabled:
        return PsaDefaults(server, builtin, frozenset(), f"{server}'s kube-apiserver runs with PodSecurity disabled")
    path = run.flag("admission-control-config-file")
    if not path:
        why = "runs without --admission-control-config-file: Kubernetes' built-in default"
        return PsaDefaults(server, builtin, frozenset(), f"{server}'s kube-apiserver {why}")
    text = read(path)
    if text is None:
        return PsaDefaults(server, builtin, frozenset(), f"{server}:{path} does not exist")
    try:
        conf = podsecurity_configuration(parse(text).data)
    except ValueError as exc:  # YamlTextError included
        raise ValueError(f"{server}:{path}: {exc}") from None
    if conf is None:
        return PsaDefaults(server, builtin, frozenset(), f"{server}:{path} configures no PodSecurity plugin")
    defaults = conf.get("defaults") or {}
    levels = {m: str(defaults.get(m) or PSA_BUILTIN) for m in PSA_MODES}
    unknown = [f"defaults.{m}: {lv!r}" for m, lv in levels.items() if lv not in PSA_ORDER]
    if unknown:
        raise ValueError(f"{server}:{path}: {', '.join(unknown)} is not a Pod Security level")
    exempt = frozenset(str(n) for n in (conf.get("exemptions") or {}).get("namespaces") or [])
    return PsaDefaults(server, levels, exempt, f"{server}:{path}")


def admission_file_in_effect(host: JournalHost) -> tuple[str, str | None]:
    """(path, text) of the admission configuration ``host``'s running kube-apiserver was started with.

    No such flag: ``("", None)``.  ``ValueError`` when nothing says what runs, or the file changed since.
    """
    run = running(host, "kube-apiserver")
    path = run.flag("admission-control-config-file") or ""
    return path, (file_in_effect(host, run, path) if path else None)


def psa_admission_in_effect(site: Site, blade: str, path: str, text: str | None) -> list[Finding]:
    """The admission configuration ``blade``'s running kube-apiserver was started with (``path``, ``text``
    from :func:`admission_file_in_effect`) sets the site's defaults and exemptions."""
    psa = site.cluster.pod_security
    if not path:
        why = "its kube-apiserver runs without --admission-control-config-file, so Kubernetes' built-in default"
        return [finding(psa, blade, False, f"{why} (privileged) applies; set it in kube-apiserver-arg and restart k3s")]
    return psa_admission(site, blade, text, path)


def server_psa_defaults(site: Site, blade: Callable[[str], JournalHost]) -> list[PsaDefaults]:
    """:func:`psa_in_effect` for every control-plane blade, from what its kube-apiserver runs with now.

    A blade, journal or file that cannot be read raises (the caller's check errors): nothing to judge.
    """
    out = []
    for name in site.blades_with(Role.CONTROL_PLANE):
        host = blade(name)
        run = running(host, "kube-apiserver")
        out.append(psa_in_effect(name, run, partial(file_in_effect, host, run)))
    return out


def pod_security(site: Site, namespaces: list[KubeObject], in_effect: list[PsaDefaults]) -> list[Finding]:
    """No namespace outside the exemptions lowers a Pod Security mode below the site's level.

    A mode without a label takes the cluster default: what the servers' admission configurations set
    (``in_effect``); when they disagree, the weakest, since a request may reach any server.  A namespace
    an admission configuration exempts without the site exempting it is not enforced at all.
    """
    if not in_effect:
        raise ValueError("no API server's Pod Security defaults were read: unlabelled namespaces cannot be judged")
    psa = site.cluster.pod_security
    exempt = set(psa.exemptions.namespaces)
    weakest: dict[str, tuple[str, str]] = {}
    for mode in PSA_MODES:
        level = min((d.levels[mode] for d in in_effect), key=PSA_ORDER.__getitem__)
        weakest[mode] = (level, "; ".join(d.source for d in in_effect if d.levels[mode] == level))
    out = []
    for ns in namespaces:
        name = name_of(ns)
        if name in exempt:
            out.append(finding(psa, f"namespace {name}", True, "exempt by design"))
            continue
        exempted_by = [d.source for d in in_effect if name in d.exempt]
        if exempted_by:
            out.append(
                finding(
                    psa,
                    f"namespace {name}",
                    False,
                    f"exempt from Pod Security by {'; '.join(exempted_by)}, not by design; "
                    "remove it from exemptions.namespaces there",
                )
            )
            continue
        lbl = labels(ns)
        problems, state = [], []
        for mode in PSA_MODES:
            want = getattr(psa, mode)
            have = lbl.get(f"pod-security.kubernetes.io/{mode}")
            if have is None:
                level, source = weakest[mode]
                state.append(f"{mode}={level} (cluster default)")
                if PSA_ORDER[level] < PSA_ORDER[want]:
                    problems.append(
                        f"{mode} unlabelled, so the cluster default {level} applies ({source}), expected {want}: "
                        f"label it pod-security.kubernetes.io/{mode}={want} or set defaults.{mode}: {want} "
                        "on every server"
                    )
                continue
            state.append(f"{mode}={have} (label)")
            if have not in PSA_ORDER:
                problems.append(f"{mode}={have!r} is not a Pod Security level")
            elif PSA_ORDER[have] < PSA_ORDER[want]:
                problems.append(f"{mode}={have}, expected {want}")
        if problems:
            out.append(finding(psa, f"namespace {name}", False, "; ".join(problems) + " (not exempt)"))
        else:
            out.append(finding(psa, f"namespace {name}", True, ", ".join(state)))
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
