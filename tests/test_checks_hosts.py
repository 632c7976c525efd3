"""Host-file evaluators (checks/hosts.py) and site self-checks (checks/site.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_zengarden.analysis.matrix import FlowMatrix
from pytest_zengarden.checks import hosts
from pytest_zengarden.checks import site as site_checks
from pytest_zengarden.checks.findings import Finding, failed
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Protocol, Site

ROOT = Path(__file__).resolve().parent.parent
SITE_FILE = ROOT / "fixtures" / "sites" / "zengarden.yaml"
RECORDED = ROOT / "fixtures" / "recorded" / "hosts"
SERVER_TEXT = (RECORDED / "blade001" / "etc" / "rancher" / "k3s" / "config.yaml").read_text(encoding="utf-8")
AGENT_TEXT = (RECORDED / "blade004" / "etc" / "rancher" / "k3s" / "config.yaml").read_text(encoding="utf-8")
PSA_TEXT = (RECORDED / "blade001" / "var" / "lib" / "rancher" / "k3s" / "server" / "psa.yaml").read_text(
    encoding="utf-8"
)
AUDIT_TEXT = (RECORDED / "blade001" / "var" / "lib" / "rancher" / "k3s" / "server" / "audit.yaml").read_text(
    encoding="utf-8"
)


@pytest.fixture(scope="session")
def site() -> Site:
    return load_site(SITE_FILE)


def server_config(**changes: Any) -> dict[str, Any]:
    """The recorded blade001 config as a dict; a change of ``None`` removes the key."""
    cfg = yaml.safe_load(SERVER_TEXT)
    for key, value in changes.items():
        key = key.replace("_", "-")
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def apiserver_args(drop: tuple[str, ...] = (), replace: dict[str, str] | None = None) -> list[str]:
    out = []
    for arg in yaml.safe_load(SERVER_TEXT)["kube-apiserver-arg"]:
        key = arg.partition("=")[0]
        if key in drop:
            continue
        if replace and key in replace:
            arg = f"{key}={replace[key]}"
        out.append(arg)
    return out


def by_key(findings: list[Finding], blade: str = "blade001") -> dict[str, Finding]:
    prefix = f"{blade} "
    assert all(f.subject.startswith(prefix) for f in findings)
    return {f.subject[len(prefix) :]: f for f in findings}


def only_failure(findings: list[Finding]) -> Finding:
    bad = failed(findings)
    assert len(bad) == 1, [str(f) for f in bad]
    return bad[0]


# ------------------------------------------------------------------------------------ k3s_config server
def test_recorded_server_config_passes_every_finding(site: Site) -> None:
    findings = hosts.k3s_config(site, "blade001", SERVER_TEXT)
    assert failed(findings) == []
    keys = by_key(findings)
    assert {
        "node-ip",
        "cluster-cidr",
        "service-cidr",
        "flannel-backend",
        "disable-network-policy",
        "secrets-encryption",
        "tls-san",
        "kube-apiserver-arg admission-control-config-file",
        "kube-apiserver-arg audit-policy-file",
        "kube-apiserver-arg audit-log-path",
        "kube-apiserver-arg oidc-issuer-url",
        "kube-apiserver-arg oidc-username-claim",
        "kube-apiserver-arg enable-admission-plugins",
    } == set(keys)
    assert keys["node-ip"].control == "HOST-BLADE001"
    assert keys["cluster-cidr"].control == "NET-SEG-PODS"
    assert keys["service-cidr"].control == "NET-SEG-SVC"
    assert keys["flannel-backend"].control == "K8S-CNI"
    assert keys["kube-apiserver-arg admission-control-config-file"].control == "K8S-PSA-RESTRICTED"
    assert keys["kube-apiserver-arg audit-policy-file"].control == "K8S-APISERVER-HARDENING"
    assert keys["cluster-cidr"].message == "10.42.0.0/16"


def test_recorded_blade003_lacks_secrets_encryption(site: Site) -> None:
    text = (RECORDED / "blade003" / "etc" / "rancher" / "k3s" / "config.yaml").read_text(encoding="utf-8")
    f = only_failure(hosts.k3s_config(site, "blade003", text))
    assert f.control == "K8S-APISERVER-HARDENING"
    assert f.subject == "blade003 secrets-encryption"
    # Says what is there and what to write, without repeating the key or printing None.
    assert f.message == "not set, so k3s stores secrets unencrypted; set secrets-encryption: true"


def test_server_config_string_true_flags_pass(site: Site) -> None:
    text = dump(server_config(secrets_encryption="true", disable_network_policy="True"))
    assert failed(hosts.k3s_config(site, "blade001", text)) == []


def test_server_wrong_cluster_cidr(site: Site) -> None:
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(cluster_cidr="10.52.0.0/16"))))
    assert f.control == "NET-SEG-PODS"
    assert f.subject == "blade001 cluster-cidr"
    assert f.message == "10.52.0.0/16; set cluster-cidr: 10.42.0.0/16"


def with_service_cidr(site: Site, cidr: str) -> Site:
    from ipaddress import IPv4Network

    seg = site.segments["services"].model_copy(update={"cidr": IPv4Network(cidr)})
    return site.model_copy(update={"segments": {**site.segments, "services": seg}})


def test_server_unset_cidrs_are_k3s_defaults(site: Site) -> None:
    """An unset key is k3s' default, not an absence: 10.43.0.0/16 is the site's, so it conforms."""
    text = dump(server_config(service_cidr=None, cluster_cidr=None))
    findings = by_key(hosts.k3s_config(site, "blade001", text))
    assert findings["service-cidr"].ok
    assert findings["service-cidr"].message == "not set, so k3s uses 10.43.0.0/16"
    other = with_service_cidr(site, "10.99.0.0/16")
    f = only_failure(hosts.k3s_config(other, "blade001", dump(server_config(service_cidr=None))))
    assert f.control == "NET-SEG-SVC"
    assert f.message == "not set, so k3s uses 10.43.0.0/16; set service-cidr: 10.99.0.0/16"


@pytest.mark.parametrize("value", [None, False, "false"])
def test_server_missing_secrets_encryption(site: Site, value: object) -> None:
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(secrets_encryption=value))))
    assert f.control == "K8S-APISERVER-HARDENING"
    assert f.subject == "blade001 secrets-encryption"
    assert f.message.endswith("secrets are stored unencrypted; set secrets-encryption: true") or (
        f.message == "not set, so k3s stores secrets unencrypted; set secrets-encryption: true"
    )


def test_server_flannel_left_on_with_cilium(site: Site) -> None:
    bad = failed(
        hosts.k3s_config(site, "blade001", dump(server_config(flannel_backend="vxlan", disable_network_policy=None)))
    )
    assert {f.subject for f in bad} == {"blade001 flannel-backend", "blade001 disable-network-policy"}
    assert {f.control for f in bad} == {"K8S-CNI"}
    assert {f.message for f in bad} == {
        "vxlan; set flannel-backend: none (cilium is the CNI)",
        "not set, so k3s uses false; set disable-network-policy: true (cilium enforces network policies)",
    }


def test_server_missing_audit_args(site: Site) -> None:
    args = apiserver_args(drop=("audit-policy-file", "audit-log-path"))
    bad = failed(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=args))))
    assert {f.subject: f.message for f in bad} == {
        "blade001 kube-apiserver-arg audit-policy-file": "not set, so the API server writes no audit log; "
        "add audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml to kube-apiserver-arg",
        # No placeholder ('<any>'): a path to write.
        "blade001 kube-apiserver-arg audit-log-path": "not set, so the API server writes no audit log; "
        "add audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log to kube-apiserver-arg",
    }
    assert {f.control for f in bad} == {"K8S-APISERVER-HARDENING"}


def test_server_audit_policy_at_another_path(site: Site) -> None:
    args = apiserver_args(replace={"audit-policy-file": "/etc/audit.yaml"})
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=args))))
    assert f.subject == "blade001 kube-apiserver-arg audit-policy-file"
    assert f.message == "/etc/audit.yaml; set audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml"


def test_server_missing_admission_config(site: Site) -> None:
    args = apiserver_args(drop=("admission-control-config-file",))
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=args))))
    assert f.control == "K8S-PSA-RESTRICTED"
    assert f.subject == "blade001 kube-apiserver-arg admission-control-config-file"
    assert "built-in Pod Security default (privileged)" in f.message


def test_server_wrong_oidc_issuer(site: Site) -> None:
    args = apiserver_args(replace={"oidc-issuer-url": "https://evil.example"})
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=args))))
    assert f.control == "K8S-APISERVER-HARDENING"
    assert f.message == "https://evil.example; set oidc-issuer-url=https://accounts.google.com"


@pytest.mark.parametrize("plugins", ["EventRateLimit", "", "NodeRestrictions,EventRateLimit"])
def test_server_missing_node_restriction(site: Site, plugins: str) -> None:
    args = apiserver_args(replace={"enable-admission-plugins": plugins})
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=args))))
    assert f.control == "K8S-APISERVER-HARDENING"
    assert f.subject == "blade001 kube-apiserver-arg enable-admission-plugins"
    assert f.message.endswith("; add NodeRestriction to enable-admission-plugins=")


def test_server_no_apiserver_args_at_all(site: Site) -> None:
    bad = failed(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=None))))
    assert len(bad) == 6
    assert all(f.subject.startswith("blade001 kube-apiserver-arg ") for f in bad)


def test_server_tls_san_without_api_endpoint(site: Site) -> None:
    sans = [s for s in yaml.safe_load(SERVER_TEXT)["tls-san"] if s != "kubernetes.homelab.int.zengarden.space"]
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(tls_san=sans))))
    assert f.subject == "blade001 tls-san"
    assert f.message.endswith("; add kubernetes.homelab.int.zengarden.space (the API endpoint) to tls-san")


def test_server_wrong_node_ip(site: Site) -> None:
    cfg = server_config(node_external_ip="192.168.77.99")
    cfg["kubelet-arg"] = [a for a in cfg["kubelet-arg"] if not a.startswith("node-ip=")] + ["node-ip=192.168.77.99"]
    f = only_failure(hosts.k3s_config(site, "blade001", dump(cfg)))
    assert f.control == "HOST-BLADE001"
    assert f.subject == "blade001 node-ip"
    assert f.message == (
        "192.168.77.99; set node-external-ip: 192.168.77.170 and kubelet-arg node-ip=192.168.77.170"
        " (the blade's address)"
    )


def test_server_config_of_another_blade(site: Site) -> None:
    f = only_failure(hosts.k3s_config(site, "blade002", SERVER_TEXT))
    assert f.control == "HOST-BLADE002"
    assert f.message.startswith("192.168.77.170; set node-external-ip: 192.168.77.171")


def test_server_node_ip_key_alone_is_enough(site: Site) -> None:
    cfg = server_config(node_external_ip=None, node_ip="192.168.77.170")
    cfg["kubelet-arg"] = [a for a in cfg["kubelet-arg"] if not a.startswith("node-ip=")]
    assert failed(hosts.k3s_config(site, "blade001", dump(cfg))) == []


def test_messages_neither_repeat_their_key_nor_print_placeholders(site: Site) -> None:
    """Issue 9 (6): ``secrets-encryption: None, expected True`` and ``expected '<any>'`` are gone."""
    findings = hosts.k3s_config(site, "blade001", dump({"data-dir": "/var/lib/rancher/k3s"}))
    assert len(findings) == 13
    assert len(failed(findings)) >= 11  # unset CIDRs are k3s' defaults, which are the site's
    for f in failed(findings):
        key = f.subject.split(" ", 1)[1].removeprefix("kube-apiserver-arg ")
        assert not f.message.startswith(key), str(f)
        for placeholder in ("<any>", "None", "''", "[]"):
            assert placeholder not in f.message, str(f)
        assert "; " in f.message, f"{f} says nothing about what to change"


# --------------------------------------------------------------------------- k3s_config repeated keys
def line_of(text: str, prefix: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(prefix))


def test_repeated_kube_apiserver_arg_reports_both_lines_and_what_it_drops(site: Site) -> None:
    """Issue 9 (5): k3s (like YAML) keeps the last ``kube-apiserver-arg:``; the first list's flags vanish."""
    text = SERVER_TEXT + "kube-apiserver-arg:\n  - enable-admission-plugins=NodeRestriction\n"
    first, second = line_of(text, "kube-apiserver-arg:"), len(text.splitlines()) - 1
    findings = hosts.k3s_config(site, "blade001", text)
    by = {f.subject: f for f in failed(findings)}
    repeat = by.pop("blade001 kube-apiserver-arg")
    assert repeat.control == "K8S-APISERVER-HARDENING"
    assert f"written on lines {first} and {second}; k3s keeps line {second} and drops line {first}" in repeat.message
    assert "admission-control-config-file" in repeat.message and "audit-policy-file" in repeat.message
    assert "kube-apiserver-arg+:" in repeat.message
    dropped = by["blade001 kube-apiserver-arg admission-control-config-file"]
    assert f"(line {first} sets it, but k3s drops that list for the kube-apiserver-arg on line {second})" in (
        dropped.message
    )
    assert set(by) == {
        "blade001 kube-apiserver-arg admission-control-config-file",
        "blade001 kube-apiserver-arg audit-policy-file",
        "blade001 kube-apiserver-arg audit-log-path",
        "blade001 kube-apiserver-arg oidc-issuer-url",
        "blade001 kube-apiserver-arg oidc-username-claim",
    }
    assert not any("None" in f.message for f in findings)


def test_appending_with_plus_is_how_k3s_extends_a_list(site: Site) -> None:
    cfg = server_config()
    args = cfg.pop("kube-apiserver-arg")
    text = dump(cfg) + dump({"kube-apiserver-arg": args[:3]}) + dump({"kube-apiserver-arg+": args[3:]})
    assert failed(hosts.k3s_config(site, "blade001", text)) == []
    # Written the other way round, the plain key replaces what was appended before it.
    text = dump(cfg) + dump({"kube-apiserver-arg+": args[:3]}) + dump({"kube-apiserver-arg": args[3:]})
    assert "blade001 kube-apiserver-arg" in {f.subject for f in failed(hosts.k3s_config(site, "blade001", text))}


def test_repeated_key_of_the_blade_never_shows_its_values(site: Site) -> None:
    text = AGENT_TEXT + "token: K10first-secret-value\ntoken: K10second-secret-value\n"
    f = only_failure(hosts.k3s_config(site, "blade004", text))
    assert f.subject == "blade004 token"
    assert f.control == "HOST-BLADE004"
    assert "secret-value" not in f.message
    n = len(text.splitlines())
    assert f"written on lines {n - 1} and {n}" in f.message


def test_repeated_key_with_the_same_value_changes_nothing(site: Site) -> None:
    assert failed(hosts.k3s_config(site, "blade001", SERVER_TEXT + "secrets-encryption: true\n")) == []


def test_repeated_key_in_the_admission_configuration(site: Site) -> None:
    text = PSA_TEXT.replace('enforce: "restricted"', 'enforce: "privileged"\n        enforce: "restricted"')
    bad = failed(hosts.psa_admission(site, "blade001", text))
    [f] = bad
    first = line_of(text, '        enforce: "privileged"')
    assert f.subject == f"blade001:{hosts.PSA_CONFIG} plugins[0].configuration.defaults.enforce"
    assert f.message.startswith(f"written 2 times (lines {first} and {first + 1}); only line {first + 1} is read")


def test_repeated_rules_in_the_audit_policy(site: Site) -> None:
    text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\nrules:\n- level: Metadata\n"
    bad = failed(hosts.audit_policy(site, "blade001", text))
    assert [f.subject for f in bad] == [f"blade001:{hosts.AUDIT_POLICY} rules"]
    assert "lines 3 and 5" in bad[0].message


# ------------------------------------------------------------------------------------- k3s_config agent
def test_recorded_agent_config_passes(site: Site) -> None:
    findings = hosts.k3s_config(site, "blade004", AGENT_TEXT)
    assert failed(findings) == []
    assert {f.subject for f in findings} == {"blade004 node-ip", "blade004 server"}


@pytest.mark.parametrize(
    "server",
    [
        "https://192.168.77.171:6443",
        "https://192.168.77.172:6443",
        "https://kubernetes.homelab.int.zengarden.space:6443",
    ],
)
def test_agent_may_join_any_control_plane_address(site: Site, server: str) -> None:
    cfg = yaml.safe_load(AGENT_TEXT) | {"server": server}
    assert failed(hosts.k3s_config(site, "blade004", dump(cfg))) == []


@pytest.mark.parametrize(
    "server",
    ["https://192.168.77.174:6443", "https://192.168.77.170:6444", "http://192.168.77.170:6443", None],
)
def test_agent_server_not_a_control_plane_address(site: Site, server: str | None) -> None:
    cfg = yaml.safe_load(AGENT_TEXT)
    cfg["server"] = server
    f = only_failure(hosts.k3s_config(site, "blade004", dump(cfg)))
    assert f.subject == "blade004 server"
    assert f.control == "K8S-VERSION"
    assert f.message.startswith(f"{server if server else 'not set, so k3s would start this agent as a server'}; ")
    assert "set server: https://192.168.77.170:6443 (or another of " in f.message


def test_agent_wrong_node_ip(site: Site) -> None:
    f = only_failure(hosts.k3s_config(site, "blade005", AGENT_TEXT))
    assert f.control == "HOST-BLADE005"
    assert f.subject == "blade005 node-ip"


def test_agent_is_not_judged_on_server_settings(site: Site) -> None:
    findings = hosts.k3s_config(site, "blade004", AGENT_TEXT)
    assert not any("secrets-encryption" in f.subject or "cidr" in f.subject for f in findings)


# ---------------------------------------------------------------------------------- unreadable inputs
@pytest.mark.parametrize(
    ("check", "path", "control"),
    [
        (hosts.k3s_config, hosts.K3S_CONFIG, "HOST-BLADE002"),
        (hosts.psa_admission, hosts.PSA_CONFIG, "K8S-PSA-RESTRICTED"),
        (hosts.audit_policy, hosts.AUDIT_POLICY, "K8S-APISERVER-HARDENING"),
    ],
)
def test_missing_file(site: Site, check: Any, path: str, control: str) -> None:
    [f] = check(site, "blade002", None)
    assert not f.ok
    assert f.control == control
    assert f.subject == f"blade002:{path}"
    assert f.message == "file is missing"


def test_missing_worker_config_is_the_blades_not_the_k8s_version(site: Site) -> None:
    """Issue 9 (6): a worker without config.yaml was filed under K8S-VERSION."""
    [f] = hosts.k3s_config(site, "blade004", None)
    assert f.control == "HOST-BLADE004"
    assert f.section == site.blades["blade004"].section


@pytest.mark.parametrize("check", [hosts.k3s_config, hosts.psa_admission, hosts.audit_policy])
def test_invalid_yaml(site: Site, check: Any) -> None:
    [f] = check(site, "blade001", "a: 1\nb: [unclosed\nc: 3\n")
    assert not f.ok
    assert f.message.startswith("not valid YAML at line 3 (")
    assert f.message.endswith("; fix the file")
    assert f.subject.startswith("blade001:/")


def test_invalid_yaml_names_the_line(site: Site) -> None:
    [f] = hosts.k3s_config(site, "blade001", 'cluster-cidr: 10.42.0.0/16\nnode-ip: "unterminated\n')
    assert not f.ok
    assert f.message.startswith("not valid YAML at line 3 (")


def test_a_character_yaml_refuses_is_reported_with_its_line(site: Site) -> None:
    [f] = hosts.k3s_config(site, "blade001", "cluster-cidr: 10.42.0.0/16\nnode-ip: 192.168.77.170\x00\n")
    assert f.message == (
        "not valid YAML at line 2 (unacceptable character (special characters are not allowed)); fix the file"
    )


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_k3s_config_not_a_mapping(site: Site, text: str) -> None:
    [f] = hosts.k3s_config(site, "blade001", text)
    assert not f.ok
    assert f.control == "HOST-BLADE001"
    assert f.message == "is not a YAML mapping of k3s settings; write key: value settings"


# --------------------------------------------------------------------------------------- psa_admission
def psa_doc() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(PSA_TEXT))


def podsecurity_conf(doc: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in doc["plugins"] if p["name"] == "PodSecurity")["configuration"]


def test_recorded_psa_admission_passes(site: Site) -> None:
    findings = hosts.psa_admission(site, "blade001", PSA_TEXT)
    assert len(findings) == 4
    assert failed(findings) == []
    assert {f.control for f in findings} == {"K8S-PSA-RESTRICTED"}
    assert {f.subject.rsplit(" ", 1)[1] for f in findings} == {
        "defaults.enforce",
        "defaults.audit",
        "defaults.warn",
        "exemptions.namespaces",
    }


def test_psa_exemption_order_does_not_matter(site: Site) -> None:
    doc = psa_doc()
    podsecurity_conf(doc)["exemptions"]["namespaces"] = ["gitea", "victoria-metrics", "metallb-system", "kube-system"]
    assert failed(hosts.psa_admission(site, "blade001", dump(doc))) == []


@pytest.mark.parametrize(
    ("namespaces", "message"),
    [
        (
            ["kube-system", "metallb-system", "victoria-metrics"],
            "kube-system, metallb-system and victoria-metrics; add gitea",
        ),
        (
            ["kube-system", "metallb-system", "victoria-metrics", "gitea", "apps-dev-legacy"],
            "apps-dev-legacy, gitea, kube-system, metallb-system and victoria-metrics; "
            "remove apps-dev-legacy (not exempt by design)",
        ),
        ([], "none; add gitea, kube-system, metallb-system and victoria-metrics"),
    ],
)
def test_psa_different_exemptions(site: Site, namespaces: list[str], message: str) -> None:
    doc = psa_doc()
    podsecurity_conf(doc)["exemptions"]["namespaces"] = namespaces
    f = only_failure(hosts.psa_admission(site, "blade001", dump(doc)))
    assert f.subject.endswith("exemptions.namespaces")
    assert f.message == message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("usernames", ["system:serviceaccount:apps:ci"], "system:serviceaccount:apps:ci; remove "
         "system:serviceaccount:apps:ci (not exempt by design)"),
        ("runtimeClasses", ["kata"], "kata; remove kata (not exempt by design)"),
    ],
)  # fmt: skip
def test_psa_exempted_users_and_runtime_classes_bypass_it(site: Site, key: str, value: list[str], message: str) -> None:
    doc = psa_doc()
    podsecurity_conf(doc)["exemptions"][key] = value
    f = only_failure(hosts.psa_admission(site, "blade001", dump(doc)))
    assert f.subject == f"blade001:{hosts.PSA_CONFIG} exemptions.{key}"
    assert f.message == message


@pytest.mark.parametrize(
    ("mode", "level", "there"),
    [
        ("enforce", "baseline", "baseline"),
        ("audit", "privileged", "privileged"),
        ("warn", None, "not set, so Kubernetes uses privileged"),
    ],
)
def test_psa_different_default_level(site: Site, mode: str, level: str | None, there: str) -> None:
    doc = psa_doc()
    podsecurity_conf(doc)["defaults"][mode] = level
    f = only_failure(hosts.psa_admission(site, "blade001", dump(doc)))
    assert f.subject == f"blade001:{hosts.PSA_CONFIG} defaults.{mode}"
    assert f.message == f"{there}; set defaults.{mode}: restricted"


@pytest.mark.parametrize(
    "doc",
    [
        {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration", "plugins": []},
        {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration"},
        {"plugins": [{"name": "EventRateLimit", "configuration": {}}]},
        ["not", "a", "mapping"],
    ],
)
def test_psa_no_podsecurity_plugin(site: Site, doc: Any) -> None:
    [f] = hosts.psa_admission(site, "blade001", dump(doc))
    assert not f.ok
    assert f.control == "K8S-PSA-RESTRICTED"
    assert f.message.startswith("no PodSecurity plugin configured, so Kubernetes' built-in default (privileged)")


def test_psa_configuration_in_another_file_is_not_guessed(site: Site) -> None:
    doc = {"plugins": [{"name": "PodSecurity", "path": "/etc/psa-config.yaml"}]}
    with pytest.raises(ValueError, match=r"/etc/psa-config\.yaml, which the checks do not read"):
        hosts.psa_admission(site, "blade001", dump(doc))


# ---------------------------------------------------------------------------------------- audit_policy
def policy(*rules: dict[str, Any], **top: Any) -> str:
    return dump({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", **top, "rules": list(rules)})


def audit(site: Site, text: str) -> Finding:
    [f] = hosts.audit_policy(site, "blade001", text)
    return f


def test_recorded_audit_policy_passes(site: Site) -> None:
    f = audit(site, AUDIT_TEXT)
    assert f.ok
    assert f.control == "K8S-APISERVER-HARDENING"
    assert f.message == f"logs {len(hosts.AUDITED_REQUESTS)} audited kinds of request at Metadata or more"


def test_the_projects_rendered_policy_passes(site: Site) -> None:
    """What provisioning and the lab write (desired/hosts.py) is judged conforming."""
    from pytest_zengarden.desired.hosts import server_files

    assert audit(site, server_files(site)[hosts.AUDIT_POLICY]).ok


def test_first_rule_none_for_everything_logs_nothing(site: Site) -> None:
    """Issue 9 (4): the first rule decides; a trailing catch-all at Metadata is never reached."""
    f = audit(site, policy({"level": "None"}, {"level": "Metadata"}))
    assert not f.ok
    for req in hosts.AUDITED_REQUESTS:
        assert f"{req.label}: None by rules[0] (line 4)" in f.message
    assert f.message.endswith(
        "; expected at least Metadata: narrow, reorder or change those rules (the API server uses the first rule"
        " that matches)"
    )


def test_dropping_only_secrets_fails_naming_the_rule(site: Site) -> None:
    text = policy(
        {"level": "Metadata", "users": ["system:kube-proxy"]},
        {"level": "None", "resources": [{"group": "", "resources": ["secrets"]}]},
        {"level": "Metadata"},
    )
    f = audit(site, text)
    assert not f.ok
    rule_line = line_of(text, "- level: None")
    assert f"get secret apps/db-credentials: None by rules[1] (line {rule_line})" in f.message
    assert f"list secrets in all namespaces: None by rules[1] (line {rule_line})" in f.message
    assert "pod" not in f.message and "namespace apps" not in f.message


@pytest.mark.parametrize(
    "rules",
    [
        # Noise reduction for system components does not touch what users and workloads do.
        [
            {
                "level": "None",
                "users": ["system:kube-proxy"],
                "verbs": ["watch"],
                "resources": [{"group": "", "resources": ["endpoints", "services"]}],
            },
            {
                "level": "None",
                "userGroups": ["system:nodes"],
                "verbs": ["get"],
                "resources": [{"group": "", "resources": ["nodes"]}],
            },
            {"level": "Metadata"},
        ],
        # Health probes dropped, as the GCE policy does.
        [{"level": "None", "nonResourceURLs": ["/healthz*", "/version", "/swagger*"]}, {"level": "Metadata"}],
        # First match: a later None is never reached.
        [{"level": "Metadata"}, {"level": "None"}],
        # Secrets at Metadata before the bodies of everything else are logged.
        [
            {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]}]},
            {"level": "RequestResponse"},
        ],
    ],
)
def test_policies_that_log_the_audited_requests_pass(site: Site, rules: list[dict[str, Any]]) -> None:
    assert audit(site, policy(*rules)).ok


def test_kubernetes_documentation_example_policy_passes(site: Site) -> None:
    doc = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "RequestResponse", "resources": [{"group": "", "resources": ["pods"]}]},
            {"level": "Metadata", "resources": [{"group": "", "resources": ["pods/log", "pods/status"]}]},
            {"level": "None",
             "resources": [{"group": "", "resources": ["configmaps"], "resourceNames": ["controller-leader"]}]},
            {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
             "resources": [{"group": "", "resources": ["endpoints", "services"]}]},
            {"level": "None", "userGroups": ["system:authenticated"], "nonResourceURLs": ["/api*", "/version"]},
            {"level": "Request", "resources": [{"group": "", "resources": ["configmaps"]}],
             "namespaces": ["kube-system"]},
            {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]}]},
            {"level": "Request", "resources": [{"group": ""}, {"group": "extensions"}]},
            {"level": "Metadata", "omitStages": ["RequestReceived"]},
        ],
    }  # fmt: skip
    assert audit(site, dump(doc)).ok


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        ([{"level": "None", "nonResourceURLs": ["*"]}, {"level": "Metadata"}], "get /debug/pprof/profile: None"),
        ([{"level": "None", "resources": [{"group": "", "resources": ["pods/*"]}]}, {"level": "Metadata"}], "exec"),
        ([{"level": "None", "namespaces": ["apps"]}, {"level": "Metadata"}], "patch namespace apps: None"),
        ([{"level": "None", "userGroups": ["system:serviceaccounts"]}, {"level": "Metadata"}], "create pod in apps"),
        (
            [{"level": "None", "resources": [{"group": "rbac.authorization.k8s.io"}]}, {"level": "Metadata"}],
            "create clusterrolebinding: None",
        ),
        ([], "no rule matches (Kubernetes then logs nothing)"),
    ],
)
def test_under_logged_requests_are_named(site: Site, rules: list[dict[str, Any]], named: str) -> None:
    f = audit(site, policy(*rules))
    assert not f.ok
    assert named in f.message


def test_secret_bodies_in_the_log_fail(site: Site) -> None:
    f = audit(site, policy({"level": "RequestResponse"}))
    assert not f.ok
    assert "get secret apps/db-credentials: RequestResponse by rules[0] (line 4), which writes secret values" in (
        f.message
    )
    assert "create pod" not in f.message


@pytest.mark.parametrize("where", ["rule", "policy"])
def test_omitting_response_complete_loses_the_outcome(site: Site, where: str) -> None:
    rule: dict[str, Any] = {"level": "Metadata"}
    top: dict[str, Any] = {}
    if where == "rule":
        rule["omitStages"] = ["ResponseComplete"]
    else:
        top["omitStages"] = ["RequestReceived", "ResponseComplete"]
    f = audit(site, policy(rule, **top))
    assert not f.ok
    assert "omits stage ResponseComplete, so the outcome is never logged" in f.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (dump({"rules": [{"level": "Metadata"}]}), "not an audit.k8s.io Policy"),
        (policy({"level": "Everything"}), "rules[0] has level Everything, not one of None, Metadata"),
        (policy({"verbs": ["get"]}), "rules[0] has no level, not one of"),
    ],
)
def test_a_policy_the_api_server_refuses(site: Site, text: str, message: str) -> None:
    f = audit(site, text)
    assert not f.ok
    assert message in f.message


@pytest.mark.parametrize(
    ("rule", "request_fields", "matches"),
    [
        ({"resources": [{"group": "", "resources": ["pods/*"]}]}, {"resource": "pods"}, True),
        ({"resources": [{"group": "", "resources": ["pods/*"]}]}, {"resource": "pods", "subresource": "exec"}, True),
        ({"resources": [{"group": "", "resources": ["*/exec"]}]}, {"resource": "pods", "subresource": "exec"}, True),
        ({"resources": [{"group": "", "resources": ["*/exec"]}]}, {"resource": "pods"}, False),
        ({"resources": [{"group": "", "resources": ["pods"]}]}, {"resource": "pods", "subresource": "exec"}, False),
        ({"resources": [{"group": "apps"}]}, {"resource": "pods"}, False),
        ({"resources": [{"group": "", "resources": ["secrets"], "resourceNames": ["a"]}]},
         {"resource": "secrets", "name": "b"}, False),
        ({"namespaces": [""]}, {"resource": "clusterrolebindings"}, True),
        ({"namespaces": [""]}, {"resource": "pods", "namespace": "apps"}, False),
        ({"nonResourceURLs": ["/debug/*"]}, {"path": "/debug/pprof/profile"}, True),
        ({"nonResourceURLs": ["/debug/*"]}, {"resource": "pods"}, False),
        ({"resources": [{"group": ""}]}, {"path": "/debug/pprof/profile"}, False),
        ({"users": ["bob"]}, {"resource": "pods"}, False),
        ({"verbs": ["get"]}, {"resource": "pods", "verb": "create"}, False),
    ],
)  # fmt: skip
def test_rule_matching_follows_the_api_server(
    rule: dict[str, Any], request_fields: dict[str, Any], matches: bool
) -> None:
    req = hosts.AuditRequest(
        **({"label": "r", "user": "alice", "groups": ("system:authenticated",), "verb": "get"} | request_fields)
    )
    assert hosts.rule_matches(rule, req) is matches


def test_audit_policy_not_required(site: Site) -> None:
    hard = site.cluster.apiserver.model_copy(update={"audit_log": False})
    no_audit = site.model_copy(update={"cluster": site.cluster.model_copy(update={"apiserver": hard})})
    [f] = hosts.audit_policy(no_audit, "blade001", None)
    assert f.ok
    assert "not required" in f.message
    findings = hosts.k3s_config(
        no_audit,
        "blade001",
        dump(server_config(kube_apiserver_arg=apiserver_args(drop=("audit-policy-file", "audit-log-path")))),
    )
    assert failed(findings) == []


# ------------------------------------------------------------------------------------ checks/site.py
def with_etcd(site: Site, **update: Any) -> Site:
    etcd = site.cluster.etcd.model_copy(update=update)
    return site.model_copy(update={"cluster": site.cluster.model_copy(update={"etcd": etcd})})


def test_etcd_quorum_ok(site: Site) -> None:
    f = site_checks.etcd_quorum(site)
    assert f.ok
    assert f.control == "K8S-ETCD-QUORUM"
    assert f.message == "3 members, quorum 2, tolerates 1 failure(s)"


def test_etcd_quorum_even_member_count(site: Site) -> None:
    f = site_checks.etcd_quorum(with_etcd(site, members=["blade001", "blade002", "blade003", "blade004"], quorum=3))
    assert not f.ok
    assert f.control == "K8S-ETCD-QUORUM"
    assert f.message.startswith("4 members, quorum 3")


@pytest.mark.parametrize("quorum", [1, 3])
def test_etcd_quorum_not_majority(site: Site, quorum: int) -> None:
    f = site_checks.etcd_quorum(with_etcd(site, quorum=quorum))
    assert not f.ok
    assert f"3 members, quorum {quorum}" in f.message


def test_etcd_single_member(site: Site) -> None:
    assert site_checks.etcd_quorum(with_etcd(site, members=["blade001"], quorum=1)).ok


def test_matrix_total_for_the_site(site: Site) -> None:
    findings = site_checks.matrix_total(site)
    n = len(site.segments)
    assert len(findings) == n * (n - 1) * 3
    assert failed(findings) == []
    assert {f.control for f in findings} == {"FW-DEFAULT-DENY"}


def test_matrix_total_port_gap(site: Site) -> None:
    matrix = site_checks.flow_matrix(site)
    rows = matrix.rows_for("home", "cluster", Protocol.TCP)
    gone = next(r for r in rows if r.ports is not None and r.ports.lo == 80)
    assert gone.ports is not None
    broken = FlowMatrix(matrix.segments, [r for r in matrix.rows if r is not gone])
    bad = failed(site_checks.matrix_total(site, broken))
    assert [f.subject for f in bad] == ["home->cluster:tcp"]
    assert bad[0].control == "FW-DEFAULT-DENY"
    assert f"ports {gone.ports.lo}..{gone.ports.hi} missing" in bad[0].message


def test_matrix_total_missing_tail(site: Site) -> None:
    matrix = site_checks.flow_matrix(site)
    last = matrix.rows_for("home", "cluster", Protocol.UDP)[-1]
    assert last.ports is not None and last.ports.hi == 65535
    broken = FlowMatrix(matrix.segments, [r for r in matrix.rows if r is not last])
    [f] = failed(site_checks.matrix_total(site, broken))
    assert f.subject == "home->cluster:udp"
    assert f"ports {last.ports.lo}..65535 missing" in f.message


def test_matrix_total_overlap(site: Site) -> None:
    matrix = site_checks.flow_matrix(site)
    dup = matrix.rows_for("home", "cluster", Protocol.TCP)[0]
    broken = FlowMatrix(matrix.segments, [*matrix.rows, dup])
    [f] = failed(site_checks.matrix_total(site, broken))
    assert "overlap" in f.message


def test_matrix_total_missing_icmp_verdict(site: Site) -> None:
    matrix = site_checks.flow_matrix(site)
    gone = matrix.rows_for("wireguard", "home", Protocol.ICMP)[0]
    broken = FlowMatrix(matrix.segments, [r for r in matrix.rows if r is not gone])
    [f] = failed(site_checks.matrix_total(site, broken))
    assert f.subject == "wireguard->home:icmp"
    assert f.message == "0 verdict(s)"
