"""The embedded lab as a target: a live target whose inventory the lab writes, reachable only inside it.

Imported only in lab mode (``make_target``), so the plugin never loads the lab package otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import TargetError, TargetUnavailable
from ..lab.state import default_lab_state
from ..lab.topology import WAN_LINK
from ..probes.prober import Prober, Vantage
from ..safety import require_lab_netns
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
            raise TargetUnavailable("the lab has no probe vantage points (lab.json has no 'probes')")
        vantages = {seg: Vantage(seg, p["address"], netns=p["netns"]) for seg, p in probes.items()}
        routers = [str(s.router_address) for s in self.site.segments.values() if s.router_address is not None]
        routers.append(str(WAN_LINK.network_address + 1))
        return Prober(vantages, list(data.get("namespaces", [])), routers)

    def _need(self, section: str) -> Any:
        if self._problem is not None:
            raise TargetError("lab", self._problem)
        if getattr(self.inventory, section) is None:
            # The lab grows part by part; what it does not run yet is skipped, with the reason, not failed.
            raise TargetUnavailable(f"the lab does not provide {section} access yet")
        return super()._need(section)
