"""Cluster evaluators (checks/cluster.py) against small, hand-built Kubernetes objects."""

from __future__ import annotations

import shutil
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.checks import cluster
from pytest_zengarden.errors import TargetError
from pytest_zengarden.facts.cluster import KubeObject
from pytest_zengarden.facts.host import PSA_CONFIG
from pytest_zengarden.facts.in_effect import Running, parse_running
from pytest_zengarden.offline.hostfiles import FileTreeHost
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Site

from .helpers import junit_cases, run_pytest

SITE_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "sites" / "zengarden.yaml"
SERVER_JOURNAL = (
    Path(__file__).resolve().parent.parent / "fixtures" / "recorded" / "hosts" / "blade001" / ".journal" / "k3s.log"
).read_text(encoding="utf-8")
PSA = "pod-security.kubernetes.io/"


@pytest.fixture(scope="session")
def site() -> Site:
    return load_site(SITE_FILE)


def namespace(name: str, **modes: str) -> KubeObject:
    meta: dict[str, Any] = {"name": name}
    if modes:
        meta["labels"] = {f"{PSA}{mode}": level for mode, level in modes.items()}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def ingress_class(name: str, controller: str | None) -> KubeObject:
    obj: KubeObject = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": name}}
    if controller is not None:
        obj["spec"] = {"controller": controller}
    return obj


def pool(name: str, *addresses: str) -> KubeObject:
    return {
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": {"addresses": list(addresses)},
    }


def advert(name: str, pools: list[str] | None) -> KubeObject:
    spec = {} if pools is None else {"ipAddressPools": pools}
    return {"kind": "L2Advertisement", "metadata": {"name": name, "namespace": "metallb-system"}, "spec": spec}


def service(
    namespace: str,
    name: str,
    type_: str = "LoadBalancer",
    status_ip: str | None = None,
    spec_ip: str | None = None,
    annotation_ip: str | None = None,
) -> KubeObject:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotation_ip:
        meta["annotations"] = {"metallb.universe.tf/loadBalancerIPs": annotation_ip}
    spec: dict[str, Any] = {"type": type_, "ports": [{"port": 443}]}
    if spec_ip:
        spec["loadBalancerIP"] = spec_ip
    obj: KubeObject = {"kind": "Service", "metadata": meta, "spec": spec}
    if status_ip:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": status_ip}]}}
    return obj


# ---------------------------------------------------------------------------------------- pod_security
RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"


def restricted(site: Site, server: str = "blade001") -> cluster.PsaDefaults:
    """What the recorded servers' admission configuration sets: restricted, the site's exemptions."""
    return cluster.PsaDefaults(
        server,
        {m: "restricted" for m in cluster.PSA_MODES},
        frozenset(site.cluster.pod_security.exemptions.namespaces),
        f"{server}:{PSA_CONFIG}",
    )


def _one(site: Site, ns: KubeObject, in_effect: list[cluster.PsaDefaults] | None = None) -> Any:
    [f] = cluster.pod_security(site, [ns], [restricted(site)] if in_effect is None else in_effect)
    return f


def recorded_host(name: str) -> FileTreeHost:
    return FileTreeHost(name, RECORDED / "hosts" / name)


def apiserver(journal: str = SERVER_JOURNAL) -> Running:
    """blade001's recorded kube-apiserver start, optionally edited."""
    run = parse_running(journal, "kube-apiserver", "blade001")
    assert run is not None
    return run


def test_pod_security_unlabelled_namespace_passes_under_a_restricted_default(site: Site) -> None:
    f = _one(site, namespace("argocd"))
    assert f.ok
    assert f.control == "K8S-PSA-RESTRICTED"
    assert f.subject == "namespace argocd"
    assert f.message == (
        "enforce=restricted (cluster default), audit=restricted (cluster default), warn=restricted (cluster default)"
    )


def test_unlabelled_namespace_fails_when_the_admission_configuration_sets_no_default(site: Site) -> None:
    """Issue 9 (6): without an admission configuration Kubernetes' default is privileged, not restricted."""
    journal = SERVER_JOURNAL.replace(f"--admission-control-config-file={PSA_CONFIG} ", "")
    assert "admission-control-config-file" not in journal
    defaults = cluster.psa_in_effect("blade001", apiserver(journal), recorded_host("blade001").read_file)
    assert defaults.levels == {"enforce": "privileged", "audit": "privileged", "warn": "privileged"}
    f = _one(site, namespace("argocd"), [defaults])
    assert not f.ok
    assert f.message.startswith(
        "enforce unlabelled, so the cluster default privileged applies (blade001's kube-apiserver runs without "
        "--admission-control-config-file: Kubernetes' built-in default), expected restricted: label it "
        "pod-security.kubernetes.io/enforce=restricted or set defaults.enforce: restricted on every server; "
    )
    # A namespace that labels every mode does not depend on the default.
    assert _one(site, namespace("apps", enforce="restricted", audit="restricted", warn="restricted"), [defaults]).ok


def test_unlabelled_namespace_is_judged_by_the_weakest_server(site: Site) -> None:
    weak = cluster.PsaDefaults(
        "blade002",
        {"enforce": "baseline", "audit": "restricted", "warn": "restricted"},
        frozenset(site.cluster.pod_security.exemptions.namespaces),
        f"blade002:{PSA_CONFIG}",
    )
    f = _one(site, namespace("argocd"), [restricted(site), weak, restricted(site, "blade003")])
    assert not f.ok
    assert f"the cluster default baseline applies (blade002:{PSA_CONFIG}), expected restricted" in f.message
    assert "audit" not in f.message


def test_a_namespace_exempted_by_a_server_but_not_the_site_fails(site: Site) -> None:
    loose = cluster.PsaDefaults(
        "blade003", {m: "restricted" for m in cluster.PSA_MODES}, frozenset({"kube-system", "apps"}), "blade003:x"
    )
    f = _one(site, namespace("apps", enforce="restricted"), [restricted(site), loose])
    assert not f.ok
    assert f.message == (
        "exempt from Pod Security by blade003:x, not by design; remove it from exemptions.namespaces there"
    )


def test_no_server_defaults_cannot_be_judged(site: Site) -> None:
    with pytest.raises(ValueError, match="unlabelled namespaces cannot be judged"):
        cluster.pod_security(site, [namespace("argocd")], [])


def test_server_psa_defaults_from_the_recording(site: Site) -> None:
    found = cluster.server_psa_defaults(site, recorded_host)
    assert [d.server for d in found] == ["blade001", "blade002", "blade003"]
    for d in found:
        assert d.levels == {"enforce": "restricted", "audit": "restricted", "warn": "restricted"}
        assert d.exempt == frozenset(site.cluster.pod_security.exemptions.namespaces)
        assert d.source == f"{d.server}:{PSA_CONFIG}"


def test_server_psa_defaults_read_errors_propagate(site: Site) -> None:
    def host(name: str) -> FileTreeHost:
        if name == "blade002":
            raise TargetError("blade002 192.168.77.171:22", "timed out")
        return recorded_host(name)

    with pytest.raises(TargetError, match="timed out"):
        cluster.server_psa_defaults(site, host)


@pytest.mark.parametrize(
    ("psa_text", "source", "levels"),
    [
        (None, f"blade001:{PSA_CONFIG} does not exist", "privileged"),
        ("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins: []\n",
         f"blade001:{PSA_CONFIG} configures no PodSecurity plugin", "privileged"),
        ("plugins:\n- name: PodSecurity\n  configuration:\n    defaults: {enforce: baseline}\n",
         f"blade001:{PSA_CONFIG}", "baseline"),
    ],
)  # fmt: skip
def test_psa_in_effect_when_the_file_says_little(site: Site, psa_text: str | None, source: str, levels: str) -> None:
    d = cluster.psa_in_effect("blade001", apiserver(), {PSA_CONFIG: psa_text}.get)
    assert d.source == source
    assert d.levels["enforce"] == levels
    # A mode the configuration leaves unset is privileged (Kubernetes' default).
    assert d.levels["warn"] == "privileged"


def test_psa_in_effect_with_the_plugin_disabled(site: Site) -> None:
    journal = SERVER_JOURNAL.replace("--advertise-port", "--disable-admission-plugins=PodSecurity --advertise-port")
    d = cluster.psa_in_effect("blade001", apiserver(journal), recorded_host("blade001").read_file)
    assert d.levels["enforce"] == "privileged"
    assert d.source == "blade001's kube-apiserver runs with PodSecurity disabled"


@pytest.mark.parametrize(
    ("psa_text", "match"),
    [
        ("plugins:\n- name: PodSecurity\n  path: /etc/psa.yaml\n", "which the checks do not read"),
        ("plugins:\n- name: PodSecurity\n  configuration: {defaults: {enforce: strict}}\n",
         "'strict' is not a Pod Security level"),
        ("a: [unclosed\n", f"blade001:{PSA_CONFIG}: not valid YAML"),
    ],
)  # fmt: skip
def test_psa_in_effect_that_cannot_be_judged_raises(psa_text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cluster.psa_in_effect("blade001", apiserver(), {PSA_CONFIG: psa_text}.get)


def test_server_psa_defaults_need_the_running_server(site: Site, tmp_path: Path) -> None:
    """No start line in the journal: what runs is unknown, never assumed from the files on disk."""
    copy = tmp_path / "blade002"
    shutil.copytree(RECORDED / "hosts" / "blade002", copy)
    (copy / ".journal" / "k3s.log").write_text("")
    hosts = {"blade002": FileTreeHost("blade002", copy)}
    with pytest.raises(ValueError, match="blade002: no 'Running kube-apiserver' line in `journalctl -u k3s -b`"):
        cluster.server_psa_defaults(site, lambda n: hosts.get(n) or recorded_host(n))


def test_an_admission_file_changed_after_the_start_is_not_in_effect(site: Site, tmp_path: Path) -> None:
    copy = tmp_path / "blade003"
    shutil.copytree(RECORDED / "hosts" / "blade003", copy)
    mtimes = copy / ".mtimes.json"
    mtimes.write_text(mtimes.read_text().replace(f'"{PSA_CONFIG}": 1764498400.0', f'"{PSA_CONFIG}": 1764500000.0'))
    hosts = {"blade003": FileTreeHost("blade003", copy)}
    with pytest.raises(ValueError, match=f"blade003:{PSA_CONFIG} changed at 2025-11-30 10:53:20 UTC, after "
                       "kube-apiserver started at 2025-11-30 10:30:12 UTC: .* restart k3s"):  # fmt: skip
        cluster.server_psa_defaults(site, lambda n: hosts.get(n) or recorded_host(n))


@pytest.mark.parametrize("name", ["kube-system", "metallb-system", "victoria-metrics", "gitea"])
def test_pod_security_exempt_namespace_may_be_privileged(site: Site, name: str) -> None:
    f = _one(site, namespace(name, enforce="privileged", audit="privileged", warn="privileged"))
    assert f.ok
    assert f.message == "exempt by design"


def test_pod_security_privileged_enforce_fails_when_not_exempt(site: Site) -> None:
    f = _one(site, namespace("apps-dev-legacy", enforce="privileged"))
    assert not f.ok
    assert f.control == "K8S-PSA-RESTRICTED"
    assert f.subject == "namespace apps-dev-legacy"
    assert "enforce=privileged, expected restricted" in f.message
    assert "not exempt" in f.message


@pytest.mark.parametrize("mode", ["audit", "warn"])
def test_pod_security_weaker_audit_or_warn_fails(site: Site, mode: str) -> None:
    f = _one(site, namespace("apps", **{"enforce": "restricted", mode: "baseline"}))
    assert not f.ok
    assert f"{mode}=baseline, expected restricted" in f.message
    assert "enforce" not in f.message


def test_pod_security_every_weak_mode_is_reported(site: Site) -> None:
    f = _one(site, namespace("apps", enforce="baseline", audit="privileged", warn="baseline"))
    assert not f.ok
    for part in ("enforce=baseline", "audit=privileged", "warn=baseline"):
        assert part in f.message


@pytest.mark.parametrize("level", ["superstrict", "Restricted", ""])
def test_pod_security_unknown_level_fails(site: Site, level: str) -> None:
    f = _one(site, namespace("apps", enforce=level))
    assert not f.ok
    assert f"enforce={level!r} is not a Pod Security level" in f.message


def test_pod_security_required_level_passes(site: Site) -> None:
    f = _one(site, namespace("platform-prod-docs", enforce="restricted", audit="restricted", warn="restricted"))
    assert f.ok


def test_pod_security_stricter_than_required_passes(site: Site) -> None:
    baseline_site = site.model_copy(
        update={
            "cluster": site.cluster.model_copy(
                update={"pod_security": site.cluster.pod_security.model_copy(update={"enforce": "baseline"})}
            )
        }
    )
    assert _one(baseline_site, namespace("apps", enforce="restricted")).ok
    assert _one(baseline_site, namespace("apps", enforce="baseline")).ok
    assert not _one(baseline_site, namespace("apps", enforce="privileged")).ok


def test_pod_security_other_labels_are_ignored(site: Site) -> None:
    ns = namespace("apps")
    ns["metadata"]["labels"] = {"team": "web", f"{PSA}enforce-version": "v1.29"}
    assert _one(site, ns).ok


def test_pod_security_one_finding_per_namespace(site: Site) -> None:
    findings = cluster.pod_security(
        site,
        [namespace("kube-system", enforce="privileged"), namespace("a"), namespace("b", warn="privileged")],
        [restricted(site)],
    )
    assert [(f.subject, f.ok) for f in findings] == [
        ("namespace kube-system", True),
        ("namespace a", True),
        ("namespace b", False),
    ]


@pytest.mark.parametrize(
    ("change", "outcome", "says"),
    [
        # A server whose admission configuration leaves the default at privileged: unlabelled namespaces fail.
        ("privileged-default", "failed", "namespace argocd: enforce unlabelled, so the cluster default privileged"),
        # A server whose admission configuration cannot be read: the check errors, it does not pass.
        ("unreadable", "error", "blade002"),
    ],
)
def test_the_suite_judges_unlabelled_namespaces_by_the_servers_files(
    tmp_path: Path, change: str, outcome: str, says: str
) -> None:
    copy = tmp_path / "recorded"
    shutil.copytree(RECORDED, copy)
    if change == "privileged-default":
        psa = copy / "hosts" / "blade002" / PSA_CONFIG.lstrip("/")
        psa.write_text(psa.read_text().replace('enforce: "restricted"', 'enforce: "privileged"'))
    else:
        shutil.rmtree(copy / "hosts" / "blade002")
    xml = tmp_path / "j.xml"
    proc = run_pytest(
        "suites/test_cluster.py", "-k", "pod_security", "--zg-target", f"offline={copy}", f"--junitxml={xml}"
    )
    [case] = junit_cases(xml).values()
    assert case["outcome"] == outcome, proc.stdout[-3000:]
    assert says in proc.stdout


# --------------------------------------------------------------------------------------- ingress_class
def test_ingress_class_missing(site: Site) -> None:
    f = cluster.ingress_class(site, "internal", [ingress_class("external", "k8s.io/ingress-nginx-external")])
    assert not f.ok
    assert f.control == "EDGE-INGRESS-INTERNAL"
    assert f.subject == "IngressClass internal"
    assert f.message == "does not exist"


def test_ingress_class_wrong_controller(site: Site) -> None:
    f = cluster.ingress_class(site, "external", [ingress_class("external", "k8s.io/ingress-nginx-internal")])
    assert not f.ok
    assert f.control == "EDGE-INGRESS-EXTERNAL"
    assert "controller 'k8s.io/ingress-nginx-internal', expected 'k8s.io/ingress-nginx-external'" in f.message


def test_ingress_class_without_spec(site: Site) -> None:
    f = cluster.ingress_class(site, "internal", [ingress_class("internal", None)])
    assert not f.ok
    assert "controller None" in f.message


def test_ingress_class_ok(site: Site) -> None:
    classes = [
        ingress_class("internal", "k8s.io/ingress-nginx-internal"),
        ingress_class("external", "k8s.io/ingress-nginx-external"),
    ]
    for name in ("internal", "external"):
        f = cluster.ingress_class(site, name, classes)
        assert f.ok, f
        assert f.message == f"controller k8s.io/ingress-nginx-{name}"


# ---------------------------------------------------------------------------------------- metallb_pool
GOOD_ADVERT = advert("default-advertisement", ["default-pool"])


def test_metallb_pool_ok(site: Site) -> None:
    f = cluster.metallb_pool(site, [pool("default-pool", "192.168.77.200-192.168.77.254")], [GOOD_ADVERT])
    assert f.ok
    assert f.control == "K8S-METALLB-POOL"
    assert f.subject == "IPAddressPool default-pool"
    assert "192.168.77.200-192.168.77.254" in f.message
    assert "default-advertisement" in f.message


def test_metallb_pool_range_with_spaces_ok(site: Site) -> None:
    assert cluster.metallb_pool(site, [pool("default-pool", "192.168.77.200 - 192.168.77.254")], [GOOD_ADVERT]).ok


def test_metallb_pool_missing(site: Site) -> None:
    f = cluster.metallb_pool(site, [pool("other-pool", "192.168.77.200-192.168.77.254")], [GOOD_ADVERT])
    assert not f.ok
    assert f.message == "does not exist"


@pytest.mark.parametrize(
    "addresses",
    [
        ["192.168.77.200-192.168.77.250"],
        ["192.168.77.100-192.168.77.254"],
        ["192.168.77.200-192.168.77.254", "192.168.77.10-192.168.77.20"],
        ["192.168.77.200/29"],
        ["not-an-address"],
        [],
    ],
)
def test_metallb_pool_wrong_range(site: Site, addresses: list[str]) -> None:
    f = cluster.metallb_pool(site, [pool("default-pool", *addresses)], [GOOD_ADVERT])
    assert not f.ok
    assert f"addresses {addresses}" in f.message
    assert "expected ['192.168.77.200-192.168.77.254']" in f.message


def test_metallb_pool_cidr_form_equal_to_range(site: Site) -> None:
    mlb = site.cluster.metallb.model_copy(
        update={"first": IPv4Address("192.168.77.192"), "last": IPv4Address("192.168.77.255")}
    )
    cidr_site = site.model_copy(update={"cluster": site.cluster.model_copy(update={"metallb": mlb})})
    assert cluster.metallb_pool(cidr_site, [pool("default-pool", "192.168.77.192/26")], [GOOD_ADVERT]).ok
    assert not cluster.metallb_pool(cidr_site, [pool("default-pool", "192.168.77.192/27")], [GOOD_ADVERT]).ok


def test_metallb_pool_missing_l2_advertisement(site: Site) -> None:
    pools = [pool("default-pool", "192.168.77.200-192.168.77.254")]
    for adverts in (
        [],
        [advert("other-advertisement", ["default-pool"])],
        [advert("default-advertisement", ["other"])],
    ):
        f = cluster.metallb_pool(site, pools, adverts)
        assert not f.ok, adverts
        assert f.message == "no L2Advertisement default-advertisement announces it"


def test_metallb_advertisement_without_pool_list_announces_all(site: Site) -> None:
    pools = [pool("default-pool", "192.168.77.200-192.168.77.254")]
    assert cluster.metallb_pool(site, pools, [advert("default-advertisement", None)]).ok


# ----------------------------------------------------------------------------------------- ingress_vip
INTERNAL_SVC = ("ingress-nginx", "ingress-nginx-controller")


def test_ingress_vip_ok(site: Site) -> None:
    f = cluster.ingress_vip(site, "internal", [service(*INTERNAL_SVC, status_ip="192.168.77.200")])
    assert f.ok
    assert f.control == "EDGE-INGRESS-INTERNAL"
    assert f.subject == "Service ingress-nginx/ingress-nginx-controller"
    assert f.message == "LoadBalancer on 192.168.77.200"


def test_ingress_vip_external_ok(site: Site) -> None:
    svc = service("external-tunnel", "ingress-nginx-external-controller", status_ip="192.168.77.201")
    assert cluster.ingress_vip(site, "external", [svc]).ok


def test_ingress_vip_missing_service(site: Site) -> None:
    # Right name, wrong namespace: not the controller service.
    f = cluster.ingress_vip(
        site, "internal", [service("default", "ingress-nginx-controller", status_ip="192.168.77.200")]
    )
    assert not f.ok
    assert f.message == "does not exist"


def test_ingress_vip_clusterip_type(site: Site) -> None:
    f = cluster.ingress_vip(site, "internal", [service(*INTERNAL_SVC, type_="ClusterIP")])
    assert not f.ok
    assert f.message == "type 'ClusterIP', expected LoadBalancer"


def test_ingress_vip_wrong_ip(site: Site) -> None:
    f = cluster.ingress_vip(site, "internal", [service(*INTERNAL_SVC, status_ip="192.168.77.201")])
    assert not f.ok
    assert f.message == "addresses ['192.168.77.201'], expected 192.168.77.200"


def test_ingress_vip_no_address_yet(site: Site) -> None:
    f = cluster.ingress_vip(site, "internal", [service(*INTERNAL_SVC)])
    assert not f.ok
    assert "addresses none" in f.message


def test_ingress_vip_spec_load_balancer_ip(site: Site) -> None:
    assert cluster.ingress_vip(site, "internal", [service(*INTERNAL_SVC, spec_ip="192.168.77.200")]).ok
    f = cluster.ingress_vip(
        site, "internal", [service(*INTERNAL_SVC, spec_ip="192.168.77.210", status_ip="192.168.77.200")]
    )
    assert not f.ok
    assert "192.168.77.210" in f.message and "expected 192.168.77.200" in f.message


def test_ingress_vip_metallb_annotation(site: Site) -> None:
    assert cluster.ingress_vip(site, "internal", [service(*INTERNAL_SVC, annotation_ip="192.168.77.200")]).ok
    f = cluster.ingress_vip(site, "internal", [service(*INTERNAL_SVC, annotation_ip="192.168.77.220")])
    assert not f.ok
    assert "192.168.77.220" in f.message
