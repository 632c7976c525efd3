"""Apply a router plan over the binary API inside RouterOS Safe Mode, batch by batch, lockout-safe.

Each batch (at most :data:`BATCH` actions: RouterOS silently leaves Safe Mode past 100) runs between
``/safe-mode/take`` and ``release``.  Should the session die mid-batch (the run is killed, the link
drops), RouterOS reverts the batch by itself.  After a batch, the management path is proven on a *new*
connection (the existing one survives a firewall change that locks everyone else out); if that fails,
or the router refuses an entry, the batch is unrolled and the run stops naming the entry and the cause.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..errors import TargetError, ZengardenError
from ..redaction import SENSITIVE_PROPERTIES
from .journal import Journal
from .ownership import Ownership
from .plan import Change, Outcome, Plan, ProvisionError
from .router_plan import RouterAction, fingerprint

LOG = logging.getLogger(__name__)
BATCH = 90  # actions per Safe Mode session; RouterOS drops Safe Mode past 100
WRITES = ("add", "set", "set_singleton", "unset", "remove", "move")


class CountingClient:
    """A router client that counts its calls: reads (``print``) and writes (everything that changes)."""

    def __init__(self, client: Any):
        self.client = client
        self.endpoint = client.endpoint
        self.reads = 0
        self.writes = 0

    def print(self, menu: str) -> list[dict[str, str]]:
        self.reads += 1
        rows: list[dict[str, str]] = self.client.print(menu)
        return rows

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if name in WRITES:

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.writes += 1
                return attr(*args, **kwargs)

            return counted
        return attr


def read_menus(client: CountingClient, menus: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """One ``print`` per menu, never one per object."""
    return {menu: client.print(menu) for menu in menus}


def batches(changes: Sequence[Change], size: int = BATCH) -> list[list[Change]]:
    return [list(changes[i : i + size]) for i in range(0, len(changes), size)]


def _resolve(ref: str, ids: Mapping[str, str]) -> str:
    if ref.startswith("id:"):
        return ref[3:]
    if ref not in ids:
        raise ProvisionError(f"internal: {ref} was never created")
    return ids[ref]


def _execute(client: CountingClient, action: RouterAction, ids: dict[str, str]) -> None:
    if action.kind == "add":
        props = dict(action.props)
        if action.before is not None:
            props["place-before"] = _resolve(action.before, ids)
        new_id = client.add(action.menu, props)
        assert action.new is not None
        ids[action.new] = new_id
    elif action.kind == "set":
        if action.refs:
            client.set(action.menu, _resolve(action.refs[0], ids), action.props)
        else:
            client.set_singleton(action.menu, action.props)
    elif action.kind == "unset":
        client.unset(action.menu, _resolve(action.refs[0], ids), action.names)
    elif action.kind == "remove":
        client.remove(action.menu, *(_resolve(r, ids) for r in action.refs))
    elif action.kind == "move":
        dest = _resolve(action.before, ids) if action.before else ""
        client.move(action.menu, [_resolve(r, ids) for r in action.refs], dest)
    else:  # pragma: no cover - the planner makes no other kind
        raise ProvisionError(f"internal: unknown action {action.kind}")


def prove_management(connect: Callable[[], Any]) -> str | None:
    """Open a new connection and read from it; ``None`` if the router answers, else why not."""
    try:
        probe = connect()
    except ZengardenError as exc:
        return str(exc)
    try:
        probe.print("/system/identity")
    except ZengardenError as exc:
        return str(exc)
    finally:
        with contextlib.suppress(Exception):
            probe.close()
    return None


def apply_router(
    client: CountingClient,
    plan: Plan,
    *,
    connect: Callable[[], Any],
    journal: Journal,
    say: Callable[[str], None] = lambda _: None,
    batch_size: int = BATCH,
    ownership: Ownership | None = None,
) -> Outcome:
    """Apply ``plan`` in Safe Mode batches; stops at the first refused or locking-out batch, rolled back."""
    outcome = Outcome(plan)
    if not plan.changes:
        return outcome
    for needed in ("safe_mode_take", "safe_mode_release", "safe_mode_unroll"):
        if not hasattr(client.client, needed):
            raise ProvisionError(
                f"{client.endpoint}: provisioning needs RouterOS Safe Mode, which only the binary API offers; "
                "set inventory.router.transport to api-ssl (or api)"
            )
    ids: dict[str, str] = {}
    start = time.monotonic()
    groups = batches(plan.changes, batch_size)
    for n, batch in enumerate(groups, 1):
        say(f"router: batch {n}/{len(groups)} ({len(batch)} changes) in Safe Mode")
        client.safe_mode_take()
        failed: str | None = None
        for change in batch:
            try:
                _execute(client, change.action, ids)
            except TargetError as exc:
                sent = " ".join(
                    f"{k}={'***' if k in SENSITIVE_PROPERTIES else v}" for k, v in change.action.props.items()
                )
                failed = f"the router refused `{change.line().strip()}` ({sent or change.action.kind}): {exc.cause}"
                break
        if failed is None:
            problem = prove_management(connect)
            if problem is not None:
                failed = f"after batch {n} the router no longer answers a new management connection ({problem})"
        if failed is not None:
            client.safe_mode_unroll()
            journal.record("router", "rolled-back", [c.line() for c in batch], failed)
            outcome.error = f"{failed}; batch {n} was rolled back (the router is as it was before it)"
            break
        client.safe_mode_release()
        if ownership is not None:
            for change in batch:
                action = change.action
                if action.kind == "add" and action.key is not None and action.new in ids:
                    ownership.record(action.menu, ids[action.new], action.key, fingerprint(action.menu, action.props))
                elif action.kind == "remove":
                    for ref in action.refs:
                        ownership.forget(action.menu, _resolve(ref, ids))
            ownership.save()
        outcome.applied.extend(batch)
        journal.record("router", "applied", [c.line() for c in batch])
    outcome.seconds = time.monotonic() - start
    outcome.writes = client.writes
    return outcome
