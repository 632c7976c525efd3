"""Blade files against the site: k3s config, Pod Security admission config, audit policy (pure).

The inputs are file contents (``None`` when the file is absent); callers read them through a
:class:`~pytest_zengarden.facts.host.HostView`.  Each file is judged as its program reads it: the k3s
config the way k3s folds its keys (a repeated key replaces the earlier one, ``key+:`` appends), the audit
policy first-match in rule order, and a key written twice is reported with both lines, never silently
resolved.

Not read: k3s also merges ``/etc/rancher/k3s/config.yaml.d/*.yaml`` drop-ins after ``config.yaml``
(alphabetically, with the same replace/append rules) and command-line flags in the systemd unit; the
checks judge ``config.yaml`` alone, so a drop-in that overrides a judged key is not seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..facts.host import AUDIT_POLICY, K3S_CONFIG, PSA_CONFIG
from ..facts.yaml_text import YamlDoc, YamlTextError, parse
from ..site.schema import Role, Site, Traced
from .findings import Finding, finding

# Where the homelab's playbook has the API server write its audit log (suggested when it is missing).
AUDIT_LOG = "/var/lib/rancher/k3s/server/logs/audit.log"

# k3s' own defaults for the keys the checks judge (k3s server --help): an unset key means these.
K3S_DEFAULTS: dict[str, Any] = {
    "cluster-cidr": "10.42.0.0/16",
    "service-cidr": "10.43.0.0/16",
    "flannel-backend": "vxlan",
    "disable-network-policy": False,
    "secrets-encryption": False,
}


# ----------------------------------------------------------------------------------------- reading
def _parse_file(text: str | None, path: str, blade: str, statement: Traced) -> tuple[YamlDoc | None, list[Finding]]:
    """The parsed file, or the finding that says why there is nothing to judge."""
    subject = f"{blade}:{path}"
    if text is None:
        return None, [finding(statement, subject, False, "file is missing")]
    try:
        return parse(text), []
    except YamlTextError as exc:
        where = f" at line {exc.line}" if exc.line else ""
        return None, [finding(statement, subject, False, f"not valid YAML{where} ({exc.problem}); fix the file")]


def _repeated_findings(doc: YamlDoc, path: str, blade: str, statement: Traced) -> list[Finding]:
    """Keys written twice in one mapping: Kubernetes' decoder keeps one of the values and drops the other."""
    return [
        finding(
            statement,
            f"{blade}:{path} {r.path}",
            False,
            f"written {len(r.lines)} times (lines {_and(r.lines)}); only line {r.lines[-1]} is read, "
            f"the rest are dropped: keep one {r.key}",
        )
        for r in doc.repeated
    ]


def _and(items: Any) -> str:
    words = [str(i) for i in items]
    if not words:
        return "nothing"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    return [text] if text else []


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class Replaced:
    """A top-level k3s key written again without ``+``: k3s drops the value on ``line``."""

    key: str
    line: int
    by_line: int
    value: Any


@dataclass
class K3sConfig:
    """``config.yaml`` as k3s reads it: ``values`` after k3s' folding; ``replaced`` what the folding dropped."""

    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)
    replaced: list[Replaced] = field(default_factory=list)

    def get(self, key: str) -> Any:
        """The value k3s uses for ``key`` (``None`` when unset)."""
        return self.values.get(key)


def read_k3s_config(text: str) -> K3sConfig:
    """Fold ``config.yaml`` the way k3s does (``pkg/configfilearg``): keys in file order, a repeated key
    replaces the earlier value, ``key+:`` appends to it.  Raise ``ValueError`` if it is not a YAML mapping."""
    doc = parse(text)
    if doc.entries is None:
        raise ValueError("is not a YAML mapping of k3s settings")
    cfg = K3sConfig()
    for e in doc.entries:
        append = e.key.endswith("+")
        key = e.key[:-1] if append else e.key
        if key in cfg.values and append:
            cfg.values[key] = _as_list(cfg.values[key]) + _as_list(e.value)
            cfg.lines[key].append(e.line)
            continue
        if key in cfg.values and cfg.values[key] != e.value:
            cfg.replaced += [Replaced(key, line, e.line, cfg.values[key]) for line in cfg.lines[key]]
        cfg.values[key], cfg.lines[key] = e.value, [e.line]
    return cfg


def apiserver_args(cfg: K3sConfig) -> dict[str, str]:
    """``kube-apiserver-arg`` as flag -> value (a flag given twice: the last one, as k3s passes them)."""
    args: dict[str, str] = {}
    for a in _as_list(cfg.get("kube-apiserver-arg")):
        k, _, v = a.removeprefix("--").partition("=")
        args[k] = v
    return args


def admission_config_path(k3s_text: str | None) -> str | None:
    """The admission configuration file a server's k3s config gives its API server (``None``: none)."""
    if k3s_text is None:
        return None
    return apiserver_args(read_k3s_config(k3s_text)).get("admission-control-config-file") or None


def podsecurity_configuration(doc: Any) -> dict[str, Any] | None:
    """The PodSecurity plugin's configuration in an AdmissionConfiguration (``None``: the plugin is not listed).

    A configuration kept in another file (``path:``) is not read: that raises ``ValueError``.
    """
    plugins = doc.get("plugins") if isinstance(doc, dict) else None
    ps = next((p for p in plugins or [] if isinstance(p, dict) and p.get("name") == "PodSecurity"), None)
    if ps is None:
        return None
    if ps.get("configuration") is None and ps.get("path"):
        raise ValueError(f"the PodSecurity configuration is in {ps['path']}, which the checks do not read")
    conf = ps.get("configuration")
    return conf if isinstance(conf, dict) else {}


# -------------------------------------------------------------------------------------- k3s config
def k3s_config(site: Site, blade: str, text: str | None) -> list[Finding]:
    """``/etc/rancher/k3s/config.yaml`` of ``blade`` renders the site (server or agent settings)."""
    b = site.blades[blade]
    subject = f"{blade}:{K3S_CONFIG}"
    # The file as a whole is the blade's: without it k3s does not run the role the site gives the blade.
    _, problems = _parse_file(text, K3S_CONFIG, blade, b)
    if problems:
        return problems
    assert text is not None
    try:
        cfg = read_k3s_config(text)
    except ValueError as exc:
        return [finding(b, subject, False, f"{exc}; write key: value settings")]
    c = site.cluster
    out: list[Finding] = []

    def judge(statement: Traced, key: str, ok: bool, there: str, change: str) -> None:
        out.append(finding(statement, f"{blade} {key}", ok, there if ok else f"{there}; {change}"))

    def there(key: str) -> str:
        """What k3s uses for ``key``: the written value, or its default when unset."""
        have = cfg.get(key)
        if have is not None:
            return _show(have)
        if key in K3S_DEFAULTS:
            return f"not set, so k3s uses {_show(K3S_DEFAULTS[key])}"
        return "not set"

    def effective(key: str) -> Any:
        have = cfg.get(key)
        return K3S_DEFAULTS.get(key) if have is None else have

    statements: dict[str, Traced] = {"node-ip": b, "node-external-ip": b, "kubelet-arg": b, "server": c}

    # Every address the config states for the node must be the blade's (and at least one must be stated).
    stated = [str(cfg.get(k)) for k in ("node-ip", "node-external-ip") if cfg.get(k) is not None]
    stated += [a.split("=", 1)[1] for a in _as_list(cfg.get("kubelet-arg")) if a.startswith("node-ip=")]
    node_ips = sorted({ip.strip() for value in stated for ip in value.split(",") if ip.strip()})
    want_ip = str(b.address)
    judge(
        b,
        "node-ip",
        node_ips == [want_ip],
        ", ".join(node_ips) if node_ips else "no node-ip, node-external-ip or kubelet-arg node-ip= is set",
        f"set node-external-ip: {want_ip} and kubelet-arg node-ip={want_ip} (the blade's address)",
    )

    if Role.CONTROL_PLANE not in b.roles:
        first = f"https://{site.blades[c.control_plane[0]].address}:{c.api_port}"
        servers = [f"https://{site.blades[s].address}:{c.api_port}" for s in c.control_plane]
        servers.append(f"https://{c.api_endpoint}:{c.api_port}")
        have = cfg.get("server")
        judge(
            c,
            "server",
            have in servers,
            "not set, so k3s would start this agent as a server" if have is None else f"{have}",
            f"set server: {first} (or another of {_and(servers[1:])})",
        )
        return _replaced_findings(cfg, blade, statements, b) + out

    pods, svcs = site.segments[c.pod_network], site.segments[c.service_network]
    hard = c.apiserver
    statements |= {
        "cluster-cidr": pods,
        "service-cidr": svcs,
        "flannel-backend": c.cni,
        "disable-network-policy": c.cni,
        "secrets-encryption": hard,
        "tls-san": c,
        "kube-apiserver-arg": hard,
    }
    for key, seg in (("cluster-cidr", pods), ("service-cidr", svcs)):
        judge(seg, key, str(effective(key)) == str(seg.cidr), there(key), f"set {key}: {seg.cidr}")
    if c.cni.name != "flannel":
        judge(
            c.cni,
            "flannel-backend",
            effective("flannel-backend") == "none",
            there("flannel-backend"),
            f"set flannel-backend: none ({c.cni.name} is the CNI)",
        )
        judge(
            c.cni,
            "disable-network-policy",
            _truthy(effective("disable-network-policy")),
            there("disable-network-policy"),
            f"set disable-network-policy: true ({c.cni.name} enforces network policies)",
        )
    want_enc = hard.secrets_encryption
    judge(
        hard,
        "secrets-encryption",
        _truthy(effective("secrets-encryption")) == want_enc,
        (
            "not set, so k3s stores secrets unencrypted"
            if want_enc and cfg.get("secrets-encryption") is None
            else there("secrets-encryption") + (", so secrets are stored unencrypted" if want_enc else "")
        ),
        f"set secrets-encryption: {_show(want_enc)}",
    )
    sans = _as_list(cfg.get("tls-san"))
    judge(
        c,
        "tls-san",
        c.api_endpoint in sans,
        f"includes {c.api_endpoint}" if c.api_endpoint in sans else f"{_show(sans) if sans else 'not set'}",
        f"add {c.api_endpoint} (the API endpoint) to tls-san",
    )

    args = apiserver_args(cfg)
    # flag -> (wanted value or None for any, what its absence means)
    wanted: dict[str, tuple[str | None, str]] = {
        "admission-control-config-file": (
            PSA_CONFIG,
            "the API server applies Kubernetes' built-in Pod Security default (privileged)",
        ),
    }
    if hard.audit_log:
        wanted["audit-policy-file"] = (AUDIT_POLICY, "the API server writes no audit log")
        wanted["audit-log-path"] = (None, "the API server writes no audit log")
    if hard.oidc_issuer:
        wanted["oidc-issuer-url"] = (hard.oidc_issuer, "the API server accepts no OIDC tokens")
        wanted["oidc-username-claim"] = (hard.oidc_username_claim, "usernames come from the 'sub' claim")
    for flag, (want, absent) in wanted.items():
        have = args.get(flag)
        statement = c.pod_security if flag == "admission-control-config-file" else hard
        suggest = f"{flag}={want if want is not None else AUDIT_LOG}"
        if have is None:
            judge(
                statement,
                f"kube-apiserver-arg {flag}",
                False,
                f"not set, so {absent}{_lost(cfg, flag)}",
                f"add {suggest} to kube-apiserver-arg",
            )
        else:
            ok = bool(have) and (want is None or have == want)
            judge(statement, f"kube-apiserver-arg {flag}", ok, have or "empty", f"set {suggest}")
    plugins = [p for p in args.get("enable-admission-plugins", "").split(",") if p]
    missing = [p for p in hard.admission_plugins if p not in plugins]
    judge(
        hard,
        "kube-apiserver-arg enable-admission-plugins",
        not missing,
        (", ".join(plugins) if plugins else "none enabled beyond Kubernetes' defaults")
        + (f"{_lost(cfg, 'enable-admission-plugins')}" if "enable-admission-plugins" not in args else ""),
        f"add {_and(missing)} to enable-admission-plugins=",
    )
    return _replaced_findings(cfg, blade, statements, b) + out


def _lost(cfg: K3sConfig, flag: str) -> str:
    """Why a kube-apiserver-arg flag is absent when a replaced ``kube-apiserver-arg`` list had it."""
    for r in cfg.replaced:
        if r.key == "kube-apiserver-arg" and any(a.partition("=")[0] == flag for a in _as_list(r.value)):
            return f" (line {r.line} sets it, but k3s drops that list for the kube-apiserver-arg on line {r.by_line})"
    return ""


def _replaced_findings(cfg: K3sConfig, blade: str, statements: dict[str, Traced], default: Traced) -> list[Finding]:
    """A key k3s reads twice keeps only its last value: report it with both lines (values never shown:
    a config may hold tokens; list entries are named by their flag)."""
    out = []
    for r in cfg.replaced:
        entries = _as_list(r.value) if isinstance(r.value, list) else []
        lost = f" and its {len(entries)} entries ({_and(e.partition('=')[0] for e in entries)})" if entries else ""
        out.append(
            finding(
                statements.get(r.key, default),
                f"{blade} {r.key}",
                False,
                f"written on lines {r.line} and {r.by_line}; k3s keeps line {r.by_line} and drops line {r.line}"
                f"{lost}: merge them into one {r.key} (or write the second as {r.key}+: to append)",
            )
        )
    return out


# ------------------------------------------------------------------------------ admission (Pod Security)
def psa_admission(site: Site, blade: str, text: str | None, path: str = PSA_CONFIG) -> list[Finding]:
    """The PodSecurity AdmissionConfiguration on a server (at ``path``) sets the site's defaults and exemptions."""
    psa = site.cluster.pod_security
    doc, problems = _parse_file(text, path, blade, psa)
    if doc is None:
        return problems
    subject = f"{blade}:{path}"
    conf = podsecurity_configuration(doc.data)
    if conf is None:
        return [
            finding(
                psa,
                subject,
                False,
                "no PodSecurity plugin configured, so Kubernetes' built-in default (privileged) applies; "
                "add a PodSecurity plugin entry with the site's defaults",
            )
        ]
    out = _repeated_findings(doc, path, blade, psa)
    defaults = conf.get("defaults") or {}
    for mode in ("enforce", "audit", "warn"):
        want, have = getattr(psa, mode), defaults.get(mode)
        there = "not set, so Kubernetes uses privileged" if have is None else str(have)
        out.append(
            finding(
                psa,
                f"{subject} defaults.{mode}",
                have == want,
                there if have == want else f"{there}; set defaults.{mode}: {want}",
            )
        )
    # Every exemption bypasses Pod Security entirely: only the site's, of each kind.
    exemptions = conf.get("exemptions") or {}
    for key, want_list in (
        ("namespaces", psa.exemptions.namespaces),
        ("usernames", psa.exemptions.usernames),
        ("runtimeClasses", psa.exemptions.runtime_classes),
    ):
        have = sorted(str(x) for x in exemptions.get(key) or [])
        want = sorted(want_list)
        extra, absent = [n for n in have if n not in want], [n for n in want if n not in have]
        if key != "namespaces" and not have and not want:
            continue  # neither the site nor the file exempts any: nothing to say
        change = "; ".join(
            part
            for part in (
                f"remove {_and(extra)} (not exempt by design)" if extra else "",
                f"add {_and(absent)}" if absent else "",
            )
            if part
        )
        out.append(
            finding(
                psa,
                f"{subject} exemptions.{key}",
                not extra and not absent,
                (_and(have) if have else "none") + (f"; {change}" if change else ""),
            )
        )
    return out


# ----------------------------------------------------------------------------------------- audit policy
AUDIT_LEVELS = ("None", "Metadata", "Request", "RequestResponse")
READS = ("get", "list", "watch")


@dataclass(frozen=True)
class AuditRequest:
    """A request the audit log must record, as the API server's policy checker sees it.

    ``path`` is set for non-resource requests; ``namespace`` is ``""`` for cluster-scoped ones (and for a
    Namespace object it is the namespace's own name, as the API server's request info gives it).
    """

    label: str
    user: str
    groups: tuple[str, ...]
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


_HUMAN = ("alice@zengarden.space", ("system:authenticated",))
_DEPLOYER = (
    "system:serviceaccount:ci:deployer",
    ("system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"),
)

# What the audit trail is for: who read secrets, who started workloads or a shell in them, who weakened a
# namespace or granted rights, and a non-resource endpoint that is not a health probe (dropping health
# probes is common and harmless; dropping every non-resource URL is not).
AUDITED_REQUESTS: tuple[AuditRequest, ...] = (
    AuditRequest("get secret apps/db-credentials", *_HUMAN, "get", "", "secrets", "", "apps", "db-credentials"),
    AuditRequest("list secrets in all namespaces", *_DEPLOYER, "list", "", "secrets"),
    AuditRequest("create pod in apps", *_DEPLOYER, "create", "", "pods", "", "apps"),
    AuditRequest("exec into pod apps/web", *_HUMAN, "create", "", "pods", "exec", "apps", "web"),
    AuditRequest("patch namespace apps", *_HUMAN, "patch", "", "namespaces", "", "apps", "apps"),
    AuditRequest("create clusterrolebinding", *_HUMAN, "create", "rbac.authorization.k8s.io", "clusterrolebindings"),
    AuditRequest("delete deployment apps/web", *_DEPLOYER, "delete", "apps", "deployments", "", "apps", "web"),
    AuditRequest("get /debug/pprof/profile", *_HUMAN, "get", path="/debug/pprof/profile"),
)


def _strings(rule: dict[str, Any], key: str) -> list[str]:
    value = rule.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


def _path_matches(path: str, spec: str) -> bool:
    return spec == "*" or spec == path or (spec.endswith("*") and path.startswith(spec.rstrip("*")))


def _resource_matches(rule: dict[str, Any], req: AuditRequest) -> bool:
    if req.path:
        return False
    namespaces = _strings(rule, "namespaces")
    if namespaces and req.namespace not in namespaces:
        return False
    kinds = rule.get("resources")
    if not kinds:
        return True
    combined = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
    for gr in kinds if isinstance(kinds, list) else []:
        if not isinstance(gr, dict) or str(gr.get("group") or "") != req.group:
            continue
        resources = _strings(gr, "resources")
        if not resources:
            return True
        names = _strings(gr, "resourceNames")
        if names and req.name not in names:
            continue
        for res in resources:
            if res in (combined, "*"):
                return True
            if req.subresource and res.startswith("*/") and res[2:] == req.subresource:
                return True
            if res.endswith("/*") and res[:-2] == req.resource:
                return True
    return False


def rule_matches(rule: dict[str, Any], req: AuditRequest) -> bool:
    """Whether an audit policy rule matches ``req``: k8s.io/apiserver ``pkg/audit/policy/checker.go``."""
    users, groups, verbs = _strings(rule, "users"), _strings(rule, "userGroups"), _strings(rule, "verbs")
    if users and req.user not in users:
        return False
    if groups and not set(groups) & set(req.groups):
        return False
    if verbs and req.verb not in verbs:
        return False
    if _strings(rule, "namespaces") or rule.get("resources"):
        return _resource_matches(rule, req)
    urls = _strings(rule, "nonResourceURLs")
    if urls:
        return bool(req.path) and any(_path_matches(req.path, u) for u in urls)
    return True


def audit_policy(site: Site, blade: str, text: str | None) -> list[Finding]:
    """The audit policy on a server logs what the audit trail needs at the site's level (first match wins)."""
    hard = site.cluster.apiserver
    subject = f"{blade}:{AUDIT_POLICY}"
    if not hard.audit_log:
        return [finding(hard, subject, True, "audit logging not required by the site")]
    doc, problems = _parse_file(text, AUDIT_POLICY, blade, hard)
    if doc is None:
        return problems
    out = _repeated_findings(doc, AUDIT_POLICY, blade, hard)
    data = doc.data
    if (
        not isinstance(data, dict)
        or data.get("kind") != "Policy"
        or not str(data.get("apiVersion", "")).startswith("audit.k8s.io/")
    ):
        return [
            *out,
            finding(hard, subject, False, "not an audit.k8s.io Policy, so the API server refuses to start with it"),
        ]
    raw_rules = data.get("rules")
    rules = raw_rules if isinstance(raw_rules, list) else []
    broken = [
        f"rules[{i}] {_level_of(r)}, not one of {', '.join(AUDIT_LEVELS)}"
        for i, r in enumerate(rules)
        if not isinstance(r, dict) or r.get("level") not in AUDIT_LEVELS
    ]
    if broken:
        return [*out, finding(hard, subject, False, "; ".join(broken) + ": the API server refuses this policy")]
    policy_omits = set(_strings(data, "omitStages"))
    lines = _rule_lines(doc)
    want = hard.audit_policy_level
    under: list[str] = []
    for req in AUDITED_REQUESTS:
        i = next((i for i, r in enumerate(rules) if rule_matches(r, req)), None)
        level = "None" if i is None else str(rules[i]["level"])
        omits = policy_omits | (set(_strings(rules[i], "omitStages")) if i is not None else set())
        decided = "no rule matches (Kubernetes then logs nothing)" if i is None else f"rules[{i}]{lines.get(i, '')}"
        # Secrets: a level that records their bodies writes secret values into the log.
        leaks = req.resource == "secrets" and _rank(level) >= _rank(
            "RequestResponse" if req.verb in READS else "Request"
        )
        need = "Metadata" if req.resource == "secrets" and _rank(want) > _rank("Metadata") else want
        if _rank(level) < _rank(need):
            under.append(f"{req.label}: {level} by {decided}")
        elif leaks:
            under.append(f"{req.label}: {level} by {decided}, which writes secret values into the log")
        elif _rank(level) > 0 and "ResponseComplete" in omits:
            under.append(f"{req.label}: {decided} omits stage ResponseComplete, so the outcome is never logged")
    if under:
        msg = (
            f"{'; '.join(under)}; expected at least {want}: narrow, reorder or change those rules"
            " (the API server uses the first rule that matches)"
        )
        return [*out, finding(hard, subject, False, msg)]
    return [
        *out,
        finding(hard, subject, True, f"logs {len(AUDITED_REQUESTS)} audited kinds of request at {want} or more"),
    ]


def _level_of(rule: Any) -> str:
    if not isinstance(rule, dict):
        return "is not a mapping"
    return "has no level" if rule.get("level") is None else f"has level {rule['level']}"


def _rank(level: str) -> int:
    return AUDIT_LEVELS.index(level)


def _rule_lines(doc: YamlDoc) -> dict[int, str]:
    """`` (line N)`` for each rule index (the last ``rules`` key is the one read)."""
    rules = [e for e in doc.entries or [] if e.key == "rules"]
    return {i: f" (line {line})" for i, line in enumerate(rules[-1].item_lines)} if rules else {}
