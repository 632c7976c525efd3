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
from pytest_zengarden.site import Site, load_site
from pytest_zengarden.site.schema import Protocol

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


def test_recorded_blade003_lacks_secrets_encryption(site: Site) -> None:
    text = (RECORDED / "blade003" / "etc" / "rancher" / "k3s" / "config.yaml").read_text(encoding="utf-8")
    f = only_failure(hosts.k3s_config(site, "blade003", text))
    assert f.control == "K8S-APISERVER-HARDENING"
    assert f.subject == "blade003 secrets-encryption"


def test_server_config_string_true_flags_pass(site: Site) -> None:
    text = dump(server_config(secrets_encryption="true", disable_network_policy="True"))
    assert failed(hosts.k3s_config(site, "blade001", text)) == []


def test_server_wrong_cluster_cidr(site: Site) -> None:
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(cluster_cidr="10.52.0.0/16"))))
    assert f.control == "NET-SEG-PODS"
    assert f.subject == "blade001 cluster-cidr"
    assert f.message == "cluster-cidr: '10.52.0.0/16', expected '10.42.0.0/16'"


def test_server_missing_service_cidr(site: Site) -> None:
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(service_cidr=None))))
    assert f.control == "NET-SEG-SVC"
    assert "service-cidr: None, expected '10.43.0.0/16'" in f.message


@pytest.mark.parametrize("value", [None, False, "false"])
def test_server_missing_secrets_encryption(site: Site, value: object) -> None:
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(secrets_encryption=value))))
    assert f.control == "K8S-APISERVER-HARDENING"
    assert f.subject == "blade001 secrets-encryption"
    assert "expected True" in f.message


def test_server_flannel_left_on_with_cilium(site: Site) -> None:
    bad = failed(
        hosts.k3s_config(site, "blade001", dump(server_config(flannel_backend="vxlan", disable_network_policy=None)))
    )
    assert {f.subject for f in bad} == {"blade001 flannel-backend", "blade001 disable-network-policy"}
    assert {f.control for f in bad} == {"K8S-CNI"}


def test_server_missing_audit_args(site: Site) -> None:
    args = apiserver_args(drop=("audit-policy-file", "audit-log-path"))
    bad = failed(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=args))))
    assert {f.subject for f in bad} == {
        "blade001 kube-apiserver-arg audit-policy-file",
        "blade001 kube-apiserver-arg audit-log-path",
    }
    assert {f.control for f in bad} == {"K8S-APISERVER-HARDENING"}
    policy = next(f for f in bad if f.subject.endswith("audit-policy-file"))
    assert "None, expected '/var/lib/rancher/k3s/server/audit.yaml'" in policy.message


def test_server_audit_policy_at_another_path(site: Site) -> None:
    args = apiserver_args(replace={"audit-policy-file": "/etc/audit.yaml"})
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=args))))
    assert f.subject == "blade001 kube-apiserver-arg audit-policy-file"
    assert "'/etc/audit.yaml'" in f.message


def test_server_missing_admission_config(site: Site) -> None:
    args = apiserver_args(drop=("admission-control-config-file",))
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=args))))
    assert f.control == "K8S-PSA-RESTRICTED"
    assert f.subject == "blade001 kube-apiserver-arg admission-control-config-file"


def test_server_wrong_oidc_issuer(site: Site) -> None:
    args = apiserver_args(replace={"oidc-issuer-url": "https://evil.example"})
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=args))))
    assert f.control == "K8S-APISERVER-HARDENING"
    assert "expected 'https://accounts.google.com'" in f.message


@pytest.mark.parametrize("plugins", ["EventRateLimit", "", "NodeRestrictions,EventRateLimit"])
def test_server_missing_node_restriction(site: Site, plugins: str) -> None:
    args = apiserver_args(replace={"enable-admission-plugins": plugins})
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=args))))
    assert f.control == "K8S-APISERVER-HARDENING"
    assert f.subject == "blade001 kube-apiserver-arg enable-admission-plugins"
    assert "expected ['NodeRestriction']" in f.message


def test_server_no_apiserver_args_at_all(site: Site) -> None:
    bad = failed(hosts.k3s_config(site, "blade001", dump(server_config(kube_apiserver_arg=None))))
    assert len(bad) == 6
    assert all(f.subject.startswith("blade001 kube-apiserver-arg ") for f in bad)


def test_server_tls_san_without_api_endpoint(site: Site) -> None:
    sans = [s for s in yaml.safe_load(SERVER_TEXT)["tls-san"] if s != "kubernetes.homelab.int.zengarden.space"]
    f = only_failure(hosts.k3s_config(site, "blade001", dump(server_config(tls_san=sans))))
    assert f.subject == "blade001 tls-san"
    assert "expected 'kubernetes.homelab.int.zengarden.space'" in f.message


def test_server_wrong_node_ip(site: Site) -> None:
    cfg = server_config(node_external_ip="192.168.77.99")
    cfg["kubelet-arg"] = [a for a in cfg["kubelet-arg"] if not a.startswith("node-ip=")] + ["node-ip=192.168.77.99"]
    f = only_failure(hosts.k3s_config(site, "blade001", dump(cfg)))
    assert f.control == "HOST-BLADE001"
    assert f.subject == "blade001 node-ip"
    assert f.message == "node-ip: ['192.168.77.99'], expected '192.168.77.170'"


def test_server_config_of_another_blade(site: Site) -> None:
    f = only_failure(hosts.k3s_config(site, "blade002", SERVER_TEXT))
    assert f.control == "HOST-BLADE002"
    assert "expected '192.168.77.171'" in f.message


def test_server_node_ip_key_alone_is_enough(site: Site) -> None:
    cfg = server_config(node_external_ip=None, node_ip="192.168.77.170")
    cfg["kubelet-arg"] = [a for a in cfg["kubelet-arg"] if not a.startswith("node-ip=")]
    assert failed(hosts.k3s_config(site, "blade001", dump(cfg))) == []


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
    assert "https://192.168.77.170:6443" in f.message
    assert "expected" in f.message


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
        (hosts.k3s_config, hosts.K3S_CONFIG, "K8S-VERSION"),
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


@pytest.mark.parametrize("check", [hosts.k3s_config, hosts.psa_admission, hosts.audit_policy])
def test_invalid_yaml(site: Site, check: Any) -> None:
    [f] = check(site, "blade001", "a: 1\nb: [unclosed\nc: 3\n")
    assert not f.ok
    assert f.message.startswith("not valid YAML line ")
    assert f.subject.startswith("blade001:/")


def test_invalid_yaml_names_the_line(site: Site) -> None:
    [f] = hosts.k3s_config(site, "blade001", 'cluster-cidr: 10.42.0.0/16\nnode-ip: "unterminated\n')
    assert not f.ok
    assert f.message == "not valid YAML line 3"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_k3s_config_not_a_mapping(site: Site, text: str) -> None:
    [f] = hosts.k3s_config(site, "blade001", text)
    assert not f.ok
    assert f.message == "is not a YAML mapping"


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
    "namespaces",
    [
        ["kube-system", "metallb-system", "victoria-metrics"],
        ["kube-system", "metallb-system", "victoria-metrics", "gitea", "apps-dev-legacy"],
        [],
    ],
)
def test_psa_different_exemptions(site: Site, namespaces: list[str]) -> None:
    doc = psa_doc()
    podsecurity_conf(doc)["exemptions"]["namespaces"] = namespaces
    f = only_failure(hosts.psa_admission(site, "blade001", dump(doc)))
    assert f.subject.endswith("exemptions.namespaces")
    assert "expected ['gitea', 'kube-system', 'metallb-system', 'victoria-metrics']" in f.message


@pytest.mark.parametrize(("mode", "level"), [("enforce", "baseline"), ("audit", "privileged"), ("warn", None)])
def test_psa_different_default_level(site: Site, mode: str, level: str | None) -> None:
    doc = psa_doc()
    podsecurity_conf(doc)["defaults"][mode] = level
    f = only_failure(hosts.psa_admission(site, "blade001", dump(doc)))
    assert f.subject == f"blade001:{hosts.PSA_CONFIG} defaults.{mode}"
    assert f.message == f"{level!r}, expected 'restricted'"


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
    assert f.message == "no PodSecurity plugin configured"


# ---------------------------------------------------------------------------------------- audit_policy
def test_recorded_audit_policy_passes(site: Site) -> None:
    [f] = hosts.audit_policy(site, "blade001", AUDIT_TEXT)
    assert f.ok
    assert f.control == "K8S-APISERVER-HARDENING"
    assert f.message == "rule levels ['Metadata']"


def test_audit_policy_final_rule_decides(site: Site) -> None:
    doc = {"rules": [{"level": "None", "users": ["system:kube-proxy"]}, {"level": "Metadata"}]}
    assert hosts.audit_policy(site, "blade001", dump(doc))[0].ok


@pytest.mark.parametrize(
    "rules",
    [[{"level": "RequestResponse"}], [{"level": "Metadata"}, {"level": "None"}], []],
)
def test_audit_policy_level_mismatch(site: Site, rules: list[dict[str, str]]) -> None:
    [f] = hosts.audit_policy(
        site, "blade001", dump({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": rules})
    )
    assert not f.ok
    assert "expected a final catch-all at Metadata" in f.message


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
