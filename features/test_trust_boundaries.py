"""Trust Boundary 3 and Defense in Depth / Kubernetes (features/trust_boundaries.feature).

The steps call the same check code as suites/test_cluster_access.py.
"""

from __future__ import annotations

from pytest_bdd import given, scenarios, then, when

from pytest_zengarden.checks import auth, network_policy, rbac
from pytest_zengarden.facts.in_effect import running
from pytest_zengarden.outcomes import CannotJudge, judged

scenarios("trust_boundaries.feature")


@given("the cluster's namespaces and network policies", target_fixture="isolation")
def isolation(the_site, cluster):
    return judged(network_policy.network_policies, the_site, cluster.list("Namespace"), cluster.list("NetworkPolicy"))


@then("every namespace that is not exempt denies ingress by default")
def default_deny(isolation, conformance):
    # Only the default-deny part of each namespace's finding (allowances are the next step's).
    conformance.check([f for f in isolation if f.ok or "no default-deny" in f.message])


@then("every namespace allows only the traffic the site lists")
def only_listed(isolation, conformance):
    conformance.check([f for f in isolation if f.ok or "NetworkPolicy" in f.message or "allowance" in f.message])


@given("the cluster's RBAC roles and bindings", target_fixture="rbac_objects")
def rbac_objects(cluster):
    return {kind: cluster.list(kind) for kind in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")}


@then("cluster-admin is bound only to the subjects the site lists")
def cluster_admins(the_site, rbac_objects, conformance):
    conformance.check(
        judged(rbac.cluster_admin_bindings, the_site, rbac_objects["ClusterRoleBinding"], rbac_objects["RoleBinding"])
    )


@then("no service account outside the exemptions holds a wildcard role")
def wildcards(the_site, rbac_objects, conformance):
    o = rbac_objects
    conformance.check(
        judged(rbac.wildcard_bindings, the_site, o["ClusterRole"], o["Role"], o["ClusterRoleBinding"], o["RoleBinding"])
    )


@given("the kube-apiserver each control-plane blade runs now", target_fixture="apiservers")
def apiservers(the_site, zg_target):
    # A blade the target cannot reach raises a target error: the scenario errors naming it (never a skip).
    return {name: judged(running, zg_target.blade(name), "kube-apiserver") for name in the_site.cluster.control_plane}


def _flags(the_site, apiservers, what):
    return [
        f
        for name, run in apiservers.items()
        for f in auth.authentication_flags(the_site, name, run)
        if f.subject.endswith(what)
    ]


@then("anonymous authentication is off on every server")
def anonymous_off(the_site, apiservers, conformance):
    conformance.check(_flags(the_site, apiservers, " anonymous-auth"))


@then("users come from the site's OIDC issuer and claims")
def oidc(the_site, apiservers, conformance):
    conformance.check(_flags(the_site, apiservers, " oidc"))


@when("an unauthenticated client asks each API server for /api", target_fixture="anonymous_answers")
def anonymous_answers(the_site, cluster):
    probe = getattr(cluster, "unauthenticated_get", None)
    if probe is None:
        raise CannotJudge(f"{cluster.endpoint}: this target cannot send requests to the API servers")
    out = {}
    for name in the_site.cluster.control_plane:
        address, port = str(the_site.blades[name].address), the_site.cluster.api_port
        out[name] = (f"https://{address}:{port}/api", *probe(address, port, "/api"))
    return out


@then("every API server answers 401 Unauthorized")
def all_401(the_site, anonymous_answers, conformance):
    conformance.check(
        [
            auth.anonymous_refused(the_site, name, url, status, msg)
            for name, (url, status, msg) in anonymous_answers.items()
        ]
    )
