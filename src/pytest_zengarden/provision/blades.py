"""Converge the blades' files: k3s config, Pod Security admission, audit policy, sysctls.

Content-compared (a file already saying what the site says is not rewritten), written atomically over
SSH (temp file and rename, mode and owner kept), and the service that reads a file restarted only when
its input changed, one blade at a time (``systemctl restart`` returns once k3s is up again), so the
API and etcd keep their quorum through a rolling change.

The sysctl file, when changed, is applied with ``sysctl -p FILE`` (a lab blade has stand-ins for those
keys in its own mount namespace, so this never changes the lab machine's kernel); the sshd drop-in,
when changed, is validated (``sshd -t``) and sshd reloaded, unless that would lock out the session's
own root login.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from ..desired.hosts import k3s_config_text, server_files, sshd_dropin_text, sysctl_text
from ..errors import TargetError
from ..facts.etcd import SnapshotDir, newest_snapshot, snapshot_time
from ..facts.host import AUDIT_POLICY, K3S_CONFIG, PSA_CONFIG
from ..site.schema import EtcdSnapshots, Role, Site
from .journal import Journal
from .plan import Change, Outcome, Plan

SYSCTL_FILE = "/etc/sysctl.d/90-kubelet.conf"
SNAPSHOT_SAVE = "k3s etcd-snapshot save"
RELOAD_SSH = "/usr/sbin/sshd -t && systemctl reload ssh"  # k3s's on-demand snapshot, into etcd-snapshot-dir
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
    hard = site.cluster.node_hardening
    out.append(BladeFile(SYSCTL_FILE, sysctl_text(site), 0o644, hard.kernel.control, "sysctl"))
    out.append(BladeFile(hard.sshd.drop_in, sshd_dropin_text(site), 0o644, hard.sshd.control, "ssh"))
    return out


def service_command(unit: str, site: Site) -> tuple[str, str]:
    """What makes a changed file take effect: (command, what the plan line says)."""
    if unit == "sysctl":
        return f"sysctl -q -p {SYSCTL_FILE}", "sysctl -p"
    if unit == "ssh":
        drop_in = site.cluster.node_hardening.sshd.drop_in
        # A root session (not through sudo) about to forbid root login would lock itself out: refuse.
        guard = (
            f'if [ "$(id -u)" = 0 ] && [ -z "${{SUDO_USER:-}}" ] && grep -qi "^PermitRootLogin no" {drop_in}; then '
            "echo 'refusing to reload sshd: this session logs in as root and the drop-in forbids root login "
            "(log in as a user with sudo)' >&2; exit 1; fi"
        )
        # sshd re-executes itself on reload and listens on new sockets: until then a new connection is refused.
        # Wait (bounded) until its listening sockets are new ones, so whatever connects next finds it serving.
        ports = "ss -Hltne '( sport = :ssh )' | grep -o 'ino:[0-9]*' | sort | tr '\\n' ' '"
        settle = (
            f"before=$({ports}); {{ {RELOAD_SSH}; }} && for i in $(seq 1 100); do now=$({ports}); "
            '[ -n "$now" ] && [ "$now" != "$before" ] && exit 0; sleep 0.05; done; '
            "echo 'sshd did not listen again within 5s of its reload' >&2; exit 1"
        )
        return f"{guard}; {settle}", "reload"
    return f"systemctl restart {unit}", "restart"


def _yaml_keys_changed(old: str, new: str) -> int | None:
    try:
        a, b = yaml.safe_load(old), yaml.safe_load(new)
    except yaml.YAMLError:
        return None
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    return sum(1 for k in set(a) | set(b) if a.get(k) != b.get(k))


def snapshot_needed(site: Site, blade: str, listing: SnapshotDir | None) -> str | None:
    """Why an etcd member needs an on-demand snapshot now (none younger than the site's maximum age), else None."""
    if blade not in site.cluster.etcd.members:
        return None
    max_age = snapshot_policy(site).max_age_hours
    newest = newest_snapshot(listing, blade)
    if newest is None:
        return "it has none"
    age_h = ((listing.now if listing else 0.0) - snapshot_time(newest)) / 3600
    return f"its newest is {age_h:.0f} h old" if age_h > max_age else None


def snapshot_policy(site: Site) -> EtcdSnapshots:
    e = site.cluster.etcd
    return e.snapshots or EtcdSnapshots(control=e.control, section=e.section)


def plan_blade(
    site: Site, blade: str, current: Mapping[str, str | None], snapshots: SnapshotDir | Literal[False] | None = False
) -> Plan:
    """The writes and restarts ``blade`` needs; ``current``: path -> text (``None``: absent).

    ``snapshots``: an etcd member's snapshot directory as listed (``None``: absent; ``False``: not read).
    A member with no snapshot younger than the site's maximum age gets one on demand, after its restart.
    """
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
    # Kernel values first (a kubelet protecting kernel defaults refuses to start without them), sshd last.
    order = {"sysctl": 0, "ssh": 2}
    for unit, control in sorted(restart.items(), key=lambda item: order.get(item[0], 1)):
        command, verb = service_command(unit, site)
        plan.changes.append(
            Change(
                blade, "~", f"service {unit} {verb}", control, "its configuration changed", ("restart", unit, command)
            )
        )
    why = snapshot_needed(site, blade, snapshots) if isinstance(snapshots, SnapshotDir) or snapshots is None else None
    if why is not None:
        control = snapshot_policy(site).control
        action = ("restart", "etcd-snapshot", SNAPSHOT_SAVE)
        # After k3s's restart (its etcd serving again), before sshd's reload (which comes last).
        at = next((i for i, c in enumerate(plan.changes) if c.action[:2] == ("restart", "ssh")), len(plan.changes))
        plan.changes.insert(at, Change(blade, "+", "etcd snapshot (on demand)", control, why, action))
    return plan


def read_blade(host: Any, site: Site, blade: str) -> dict[str, str | None]:
    """Every file the site writes on ``blade``, in one read."""
    got: dict[str, str | None] = host.read_files([f.path for f in desired_files(site, blade)])
    return got


def read_snapshots(host: Any, site: Site, blade: str) -> SnapshotDir | Literal[False] | None:
    """An etcd member's snapshot directory (one listing); ``False`` for a blade that is not a member."""
    if blade not in site.cluster.etcd.members:
        return False
    listing: SnapshotDir | None = host.list_dir(snapshot_policy(site).dir)
    return listing


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
            command = change.action[2] if len(change.action) > 2 else f"systemctl restart {unit}"
            doing = command if unit not in ("ssh", "sysctl") else f"{unit}: {change.subject.split()[-1]}"
            if unit == "etcd-snapshot":
                doing = command
            say(f"{plan.target}: {doing}")
            # systemctl returns once k3s is up again (Type=notify): bounded, but well beyond a normal start.
            host.run_checked(command, doing, limit=RESTART_LIMIT_S)
            outcome.applied.append(change)
            outcome.writes += 1
    except TargetError as exc:
        outcome.error = f"{plan.target}: {exc.cause}"
    journal.record(plan.target, "applied" if outcome.error is None else "failed",
                   [c.line() for c in outcome.applied], outcome.error or "")  # fmt: skip
    outcome.seconds = time.monotonic() - start
    return outcome
