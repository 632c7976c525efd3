"""What real packets did, judged against the design and against the configuration (pure).

``observed_flow``: the probes of a matrix row reached their target exactly when the design allows the
row.  ``differential``: each probe showed what the router's configuration predicts (the evaluator's
request and reply outcomes) -- a disagreement means the data plane does not do what the configuration
says, whichever of the two the design agrees with.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..analysis.firewall_eval import Firewall
from ..analysis.matrix import MatrixRow
from ..probes.plan import Observation, observed, predict
from ..site.schema import Site
from .findings import Finding

EXPECTED = {"allow": "accept", "deny": "drop"}
_MAX_LINES = 4


def _join(lines: list[str]) -> str:
    more = [f"... and {len(lines) - _MAX_LINES} more"] if len(lines) > _MAX_LINES else []
    return "\n".join(lines[:_MAX_LINES] + more)


def _label(o: Observation) -> str:
    p = o.probe
    return f"{p.src} -> {p.dst} {p.protocol.value}/{p.port}"


def sent(observations: Sequence[Observation]) -> list[Observation]:
    return [o for o in observations if o.result != "skipped"]


def observed_flow(row: MatrixRow, observations: Sequence[Observation]) -> Finding:
    """The row's probes reached their targets if and only if the design allows the row."""
    probes = sent(observations)
    if not probes:
        raise ValueError(f"no probe was sent for {row.flow_id}")
    want_reach = row.decision.verdict == "allow"
    lines = []
    for o in probes:
        got = observed(o.result, o.listened)
        if got == "error":
            lines.append(f"{_label(o)}: the probe failed: {o.detail}")
        elif (got == "reached") != want_reach:
            what = "reached the target" if got == "reached" else f"was {got}"
            lines.append(f"{_label(o)}: expected {EXPECTED[row.decision.verdict]}, the probe {what} ({o.describe()})")
    ok = not lines
    ports = ",".join(str(o.probe.port) for o in probes)
    message = (
        f"{len(probes)} probe(s) on port(s) {ports}: {'reached' if want_reach else 'stopped'} as designed"
        if ok
        else _join(lines)
    )
    return Finding(row.decision.control, row.decision.section, row.flow_id, ok, message)


def differential(site: Site, fw: Firewall, row: MatrixRow, observations: Sequence[Observation]) -> Finding:
    """Each probe of the row showed what the configuration predicts (flow by flow)."""
    probes = sent(observations)
    if not probes:
        raise ValueError(f"no probe was sent for {row.flow_id}")
    lines = []
    for o in probes:
        prediction = predict(site, fw, o.probe, o.src_addr, o.dst_addr)
        got = observed(o.result, o.listened)
        if got == "error":
            lines.append(f"{_label(o)}: the probe failed: {o.detail}")
        elif got != prediction.expect:
            lines.append(
                f"{_label(o)}: {prediction.describe()}, so the probe should be {prediction.expect}, "
                f"but it was {o.result} ({o.detail})"
            )
    ok = not lines
    message = f"{len(probes)} probe(s) agree with the configuration" if ok else _join(lines)
    return Finding(row.decision.control, row.decision.section, row.flow_id, ok, message)
