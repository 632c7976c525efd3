"""Who and what may reach what in the cluster: network policies, RBAC and API server authentication.

Design: Security / Trust Boundary 3 (Cilium NetworkPolicy, pod-to-pod restrictions, namespace isolation)
and Defense in Depth / Kubernetes (Network Policies, RBAC with OIDC).
"""

import pytest

from pytest_zengarden.checks import auth, network_policy, rbac
from pytest_zengarden.facts.in_effect import running
from pytest_zengarden.outcomes import CannotJudge, judged

pytestmark = pytest.mark.cluster


@pytest.mark.control_from("cluster.network_policies")
def test_network_policies(site, cluster, conformance):
    """Every namespace outside the exemptions denies by default and allows only what the site lists."""
    findings = judged(network_policy.network_policies, site, cluster.list("Namespace"), cluster.list("NetworkPolicy"))
    conformance.check(findings)


@pytest.mark.control_from("cluster.rbac")
def test_cluster_admin_bindings(site, cluster, conformance):
    """cluster-admin is bound to no subject beyond the site's list."""
    findings = judged(
        rbac.cluster_admin_bindings, site, cluster.list("ClusterRoleBinding"), cluster.list("RoleBinding")
    )
    conformance.check(findings)


@pytest.mark.control_from("cluster.rbac")
def test_wildcard_roles_bound_to_service_accounts(site, cluster, conformance):
    """No role with a wildcard verb, resource or API group is bound to a service account outside the exemptions."""
    findings = judged(
        rbac.wildcard_bindings,
        site,
        cluster.list("ClusterRole"),
        cluster.list("Role"),
        cluster.list("ClusterRoleBinding"),
        cluster.list("RoleBinding"),
    )
    conformance.check(findings)


@pytest.mark.roles("control-plane")
@pytest.mark.control_from("cluster.apiserver")
def test_apiserver_authentication(site, blade, conformance):
    """Each server's kube-apiserver runs (its k3s journal) with anonymous auth off and the site's OIDC settings."""
    run = judged(running, blade, "kube-apiserver")
    conformance.check(auth.authentication_flags(site, blade.name, run))


@pytest.mark.probe
def test_apiserver_refuses_anonymous(site, cluster, api_server, conformance):
    """An unauthenticated request to each server's /api is turned away as unauthenticated (401)."""
    probe = getattr(cluster, "unauthenticated_get", None)
    if probe is None:
        raise CannotJudge(f"{cluster.endpoint}: this target cannot send requests to the API servers")
    address, port = str(site.blades[api_server].address), site.cluster.api_port
    status, message = probe(address, port, "/api")
    conformance.check(auth.anonymous_refused(site, api_server, f"https://{address}:{port}/api", status, message))
