"""The embedded lab as a target: a live target whose inventory the lab writes, reachable only inside it.

Imported only in lab mode (``make_target``), so the plugin never loads the lab package otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import TargetError
from ..lab.probe import LAB_AGENT
from ..lab.state import default_lab_state
from ..lab.topology import WAN_LINK
from ..probes.prober import Prober, Vantage
from ..safety import current_lab_netns, require_lab_netns
from ..site.schema import Inventory, Site
from .live import LiveTarget


class LabTarget(LiveTarget):
    """The embedded lab: a live target whose inventory the lab writes, reachable only from inside it."""

    name = "lab"

    def __init__(self, site: Site, state_dir: Path | None = None):
        self.state_dir = state_dir = state_dir or default_lab_state()
        inventory, namespaces, problem = self._lab_inventory(state_dir)

        def guard(address: str) -> None:
            require_lab_netns(address, namespaces)

        super().__init__(site, inventory, guard=guard)
        self._problem = problem

    @staticmethod
    def _lab_inventory(state_dir: Path) -> tuple[Inventory | None, list[str], str | None]:
        state = state_dir / "lab.json"
        if not state.exists():
            return None, [], f"the lab is not running (no {state}); start it with `zengarden lab up`"
        try:
            data = json.loads(state.read_text(encoding="utf-8"))
            return Inventory.model_validate(data["inventory"]), list(data.get("namespaces", [])), None
        except (ValueError, KeyError) as exc:
            return None, [], f"lab state {state} is unreadable ({exc}); run `zengarden lab up` again"

    def prober(self) -> Prober:
        if self._problem is not None:
            raise TargetError("lab", self._problem)
        data = json.loads((self.state_dir / "lab.json").read_text(encoding="utf-8"))
        probes = data.get("probes")
        if not probes:
            raise TargetError("lab", f"{self.state_dir / 'lab.json'} has no 'probes': the lab has no vantage points")
        vantages = {seg: Vantage(seg, p["address"], netns=p["netns"]) for seg, p in probes.items()}
        routers = [str(s.router_address) for s in self.site.segments.values() if s.router_address is not None]
        routers.append(str(WAN_LINK.network_address + 1))
        return Prober(vantages, list(data.get("namespaces", [])), routers, netns_agent=LAB_AGENT)

    def _need(self, section: str) -> Any:
        if self._problem is not None:
            raise TargetError("lab", self._problem)
        if getattr(self.inventory, section) is None:
            # The lab is the system under test: a part it does not provide is an error, never a skip.
            raise TargetError(
                "lab",
                f"{self.state_dir / 'lab.json'} has no inventory.{section}: the running lab does not provide "
                f"{section} access; bring it up again with `zengarden lab up`",
            )
        return super()._need(section)


def lab_outside(state_dir: Path | None = None) -> str | None:
    """The management segment of a running lab this process is *outside* of, else ``None``.

    Lab checks reach lab addresses only from inside the lab's namespaces (:mod:`pytest_zengarden.safety`); a run
    started elsewhere while the lab is up can only error, check by check, so the plugin stops it instead.
    """
    state = (state_dir or default_lab_state()) / "lab.json"
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no lab up (or unreadable state): the checks report that themselves
    if not isinstance(data, dict) or not data.get("management_netns"):
        return None
    namespaces = [str(n) for n in data.get("namespaces", [])]
    if current_lab_netns(namespaces) is not None:
        return None
    # `zengarden lab exec` takes the segment's name: the one whose vantage namespace is management's.
    probes = data.get("probes") or {}
    return str(next((seg for seg, p in probes.items() if p.get("netns") == data["management_netns"]), "management"))
