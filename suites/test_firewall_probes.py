"""What packets do: real connections between segments, against the design and against the configuration.

Design: Layer 1 (Network Segmentation, Firewall Strategy), Security / Trust Boundary 1.  One probe
per sampled port of each TCP/UDP row of the flow matrix, from a vantage point in the source segment
(a lab namespace, or a host on a live site) to a target in the destination segment, all sent at once
when the first of these checks runs.  ``test_flow_probed`` judges what came back against the design;
``test_flow_agrees`` against what the router's own configuration predicts (the evaluator).
"""

import pytest

from pytest_zengarden.checks import probes as checks
from pytest_zengarden.errors import TargetError

pytestmark = [pytest.mark.network, pytest.mark.probe]


def _sent(flow_observations, row):
    """The row's probes that were sent; none sent means nothing to judge, which errors (never skips)."""
    observations = flow_observations.get(row.flow_id, [])
    if not checks.sent(observations):
        reasons = sorted({o.detail for o in observations}) or ["no probe planned"]
        raise TargetError(
            f"probes for {row.flow_id}", f"none sent from this target's vantage points ({'; '.join(reasons)})"
        )
    return observations


def test_flow_probed(flow_observations, probed_flow, conformance):
    """Probes reach their target exactly where the design allows the flow."""
    conformance.check(checks.observed_flow(probed_flow, _sent(flow_observations, probed_flow)))


def test_flow_agrees(site, firewall, flow_observations, probed_flow, conformance):
    """Every probe shows what the router's configuration predicts (the data plane enforces the config)."""
    conformance.check(checks.differential(site, firewall, probed_flow, _sent(flow_observations, probed_flow)))
