"""Namespace isolation (checks/network_policy.py) on NetworkPolicies as the lab's real API server returns them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.checks import network_policy as netpol
from pytest_zengarden.desired.cluster import network_policies as rendered
from pytest_zengarden.facts.cluster import KubeObject
from pytest_zengarden.provision.cluster import plan_cluster
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import NetpolAllow, Site

from .helpers import SITE, site_data, write_site

RECORDED = json.loads(
    (Path(__file__).parent / "recordings" / "kubernetes" / "networkpolicies-provisioned.json").read_text()
)


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE)


@pytest.fixture
def recorded() -> tuple[list[KubeObject], list[KubeObject]]:
    return copy.deepcopy(RECORDED["Namespace"]), copy.deepcopy(RECORDED["NetworkPolicy"])


def by_subject(findings: list[Any]) -> dict[str, Any]:
    return {f.subject: f for f in findings}


def policy(namespace: str, name: str, spec: dict[str, Any]) -> KubeObject:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def test_the_provisioned_lab_isolates_every_namespace_but_the_exempt(site, recorded):
    namespaces, policies = recorded
    found = by_subject(netpol.network_policies(site, namespaces, policies))
    assert set(found) == {f"namespace {n['metadata']['name']}" for n in namespaces}
    assert all(f.ok for f in found.values()), [str(f) for f in found.values() if not f.ok]
    assert found["namespace kube-system"].message == "exempt by design (the PSA exemptions)"
    assert found["namespace default"].message == "default-deny ingress (default-deny)"
    assert found["namespace ingress-nginx"].message == "default-deny ingress (default-deny), allowance allow-web"
    assert {f.control for f in found.values()} == {"K8S-NETPOL-DEFAULT-DENY"}


def test_a_namespace_without_default_deny_is_named_with_what_is_missing(site, recorded):
    namespaces, policies = recorded
    namespaces.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps-dev-unguarded"}})
    policies = [p for p in policies if p["metadata"]["namespace"] != "secrets"]
    bad = [f for f in netpol.network_policies(site, namespaces, policies) if not f.ok]
    assert [f.subject for f in bad] == ["namespace secrets", "namespace apps-dev-unguarded"]
    assert bad[0].message == (
        "no default-deny ingress (a policy with podSelector {}, policyTypes [Ingress] and no ingress rules)"
    )


def test_a_policy_the_site_does_not_list_is_named_with_what_it_allows(site, recorded):
    namespaces, policies = recorded
    policies.append(policy("default", "allow-all", {"podSelector": {}, "ingress": [{}]}))
    bad = [f for f in netpol.network_policies(site, namespaces, policies) if not f.ok]
    assert [f.subject for f in bad] == ["namespace default"]
    assert bad[0].message == (
        "NetworkPolicy allow-all allows ingress to pods *: anywhere on every port, which the site does not list"
    )


def test_an_allowance_wider_than_the_site_says_is_named(site, recorded):
    namespaces, policies = recorded
    web = next(p for p in policies if p["metadata"]["name"] == "allow-web")
    web["spec"]["ingress"][0]["ports"].append({"protocol": "TCP", "port": 22})
    (bad,) = [f for f in netpol.network_policies(site, namespaces, policies) if not f.ok]
    assert bad.subject == "namespace ingress-nginx"
    assert bad.message == (
        "NetworkPolicy allow-web allows ingress to pods app.kubernetes.io/component=controller: anywhere on "
        "TCP/22,TCP/443,TCP/80; the site allows ingress to pods app.kubernetes.io/component=controller: "
        "anywhere on TCP/443,TCP/80"
    )


def test_a_missing_allowance_is_named(site, recorded):
    namespaces, policies = recorded
    policies = [p for p in policies if p["metadata"]["name"] != "allow-tunnel"]
    (bad,) = [f for f in netpol.network_policies(site, namespaces, policies) if not f.ok]
    assert bad.subject == "namespace external-tunnel"
    assert bad.message.startswith("allowance allow-tunnel (ingress to pods app.kubernetes.io/component=controller: ")
    assert bad.message.endswith("namespace external-tunnel on TCP/443) is missing")


@pytest.mark.parametrize(
    ("spec", "denies"),
    [
        ({"podSelector": {}}, True),  # policyTypes unset: Ingress
        ({"podSelector": {"matchLabels": {}}, "policyTypes": ["Ingress", "Egress"]}, True),
        ({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}, False),  # one empty rule: allow all
        ({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"]}, False),  # some pods only
        ({"podSelector": {}, "policyTypes": ["Egress"]}, False),
        ({"podSelector": {}, "egress": [{}]}, True),  # unset policyTypes: Ingress (no rules) and Egress
    ],
)
def test_what_counts_as_a_default_deny(spec, denies):
    assert netpol.denies_all(policy("x", "p", spec), "Ingress") is denies


def test_egress_default_deny_when_the_site_asks_for_it(tmp_path, recorded):
    data = site_data()
    data["cluster"]["network_policies"]["default_deny"] = {"ingress": True, "egress": True}
    site = load_site(write_site(tmp_path / "s.yaml", data))
    namespaces, policies = recorded
    found = by_subject(netpol.network_policies(site, namespaces, policies))
    assert found["namespace default"].message == (
        "no default-deny egress (a policy with podSelector {}, policyTypes [Egress] and no egress rules)"
    )
    # What the provisioner renders for that site is what the check accepts.
    policies = rendered(site, [n["metadata"]["name"] for n in namespaces])
    assert all(f.ok for f in netpol.network_policies(site, namespaces, policies))


def test_listed_exemptions_replace_the_pod_security_ones(tmp_path, recorded):
    data = site_data()
    data["cluster"]["network_policies"]["exempt_namespaces"] = ["kube-system", "default"]
    site = load_site(write_site(tmp_path / "s.yaml", data))
    namespaces, _ = recorded
    found = by_subject(netpol.network_policies(site, namespaces, []))
    assert found["namespace default"].ok and "network_policies.exempt_namespaces" in found["namespace default"].message
    assert not found["namespace metallb-system"].ok  # PSA-exempt, but no longer exempt from isolation


@pytest.mark.parametrize(
    "allow",
    [
        NetpolAllow(name="a"),
        NetpolAllow(name="b", namespaces=["*"], ports=[53], protocol="UDP", direction="egress"),
        NetpolAllow(name="c", namespaces=["ingress-nginx", "argocd"], cidrs=["10.0.0.0/8"], pod_selector={"a": "b"}),
        NetpolAllow(name="d", cidrs=["192.168.88.0/24"], ports=[443, 80]),
    ],
)
def test_the_check_reads_what_the_provisioner_renders_as_the_site_meant(tmp_path, allow):
    data = site_data()
    data["cluster"]["network_policies"]["allow"] = {"apps": [allow.model_dump(mode="json")]}
    site = load_site(write_site(tmp_path / "s.yaml", data))
    (deny, obj) = rendered(site, ["apps"])
    assert netpol.denies_all(deny, "Ingress")
    assert netpol.grants(obj) == netpol.allowance_meaning(site.cluster.network_policies.allow["apps"][0])


def test_provisioning_gives_every_existing_namespace_its_default_deny(site, recorded):
    namespaces, policies = recorded
    namespaces.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps-prod-docs"}})
    current = {("v1", "Namespace"): namespaces, ("networking.k8s.io/v1", "NetworkPolicy"): policies}
    plan = plan_cluster(site, current)
    added = [c for c in plan.changes if c.subject.startswith("NetworkPolicy")]
    assert [(c.op, c.subject, c.control) for c in added] == [
        ("+", "NetworkPolicy apps-prod-docs/default-deny", "K8S-NETPOL-DEFAULT-DENY")
    ]
    # Nothing the provisioner made (the lab's policies carry its inventory label) is pruned.
    assert not [c for c in plan.changes if c.op == "-"]


def test_no_namespace_read_cannot_be_judged(site):
    with pytest.raises(ValueError, match="no namespace was read"):
        netpol.network_policies(site, [], [])
