"""Control-plane HA: every server's API on its own address (with etcd), its certificate, versions, leases.

Design: Scalability / High Availability (three control-plane blades), Layer 2 (K3s topology).  Each
server is asked alone; one that does not answer is that server's finding here, while every other
cluster check is served by the servers that do answer (the HA cluster reader).
"""

import time
from functools import partial

import pytest

from pytest_zengarden.checks import control_plane as checks
from pytest_zengarden.clients import cluster_ha as ha
from pytest_zengarden.errors import TargetError
from pytest_zengarden.outcomes import judged

pytestmark = [pytest.mark.cluster, pytest.mark.running]


@pytest.fixture(scope="module")
def answers(site, cluster):
    """blade -> (url, what that blade's API server answers alone), every server asked once per module.

    A server that does not answer is recorded as ``Unanswered`` (its finding; one timeout, not one per
    question); none answering, or a target without API servers to ask (a recording), errors the checks.
    """
    if not hasattr(cluster, "client"):
        pytest.fail("this target has no API servers to ask (a recording): run against --zg-target lab or live",
                    pytrace=False)  # fmt: skip
    port = site.cluster.api_port
    urls = {b: f"https://{site.blades[b].address}:{port}" for b in site.cluster.control_plane}
    try:
        return ha.ask_every_server(cluster, urls)
    except TargetError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)  # in a fixture: the checks error, outside the except: no chained frames


def test_api_server_health(site, ha_server, answers, conformance):
    """Each server answers /readyz and /livez on its own address, with etcd's check passing."""
    url, got = answers[ha_server]
    conformance.check(checks.server_health(site, ha_server, url, got["readyz"], got["livez"]))


def test_api_server_certificate(site, ha_server, answers, conformance):
    """Each server's certificate (verified against the cluster CA) covers the cluster's names and its address."""
    url, got = answers[ha_server]
    first_service_ip = str(site.segments[site.cluster.service_network].cidr.network_address + 1)
    conformance.check(checks.serving_certificate(site, ha_server, url, got["sans"], first_service_ip))


def test_api_server_versions(site, zg_target, answers, conformance):
    """Every server runs the site's Kubernetes version (in the lab: its minor; the lab runs upstream binaries)."""
    found = {b: got["version"] for b, (_, got) in answers.items()}
    # No server answering /version leaves nothing to judge: an error, never a failure.
    conformance.check(judged(partial(checks.versions, minor_only=zg_target.name == "lab"), site, found))


def test_leader_lease(site, cluster, leader_lease_name, conformance):
    """The controller-manager and the scheduler each have a leader on a server that renews its lease."""
    conformance.check(checks.leader_lease(site, leader_lease_name, cluster.list("Lease"), time.time()))
