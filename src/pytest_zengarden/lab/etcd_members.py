"""Stopping etcd members for a deviation, and waiting until the survivors have settled (bounded).

After members stop, raft needs an election timeout or two to notice: until then a survivor may still name a
stopped leader.  `lab up` returns only once the cluster is in the state the deviation asks for: with a
quorum left, every survivor names the same survivor as leader; without one, every survivor knows no leader.
"""

from __future__ import annotations

import json
import time

from .controlplane import ETCD_ELECTION_MS, ControlPlanePlan, etcd_request
from .netns import LabError


def leaders(plan: ControlPlanePlan, members: list[str]) -> dict[str, str]:
    """Each member's view of the leader (its name; "" for none, "?" when it does not answer its status)."""
    ids: dict[str, str] = {}
    views: dict[str, str] = {}
    for m in members:
        status, body = etcd_request(plan, m, "/v3/maintenance/status")
        if status != 200:
            views[m] = "?"
            continue
        doc = json.loads(body)
        ids[str(doc.get("header", {}).get("member_id"))] = m
        views[m] = str(doc.get("leader") or "0")
    # A leader id no survivor has is a stopped member's: "?" (not settled yet).
    return {m: "" if v == "0" else ids.get(v, "?") for m, v in views.items()}


def wait_settled(plan: ControlPlanePlan, survivors: list[str], seconds: float | None = None) -> dict[str, str]:
    """Wait until the survivors agree on a surviving leader (quorum left) or all know none (quorum lost)."""
    quorum = len(plan.etcd) // 2 + 1
    # Noticing a lost leader takes an election timeout, electing a new one about another.
    deadline = time.monotonic() + (seconds if seconds is not None else 6 * ETCD_ELECTION_MS / 1000)
    views: dict[str, str] = {}
    while time.monotonic() < deadline:
        views = leaders(plan, survivors)
        named = set(views.values())
        if len(survivors) >= quorum and len(named) == 1 and next(iter(named)) in survivors:
            return views
        if len(survivors) < quorum and named == {""}:
            return views
        time.sleep(0.5)
    raise LabError(f"etcd did not settle after stopping members: survivors' leaders {views}")
