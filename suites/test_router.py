"""Router configuration: gateways, interface lists, services, NAT and the internal DNS records.

Design: Layer 1 (network topology, segmentation), Trust Boundary 1, Defense in Depth / Network,
DNS Management.  Each check names the site element (and so the control) it verifies.
"""

import pytest

from pytest_zengarden.checks import router as checks

pytestmark = pytest.mark.router


@pytest.mark.network
def test_gateway(site, router, gateway_segment, conformance):
    """The router holds each segment's gateway address on the segment's interface."""
    conformance.check(checks.segment_address(site, gateway_segment, router.config))


@pytest.mark.network
def test_interface_list(site, router, interface_list_name, conformance):
    """LAN and WAN interface lists contain exactly the designed interfaces."""
    conformance.check(checks.interface_list(site, interface_list_name, router.config))


def test_service(site, router, router_service, conformance):
    """Each /ip/service entry is on or off as designed and reachable only from its segments."""
    conformance.check(checks.service(site, router_service, router.config))


@pytest.mark.network
@pytest.mark.control_from("router.nat")
def test_nat_masquerade(site, router, conformance):
    """Source NAT masquerades only towards the WAN."""
    conformance.check(checks.nat_masquerade(site, router.config))


@pytest.mark.dns
def test_dns_record(router, dns_record, conformance):
    """The router serves the blade records and the internal ingress hosts at their VIPs."""
    conformance.check(checks.dns_record(dns_record, router.config))
