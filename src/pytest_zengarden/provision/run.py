"""One provisioning run over a target: router, then blades, then cluster; plan, and apply unless asked not to.

Each target is read once, planned, and (``apply``) changed; a failure on one target is reported with
the exact remaining work and does not stop the others (a blade's file does not depend on the router).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..desired.router import Records, desired_router, menu_controls
from ..errors import ReadOnlyTarget, ZengardenError
from ..site.schema import Site
from .blades import apply_blade, plan_blade, read_blade, read_snapshots
from .cluster import ClusterWriter, api_cause, apply_cluster, plan_cluster, read_cluster
from .journal import Journal
from .ownership import Ownership
from .plan import Change, Outcome, Plan
from .router_apply import CountingClient, apply_router, prove_management, read_menus
from .router_plan import plan_router

TABLES = {"filter": "/ip/firewall/filter", "nat": "/ip/firewall/nat"}


@dataclass
class Overrides:
    """What the lab converges to instead of the site alone (its deviations, applied on top)."""

    router: Records | None = None
    cluster_extra: list[dict[str, Any]] = field(default_factory=list)


def _failed(target: str, error: str) -> Outcome:
    out = Outcome(Plan(target))
    out.error = error
    out.unreachable = True
    return out


def provision_router(
    site: Site,
    target: Any,
    *,
    apply: bool,
    journal: Journal,
    say: Callable[[str], None],
    desired: Records | None = None,
) -> Outcome:
    if not hasattr(target, "router_client"):
        raise ReadOnlyTarget(f"--provision needs a live or lab target; {target.name} cannot be changed")
    transport = target.router_transport()
    if apply and transport == "rest":
        # Safe Mode exists only on the binary API: provision over API-SSL with the same credentials.
        transport = "api-ssl"

    def connect() -> Any:
        return target.router_client(transport)

    start = time.monotonic()
    client = CountingClient(connect())
    try:
        wanted = desired if desired is not None else desired_router(site)
        current = read_menus(client, wanted)
        remove = {TABLES[t]: chains for t, chains in site.router.remove_unmanaged.items()}
        where = journal.path.parent / "provision-ownership.json" if journal.path is not None else None
        ownership = Ownership(where, f"{site.name}/{site.router.address}")
        plan = plan_router(
            wanted, current, remove_unmanaged=remove, controls=menu_controls(site), owned=ownership.entries
        )
        plan.reads = client.reads
        if not apply or not plan.changes:
            out = Outcome(plan, reads=client.reads)
        else:
            problem = prove_management(connect)
            if problem is not None:
                return _failed(
                    "router",
                    f"refusing to change the router: a second, independent connection fails ({problem})",
                )
            out = apply_router(client, plan, connect=connect, journal=journal, say=say, ownership=ownership)
            out.reads = client.reads
    finally:
        with contextlib.suppress(Exception):
            client.close()
    out.seconds = time.monotonic() - start
    return out


def provision_blades(
    site: Site, target: Any, *, apply: bool, journal: Journal, say: Callable[[str], None]
) -> dict[str, Outcome]:
    """Read and plan every blade at once (one SSH read each, in parallel); apply one blade at a time,
    servers first, so a restart never takes more than one API server away."""
    names = sorted(site.blades, key=lambda b: (b not in site.cluster.control_plane, b))

    def read(name: str) -> tuple[Any, Plan, float]:
        start = time.monotonic()
        host = target.blade(name)
        current = read_blade(host, site, name)
        snapshots = read_snapshots(host, site, name)
        plan = plan_blade(site, name, current, snapshots)
        plan.reads = 1 if snapshots is False else 2
        return host, plan, time.monotonic() - start

    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        reads = {name: pool.submit(read, name) for name in names}
        outcomes: dict[str, Outcome] = {}
        ready: dict[str, tuple[Any, Plan, float]] = {}
        for name in names:
            try:
                ready[name] = reads[name].result()
            except ZengardenError as exc:
                outcomes[name] = _failed(name, str(exc))

        def converge(name: str) -> Outcome:
            host, plan, seconds = ready[name]
            start = time.monotonic()
            out = apply_blade(host, plan, journal, say) if apply and plan.changes else Outcome(plan)
            out.reads = plan.reads
            out.seconds = seconds + time.monotonic() - start
            return out

        # Agents restart nothing the API needs: all at once, beside the servers, which go one at a time.
        servers = [n for n in names if n in ready and n in site.cluster.control_plane]
        agents = {n: pool.submit(converge, n) for n in names if n in ready and n not in site.cluster.control_plane}
        for name in servers:
            outcomes[name] = converge(name)
        for name, future in agents.items():
            outcomes[name] = future.result()
    return {name: outcomes[name] for name in names}


def provision_cluster(
    site: Site,
    target: Any,
    *,
    apply: bool,
    journal: Journal,
    say: Callable[[str], None],
    extra: Sequence[Mapping[str, Any]] = (),
) -> Outcome:
    start = time.monotonic()
    reader = target.cluster()
    writer = ClusterWriter(reader.api_client, reader.timeout, reader.endpoint, reader.cache_dir)
    try:
        current = read_cluster(writer, site)
    except ZengardenError:
        raise
    except Exception as exc:  # what the kubernetes client lets out, mapped to its HTTP status
        return _failed("cluster", f"{reader.endpoint}: reading the cluster failed: {api_cause(exc)}")
    plan = plan_cluster(site, current)
    for obj in extra:
        meta = obj["metadata"]
        plan.changes.append(
            Change(
                "cluster", "~", f"{obj['kind']} {meta['name']}", "LAB-DEVIATION", "lab deviation", ("apply", dict(obj))
            )
        )
    plan.reads = writer.reads
    out = apply_cluster(writer, plan, journal, say) if apply and plan.changes else Outcome(plan)
    out.reads = writer.reads
    out.seconds = time.monotonic() - start
    return out


def provision(
    site: Site,
    target: Any,
    *,
    apply: bool,
    journal: Journal,
    say: Callable[[str], None] = lambda _: None,
    overrides: Overrides | None = None,
    parts: Sequence[str] = ("router", "blades", "cluster"),
) -> dict[str, Outcome]:
    """Plan (and with ``apply`` converge) each part of the site; outcomes by target name."""
    overrides = overrides or Overrides()
    out: dict[str, Outcome] = {}
    if "router" in parts:
        try:
            out["router"] = provision_router(
                site, target, apply=apply, journal=journal, say=say, desired=overrides.router
            )
        except ZengardenError as exc:
            out["router"] = _failed("router", str(exc))
    if "blades" in parts:
        out.update(provision_blades(site, target, apply=apply, journal=journal, say=say))
    if "cluster" in parts:
        try:
            out["cluster"] = provision_cluster(
                site, target, apply=apply, journal=journal, say=say, extra=overrides.cluster_extra
            )
        except ZengardenError as exc:
            out["cluster"] = _failed("cluster", str(exc))
    return out


def report(outcomes: Mapping[str, Outcome], apply: bool) -> list[str]:
    """The terminal summary: per target, the plan lines, what was applied, and the counts."""
    lines = []
    for name, o in outcomes.items():
        verb = "applied" if apply else "would apply"
        n = len(o.applied) if apply else len(o.plan.changes)
        status = f"ERROR: {o.error}" if o.error else f"{n} change(s) {verb}"
        lines.append(f"{name}: {status}; {o.reads} reads, {o.writes} writes, {o.seconds:.2f}s")
        for c in o.plan.changes:
            mark = "" if not apply else ("  (applied)" if c in o.applied else "  (NOT applied)")
            lines.append(f"  {c.line()}{mark}")
        lines.extend(f"  note: {n}" for n in o.plan.notes)
    return lines
