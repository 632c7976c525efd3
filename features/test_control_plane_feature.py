"""High Availability - the control plane (features/control_plane.feature): the checks of
suites/test_control_plane.py, as the design's reader states them."""

import time
from functools import partial

from pytest_bdd import given, scenarios, then, when

from pytest_zengarden.checks import control_plane as checks
from pytest_zengarden.clients import cluster_ha as ha
from pytest_zengarden.errors import TargetError
from pytest_zengarden.outcomes import judged

scenarios("control_plane.feature")


@when("each control-plane blade's API server is asked on its own address", target_fixture="answers")
def answers(the_site, cluster):
    if not hasattr(cluster, "client"):
        raise TargetError("cluster", "this target has no API servers to ask (a recording): run against lab or live")
    urls = {
        b: f"https://{the_site.blades[b].address}:{the_site.cluster.api_port}" for b in the_site.cluster.control_plane
    }
    return ha.ask_every_server(cluster, urls)


@then("every server is ready and live with etcd's check passing")
def healthy(the_site, answers, conformance):
    conformance.check(
        [checks.server_health(the_site, b, url, got["readyz"], got["livez"]) for b, (url, got) in answers.items()]
    )


@then("every server's certificate covers the cluster's names and its own address")
def certificates(the_site, answers, conformance):
    first = str(the_site.segments[the_site.cluster.service_network].cidr.network_address + 1)
    conformance.check(
        [checks.serving_certificate(the_site, b, url, got["sans"], first) for b, (url, got) in answers.items()]
    )


@then("every server runs the designed Kubernetes version")
def versions(the_site, answers, zg_target, conformance):
    found = {b: got["version"] for b, (_, got) in answers.items()}
    conformance.check(judged(partial(checks.versions, minor_only=zg_target.name == "lab"), the_site, found))


@given("the cluster's leases", target_fixture="leases")
def leases(cluster):
    return cluster.list("Lease")


@then("the controller-manager and the scheduler each have a leader on a control-plane blade")
def leaders(the_site, leases, conformance):
    now = time.time()
    conformance.check([checks.leader_lease(the_site, name, leases, now) for name in checks.LEADER_LEASES])
