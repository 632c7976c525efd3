"""The router's firewall against the design's flow matrix, exhaustively (configuration only).

Design: Layer 1 (Network Segmentation table, Firewall Strategy), Security / Trust Boundary 1 (MikroTik
Firewall), Defense in Depth / Network.  Each ``test_flow`` case is one row of the expected matrix
(``home->cluster:tcp/81-442``): every address of both segments, every source port, the row's ports.
A deviation names the rule that decided it.  What packets do is checked by ``test_firewall_probes.py``.
"""

import pytest

from pytest_zengarden.checks import firewall as checks
from pytest_zengarden.checks import ipv6

pytestmark = [pytest.mark.network, pytest.mark.router]


def test_flow(site, firewall, flow, conformance):
    """Each row of the flow matrix: the forward chain decides it as the design does."""
    conformance.check(checks.flow(site, firewall, flow))


def test_other_protocols(site, firewall, other_protocols, conformance):
    """GRE, ESP, SCTP and every protocol the matrix rows leave out, as the design's any-protocol statements say."""
    conformance.check(checks.other_flow(site, firewall, other_protocols))


def test_no_inbound(site, firewall, protected_segment, conformance):
    """A segment the design closes to all others (management) accepts no new connection from any of them."""
    conformance.check(checks.no_inbound(site, firewall, protected_segment))


def test_ipv6_segmentation(site, router, ipv6_pair, conformance):
    """IPv6 is no way around the matrix: off between the pair, or its forward chain denies what the matrix denies."""
    conformance.check(ipv6.segmentation(site, router.config, ipv6_pair))


def test_address_lists(site, firewall, conformance):
    """Every address list a filter rule uses is defined (an undefined one silently matches nothing)."""
    conformance.check(checks.address_lists(site, firewall))
