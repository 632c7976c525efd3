"""Converge the blades' files: k3s config, Pod Security admission, audit policy, sysctls.

Content-compared (a file already saying what the site says is not rewritten), written atomically over
SSH (temp file and rename, mode and owner kept), and the service that reads a file restarted only when
its input changed, one blade at a time (``systemctl restart`` returns once k3s is up again), so the
API and etcd keep their quorum through a rolling change.

Sysctl files are written, not applied: ``sysctl --system`` on a lab blade would change the lab
machine's own kernel (``vm.*`` is not per network namespace); on a real blade they apply at boot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ..desired.hosts import k3s_config_text, server_files, sysctl_text
from ..errors import TargetError
from ..facts.host import AUDIT_POLICY, K3S_CONFIG, PSA_CONFIG
from ..site.schema import Role, Site
from .journal import Journal
from .plan import Change, Outcome, Plan

SYSCTL_FILE = "/etc/sysctl.d/90-kubelet.conf"
RESTART_LIMIT_S = 120.0


@dataclass(frozen=True)
class BladeFile:
    path: str
    text: str
    mode: int
    control: str
    service: str | None  # the unit restarted when this file changes


def desired_files(site: Site, blade: str) -> list[BladeFile]:
    spec = site.blades[blade]
    server = Role.CONTROL_PLANE in spec.roles
    unit = "k3s" if server else "k3s-agent"
    out = [BladeFile(K3S_CONFIG, k3s_config_text(site, blade), 0o600, site.cluster.apiserver.control, unit)]
    if server:
        controls = {PSA_CONFIG: site.cluster.pod_security.control, AUDIT_POLICY: site.cluster.apiserver.control}
        for path, text in server_files(site).items():
            out.append(BladeFile(path, text, 0o600, controls.get(path, site.cluster.control), "k3s"))
    out.append(BladeFile(SYSCTL_FILE, sysctl_text(), 0o644, spec.control, None))
    return out


def _yaml_keys_changed(old: str, new: str) -> int | None:
    try:
        a, b = yaml.safe_load(old), yaml.safe_load(new)
    except yaml.YAMLError:
        return None
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    return sum(1 for k in set(a) | set(b) if a.get(k) != b.get(k))


def plan_blade(site: Site, blade: str, current: Mapping[str, str | None]) -> Plan:
    """The writes and restarts ``blade`` needs; ``current``: path -> text (``None``: absent)."""
    plan = Plan(blade)
    restart: dict[str, str] = {}
    for f in desired_files(site, blade):
        have = current.get(f.path)
        if have == f.text:
            continue
        if have is None:
            op, detail = "+", ""
        else:
            n = _yaml_keys_changed(have, f.text) if f.path.endswith((".yaml", ".yml")) else None
            op, detail = "~", f"{n} keys" if n else "content"
        plan.changes.append(Change(blade, op, f.path, f.control, detail, ("write", f)))
        if f.service:
            restart.setdefault(f.service, f.control)
    for unit, control in restart.items():
        plan.changes.append(
            Change(blade, "~", f"service {unit} restart", control, "its configuration changed", ("restart", unit))
        )
    return plan


def read_blade(host: Any, site: Site, blade: str) -> dict[str, str | None]:
    """Every file the site writes on ``blade``, in one read."""
    got: dict[str, str | None] = host.read_files([f.path for f in desired_files(site, blade)])
    return got


def apply_blade(host: Any, plan: Plan, journal: Journal, say: Callable[[str], None] = lambda _: None) -> Outcome:
    """Write every changed file (one SSH command, each file atomically), then restart what reads them."""
    outcome = Outcome(plan)
    start = time.monotonic()
    writes = [c for c in plan.changes if c.action[0] == "write"]
    restarts = [c for c in plan.changes if c.action[0] == "restart"]
    try:
        if writes:
            host.write_files([(c.action[1].path, c.action[1].text, c.action[1].mode) for c in writes])
            outcome.applied.extend(writes)
            outcome.writes += len(writes)
        for change in restarts:
            unit = change.action[1]
            say(f"{plan.target}: systemctl restart {unit}")
            # systemctl returns once k3s is up again (Type=notify): bounded, but well beyond a normal start.
            host.run_checked(f"systemctl restart {unit}", f"systemctl restart {unit}", limit=RESTART_LIMIT_S)
            outcome.applied.append(change)
            outcome.writes += 1
    except TargetError as exc:
        outcome.error = f"{plan.target}: {exc.cause}"
    journal.record(plan.target, "applied" if outcome.error is None else "failed",
                   [c.line() for c in outcome.applied], outcome.error or "")  # fmt: skip
    outcome.seconds = time.monotonic() - start
    return outcome
