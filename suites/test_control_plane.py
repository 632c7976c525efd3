"""Control-plane HA: every server's API on its own address (with etcd), its certificate, versions, leases.

Design: Scalability / High Availability (three control-plane blades), Layer 2 (K3s topology).  Each
server is asked alone; one that does not answer is that server's finding here, while every other
cluster check is served by the servers that do answer (the HA cluster reader).
"""

import time

import pytest

from pytest_zengarden.checks import control_plane as checks
from pytest_zengarden.clients import cluster_ha as ha

pytestmark = [pytest.mark.cluster, pytest.mark.running]


@pytest.fixture(scope="module")
def ask_server(site, cluster):
    """``ask(blade)`` -> (url, what that blade's API server answers alone), asked once per module.

    A server that does not answer is recorded as ``Unanswered`` (one timeout, not one per question); a
    target without API servers to ask (a recording) errors the check.
    """
    if not hasattr(cluster, "client"):
        pytest.fail("this target has no API servers to ask (a recording): run against --zg-target lab or live",
                    pytrace=False)  # fmt: skip
    seen = {}

    def ask(blade):
        if blade not in seen:
            url = f"https://{site.blades[blade].address}:{site.cluster.api_port}"
            seen[blade] = (url, ha.ask_server(cluster, url))
        return seen[blade]

    return ask


def test_api_server_health(site, ha_server, ask_server, conformance):
    """Each server answers /readyz and /livez on its own address, with etcd's check passing."""
    url, got = ask_server(ha_server)
    conformance.check(checks.server_health(site, ha_server, url, got["readyz"], got["livez"]))


def test_api_server_certificate(site, ha_server, ask_server, conformance):
    """Each server's certificate (verified against the cluster CA) covers the cluster's names and its address."""
    url, got = ask_server(ha_server)
    first_service_ip = str(site.segments[site.cluster.service_network].cidr.network_address + 1)
    conformance.check(checks.serving_certificate(site, ha_server, url, got["sans"], first_service_ip))


def test_api_server_versions(site, zg_target, ask_server, conformance):
    """Every server runs the site's Kubernetes version (in the lab: its minor; the lab runs upstream binaries)."""
    found = {b: ask_server(b)[1]["version"] for b in site.cluster.control_plane}
    conformance.check(checks.versions(site, found, minor_only=zg_target.name == "lab"))


def test_leader_lease(site, cluster, leader_lease_name, conformance):
    """The controller-manager and the scheduler each have a leader on a server that renews its lease."""
    conformance.check(checks.leader_lease(site, leader_lease_name, cluster.list("Lease"), time.time()))
