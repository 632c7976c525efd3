"""Router configuration: gateways, interface lists, services, NAT and the internal DNS records.

Design: Layer 1 (network topology, segmentation), Trust Boundary 1, Defense in Depth / Network,
DNS Management.  Each check names the site element (and so the control) it verifies.
"""

import pytest

from pytest_zengarden.checks import firewall as checks_fw
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


@pytest.mark.network
def test_router_access(site, router, firewall, router_access, conformance):
    """What each segment can reach on the router itself: the input chain and /ip/service together."""
    statement = next(s for a, s in checks_fw.accesses(site) if a == router_access)
    conformance.check(checks_fw.router_access(site, firewall, router.config, router_access, statement))


def test_tls_services(site, router, conformance):
    """API-SSL and www-ssl present the site's certificate; the plugin itself talks TLS to the router."""
    conformance.check(checks_fw.tls_services(site, router.config))


@pytest.mark.network
def test_wan_inbound(site, router, firewall, conformance):
    """The WAN drops new connections that were not destination-NATed, and nothing is destination-NATed."""
    conformance.check(checks_fw.wan_inbound(site, firewall, router.config))
