"""Blade files against the site: k3s config, Pod Security admission config, audit policy (pure).

The inputs are file contents (``None`` when the file is absent); callers read them through a
:class:`~pytest_zengarden.facts.host.HostView`.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..facts.host import AUDIT_POLICY, K3S_CONFIG, PSA_CONFIG
from ..site.schema import Role, Site, Traced
from .findings import Finding, finding


def _load_yaml(text: str | None, path: str, blade: str, statement: Traced) -> tuple[Any, Finding | None]:
    if text is None:
        return None, finding(statement, f"{blade}:{path}", False, "file is missing")
    try:
        return yaml.safe_load(text), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        return None, finding(statement, f"{blade}:{path}", False, f"not valid YAML{line}")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _flag(cfg: dict[str, Any], key: str) -> bool:
    v = cfg.get(key)
    return v is True or (isinstance(v, str) and v.lower() == "true")


def k3s_config(site: Site, blade: str, text: str | None) -> list[Finding]:
    """``/etc/rancher/k3s/config.yaml`` of ``blade`` renders the site (server or agent settings)."""
    b = site.blades[blade]
    cfg, err = _load_yaml(text, K3S_CONFIG, blade, site.cluster)
    if err is not None:
        return [err]
    if not isinstance(cfg, dict):
        return [finding(site.cluster, f"{blade}:{K3S_CONFIG}", False, "is not a YAML mapping")]
    out: list[Finding] = []

    def expect(statement: Traced, key: str, ok: bool, have: object, want: object) -> None:
        msg = f"{key}: {have!r}" if ok else f"{key}: {have!r}, expected {want!r}"
        out.append(finding(statement, f"{blade} {key}", ok, msg))

    # Every address the config states for the node must be the blade's (and at least one must be stated).
    stated = [str(cfg[k]) for k in ("node-ip", "node-external-ip") if cfg.get(k) is not None]
    stated += [a.split("=", 1)[1] for a in _as_list(cfg.get("kubelet-arg")) if a.startswith("node-ip=")]
    node_ips = {ip.strip() for value in stated for ip in value.split(",") if ip.strip()}
    expect(site.blades[blade], "node-ip", node_ips == {str(b.address)}, sorted(node_ips), str(b.address))

    if Role.CONTROL_PLANE not in b.roles:
        servers = {f"https://{site.blades[s].address}:{site.cluster.api_port}" for s in site.cluster.control_plane}
        servers.add(f"https://{site.cluster.api_endpoint}:{site.cluster.api_port}")
        expect(site.cluster, "server", cfg.get("server") in servers, cfg.get("server"), sorted(servers))
        return out

    c = site.cluster
    pods, svcs = site.segments[c.pod_network].cidr, site.segments[c.service_network].cidr
    expect(
        site.segments[c.pod_network],
        "cluster-cidr",
        str(cfg.get("cluster-cidr")) == str(pods),
        cfg.get("cluster-cidr"),
        str(pods),
    )
    expect(
        site.segments[c.service_network],
        "service-cidr",
        str(cfg.get("service-cidr")) == str(svcs),
        cfg.get("service-cidr"),
        str(svcs),
    )
    if c.cni.name != "flannel":
        expect(c.cni, "flannel-backend", cfg.get("flannel-backend") == "none", cfg.get("flannel-backend"), "none")
        expect(
            c.cni,
            "disable-network-policy",
            _flag(cfg, "disable-network-policy"),
            cfg.get("disable-network-policy"),
            True,
        )
    hard = c.apiserver
    expect(
        hard,
        "secrets-encryption",
        _flag(cfg, "secrets-encryption") == hard.secrets_encryption,
        cfg.get("secrets-encryption"),
        hard.secrets_encryption,
    )
    expect(
        c,
        "tls-san",
        c.api_endpoint in _as_list(cfg.get("tls-san")),
        _as_list(cfg.get("tls-san")),
        c.api_endpoint,
    )

    args: dict[str, str] = {}
    for a in _as_list(cfg.get("kube-apiserver-arg")):
        k, _, v = a.partition("=")
        args[k] = v
    wanted_args = {"admission-control-config-file": PSA_CONFIG}
    if hard.audit_log:
        wanted_args |= {"audit-policy-file": AUDIT_POLICY, "audit-log-path": "<any>"}
    if hard.oidc_issuer:
        wanted_args |= {"oidc-issuer-url": hard.oidc_issuer, "oidc-username-claim": hard.oidc_username_claim}
    for k, v in wanted_args.items():
        have = args.get(k)
        ok = have is not None and (v == "<any>" or have == v)
        statement = c.pod_security if k == "admission-control-config-file" else hard
        expect(statement, f"kube-apiserver-arg {k}", ok, have, v)
    plugins = set(args.get("enable-admission-plugins", "").split(",")) - {""}
    missing = [p for p in hard.admission_plugins if p not in plugins]
    expect(
        hard,
        "kube-apiserver-arg enable-admission-plugins",
        not missing,
        sorted(plugins),
        hard.admission_plugins,
    )
    return out


def psa_admission(site: Site, blade: str, text: str | None) -> list[Finding]:
    """The PodSecurity AdmissionConfiguration on a server sets the site's defaults and exemptions."""
    psa = site.cluster.pod_security
    doc, err = _load_yaml(text, PSA_CONFIG, blade, psa)
    if err is not None:
        return [err]
    subject = f"{blade}:{PSA_CONFIG}"
    plugins = (doc or {}).get("plugins") if isinstance(doc, dict) else None
    ps = next((p for p in plugins or [] if isinstance(p, dict) and p.get("name") == "PodSecurity"), None)
    if ps is None:
        return [finding(psa, subject, False, "no PodSecurity plugin configured")]
    conf = ps.get("configuration") or {}
    defaults = conf.get("defaults") or {}
    out = []
    for mode in ("enforce", "audit", "warn"):
        want, have = getattr(psa, mode), defaults.get(mode)
        out.append(
            finding(
                psa,
                f"{subject} defaults.{mode}",
                have == want,
                f"{have!r}" if have == want else f"{have!r}, expected {want!r}",
            )
        )
    have_ns = sorted((conf.get("exemptions") or {}).get("namespaces") or [])
    want_ns = sorted(psa.exemptions.namespaces)
    out.append(
        finding(
            psa,
            f"{subject} exemptions.namespaces",
            have_ns == want_ns,
            f"{have_ns}" if have_ns == want_ns else f"{have_ns}, expected {want_ns}",
        )
    )
    return out


def audit_policy(site: Site, blade: str, text: str | None) -> list[Finding]:
    """The audit policy on a server logs at the site's level."""
    hard = site.cluster.apiserver
    if not hard.audit_log:
        return [finding(hard, f"{blade}:{AUDIT_POLICY}", True, "audit logging not required by the site")]
    doc, err = _load_yaml(text, AUDIT_POLICY, blade, hard)
    if err is not None:
        return [err]
    rules = (doc or {}).get("rules") if isinstance(doc, dict) else None
    levels = [r.get("level") for r in rules or [] if isinstance(r, dict)]
    ok = bool(levels) and levels[-1] == hard.audit_policy_level
    msg = f"rule levels {levels}" + ("" if ok else f", expected a final catch-all at {hard.audit_policy_level}")
    return [finding(hard, f"{blade}:{AUDIT_POLICY}", ok, msg)]
