"""Plan the router's changes (pure): desired records (:mod:`pytest_zengarden.desired.router`) against what it prints.

Ownership: a record whose ``comment`` starts with ``zg:`` was made by the plugin and is converged to the
site (changed, moved, removed).  Any other record is the operator's: left alone and reported as
unmanaged, unless the site opts in to removing unmanaged entries of its chain.  Dynamic and built-in
records are never touched.  A keyed record the operator made with the key of a desired one (an
interface list ``LAN`` from defconf) is adopted: tagged and converged.

Values are compared as RouterOS means them (:func:`same`): defaults filled in, booleans ``yes``/``true``,
durations in any unit, unordered lists in any order; write-only properties (keys, passwords) are
written on creation and never compared, since no print shows them.

Ordering (filter and NAT) is make-before-break: missing rules are created in desired order, each at its
final place (``place-before`` the next desired rule that exists), so every intermediate rule set is a
prefix of the final one followed by what was there; rules out of order are then moved in batches
(``move numbers=a,b destination=c``); rules to remove go last, after their replacements exist.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..desired.router import MANAGED
from ..facts.routeros_defaults import normal_record
from ..redaction import SENSITIVE_PROPERTIES
from .plan import Change, Plan

Record = Mapping[str, str]
TAG = f"{MANAGED}:"

# How each managed menu identifies a record; ordered menus identify theirs by the ownership comment.
KEYS: Mapping[str, tuple[str, ...]] = {
    "/interface/list": ("name",),
    "/interface/list/member": ("list", "interface"),
    "/ip/address": ("address", "interface"),
    "/ip/dns/static": ("name", "type"),
    "/ip/firewall/address-list": ("list", "address"),
    "/ip/service": ("name",),
    "/ipv6/address": ("address", "interface"),
}
ORDERED = ("/ip/firewall/filter", "/ip/firewall/nat", "/ipv6/firewall/filter")
SINGLETONS = ("/system/identity", "/ip/dns", "/ipv6/settings")
FIXED = ("/ip/service",)  # entries exist on every router: set, never added or removed
# Apply order: lists before the rules that name them, addresses before anything routed.
MENU_ORDER = (
    "/system/identity",
    "/ip/address",
    "/interface/list",
    "/interface/list/member",
    "/ip/firewall/address-list",
    "/ip/dns",
    "/ip/dns/static",
    "/ip/service",
    "/ip/firewall/filter",
    "/ip/firewall/nat",
    "/ipv6/settings",
    "/ipv6/address",
    "/ipv6/firewall/filter",
)
# Properties that are the router's, not configuration: never compared, never written.
_IGNORED = frozenset(
    {".id", "dynamic", "invalid", "builtin", "default-name", "network", "running", "default", "bytes", "packets"}
)
_DURATIONS = frozenset(
    {"ttl", "timeout", "address-list-timeout", "cache-max-ttl", "query-server-timeout", "query-total-timeout",
     "doh-timeout", "address-list-extra-time"}
)  # fmt: skip
_UNORDERED = frozenset({"connection-state", "connection-nat-state", "dst-port", "src-port", "port", "tcp-flags"})
_UNIT = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")


def _seconds(text: str) -> float | None:
    """A RouterOS duration in seconds: ``30m``, ``1d2h``, ``00:30:00``, ``1w2d03:04:05``, ``1800``."""
    text = text.strip()
    if text.isdigit():
        return float(text)
    total = 0.0
    clock = re.search(r"(\d+):(\d\d):(\d\d)(?:\.(\d+))?$", text)
    if clock:
        h, m, s = (int(g) for g in clock.groups()[:3])
        total += h * 3600 + m * 60 + s
        text = text[: clock.start()]
    pos = 0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    return total if pos == len(text) and (pos or clock) else None


def canonical(menu: str, prop: str, value: str) -> str:
    """``value`` of ``prop`` in ``menu`` as RouterOS means it, so equal meanings compare equal."""
    if prop in _DURATIONS:
        seconds = _seconds(value)
        return value if seconds is None else f"{seconds:g}s"
    if prop in _UNORDERED or (menu == "/ip/service" and prop == "address"):
        return ",".join(sorted(v.strip() for v in value.split(",") if v.strip()))
    return value


def differences(menu: str, desired: Record, current: Record, *, extras: bool) -> tuple[dict[str, str], list[str]]:
    """What to ``set`` and what to ``unset`` on ``current`` so it means ``desired``.

    ``extras``: properties ``current`` has beyond ``desired`` (a matcher added by hand to a managed rule)
    are reset to their defaults too; for singletons and fixed entries only the desired properties count.
    """
    want = normal_record(menu, desired)
    have = normal_record(menu, current)
    to_set: dict[str, str] = {}
    for prop, value in want.items():
        if prop in _IGNORED or prop in SENSITIVE_PROPERTIES:
            continue
        if canonical(menu, prop, have.get(prop, "")) != canonical(menu, prop, value):
            to_set[prop] = value
    # A desired empty value (address="" on a service: any address) is an absent fact in normal form.
    for prop, value in desired.items():
        if value == "" and prop in have and prop not in _IGNORED:
            to_set[prop] = ""
    to_unset = []
    if extras:
        to_unset = sorted(
            p for p in have if p not in want and p not in _IGNORED and p not in to_set and p not in SENSITIVE_PROPERTIES
        )
    return to_set, to_unset


@dataclass(frozen=True)
class RouterAction:
    """One API call: ``add`` (placed before ``before``), ``set``/``unset``/``remove``/``move`` on ``refs``.

    A ref is ``id:*1A`` for a record the router has, or ``new:MENU#N`` for one this plan creates.
    """

    kind: str
    menu: str
    refs: tuple[str, ...] = ()
    props: Mapping[str, str] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    before: str | None = None
    new: str | None = None  # the ref an add creates
    key: str | None = None  # an ordered menu's rule identity, recorded as owned once created


def _control(rec: Record, fallback: str) -> str:
    comment = rec.get("comment", "")
    return comment[len(TAG) :].split(" ", 1)[0] if comment.startswith(TAG) else fallback


def managed(rec: Record) -> bool:
    return rec.get("comment", "").startswith(TAG)


def _untouchable(rec: Record) -> bool:
    return rec.get("dynamic", "").lower() in ("true", "yes") or rec.get("builtin", "").lower() in ("true", "yes")


def describe(menu: str, rec: Record, position: int | None = None) -> str:
    """A record as a plan line names it: ``/ip/firewall/filter forward #6 accept home -> cluster tcp/80,443``."""
    if menu in ORDERED:
        where = f" #{position}" if position is not None else ""
        what = rec.get("comment", "")
        what = what[len(TAG) :].split(" ", 1)[1] if what.startswith(TAG) and " " in what else what
        proto = rec.get("protocol", "")
        ports = rec.get("dst-port", "")
        match = f" {proto}/{ports}" if proto and ports else f" {proto}" if proto else ""
        return f"{menu} {rec.get('chain', '?')}{where} {rec.get('action', 'accept')} {what}{match}".rstrip()
    keys = KEYS.get(menu)
    if keys:
        return f"{menu} " + " ".join(rec.get(k, "") for k in keys if rec.get(k))
    return menu


def _key(menu: str, rec: Record) -> tuple[str, ...]:
    keys = KEYS[menu]
    norm = normal_record(menu, rec)
    return tuple(norm.get(k, "") for k in keys)


def _props(rec: Record) -> dict[str, str]:
    return {k: v for k, v in rec.items() if k not in _IGNORED and v != ""}


def _detail(to_set: Mapping[str, str], to_unset: Sequence[str]) -> str:
    empty = '""'
    parts = [f"{k}={'***' if k in SENSITIVE_PROPERTIES else (v or empty)}" for k, v in to_set.items()]
    parts += [f"!{k}" for k in to_unset]
    return " ".join(parts)


def plan_router(
    desired: Mapping[str, Sequence[Record]],
    current: Mapping[str, Sequence[Record]],
    *,
    remove_unmanaged: Mapping[str, Iterable[str]] | None = None,
    controls: Mapping[str, str] | None = None,
    owned: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
) -> Plan:
    """The changes turning ``current`` (menu -> records as printed) into ``desired``, in apply order.

    ``remove_unmanaged``: menu -> chains whose unmanaged entries are removed (the site's opt-in);
    ``controls``: menu -> control id of records without an ownership comment (singletons, services);
    ``owned``: menu -> id -> {key, fingerprint} of rules the plugin created (:mod:`.ownership`).
    """
    plan = Plan("router")
    opt_in = {m: set(c) for m, c in (remove_unmanaged or {}).items()}
    menus = [m for m in MENU_ORDER if m in desired] + [m for m in desired if m not in MENU_ORDER]
    for menu in menus:
        fallback_control = (controls or {}).get(menu, "RTR")
        want = [dict(r) for r in desired[menu]]
        have = [dict(r) for r in current.get(menu, [])]
        if menu in SINGLETONS:
            _plan_singleton(plan, menu, want, have, fallback_control)
        elif menu in ORDERED:
            _plan_ordered(plan, menu, want, have, opt_in.get(menu, set()), fallback_control, (owned or {}).get(menu))
        else:
            _plan_keyed(plan, menu, want, have, fallback_control)
    return plan


def _plan_singleton(plan: Plan, menu: str, want: list[dict[str, str]], have: list[dict[str, str]], ctl: str) -> None:
    if not want:
        return
    to_set, _ = differences(menu, want[0], have[0] if have else {}, extras=False)
    if to_set:
        plan.changes.append(
            Change("router", "~", menu, ctl, _detail(to_set, ()), RouterAction("set", menu, (), to_set))
        )


def _plan_keyed(plan: Plan, menu: str, want: list[dict[str, str]], have: list[dict[str, str]], ctl: str) -> None:
    by_key: dict[tuple[str, ...], dict[str, str]] = {}
    for rec in have:
        by_key.setdefault(_key(menu, rec), rec)
    wanted_keys = set()
    for i, rec in enumerate(want):
        key = _key(menu, rec)
        wanted_keys.add(key)
        control = _control(rec, ctl)
        cur = by_key.get(key)
        if cur is not None and _untouchable(cur):
            plan.notes.append(f"{describe(menu, cur)}: built-in or dynamic entry, left as it is")
            continue
        if cur is None:
            if menu in FIXED:
                plan.notes.append(f"{describe(menu, rec)}: the router has no such entry (nothing to set)")
                continue
            ref = f"new:{menu}#{i}"
            plan.changes.append(
                Change(
                    "router", "+", describe(menu, rec), control, "", RouterAction("add", menu, (), _props(rec), new=ref)
                )
            )
            continue
        to_set, to_unset = differences(menu, rec, cur, extras=menu not in FIXED)
        if menu not in FIXED and not managed(cur) and "comment" in rec:
            to_set["comment"] = rec["comment"]  # adopted: from now on the plugin's
        ref = f"id:{cur['.id']}"
        if to_set:
            plan.changes.append(
                Change(
                    "router",
                    "~",
                    describe(menu, rec),
                    control,
                    _detail(to_set, ()),
                    RouterAction("set", menu, (ref,), to_set),
                )
            )
        if to_unset:
            plan.changes.append(
                Change("router", "~", describe(menu, rec), control, _detail({}, to_unset),
                       RouterAction("unset", menu, (ref,), names=tuple(to_unset)))
            )  # fmt: skip
    if menu in FIXED:
        return
    for rec in have:
        if _untouchable(rec) or _key(menu, rec) in wanted_keys:
            continue
        if managed(rec):
            plan.changes.append(
                Change("router", "-", describe(menu, rec), _control(rec, ctl), "no longer in the site",
                       RouterAction("remove", menu, (f"id:{rec['.id']}",)))
            )  # fmt: skip
        else:
            plan.notes.append(f"unmanaged: {describe(menu, rec)} (not made by zengarden; left alone)")


def _lis(seq: Sequence[int]) -> set[int]:
    """Positions (into ``seq``) of one longest strictly increasing subsequence."""
    import bisect

    tails: list[int] = []
    tails_at: list[int] = []
    parent = [-1] * len(seq)
    for i, v in enumerate(seq):
        j = bisect.bisect_left(tails, v)
        if j == len(tails):
            tails.append(v)
            tails_at.append(i)
        else:
            tails[j] = v
            tails_at[j] = i
        parent[i] = tails_at[j - 1] if j else -1
    out: set[int] = set()
    k = tails_at[-1] if tails_at else -1
    while k != -1:
        out.add(k)
        k = parent[k]
    return out


def fingerprint(menu: str, rec: Record) -> str:
    """What a rule says apart from its comment (normal form): recognises a rule whose comment was edited."""
    norm = normal_record(menu, rec)
    body = sorted((k, v) for k, v in norm.items() if k not in _IGNORED and k != "comment")
    return hashlib.sha256(repr(body).encode()).hexdigest()[:16]


def _rule_keys(
    records: Sequence[Record], menu: str = "", owned: Mapping[str, Mapping[str, str]] | None = None
) -> list[str | None]:
    """Each managed rule's identity: its comment, numbered among equal comments; ``None`` for others.

    ``owned`` (id -> {"key", "fingerprint"}, recorded when the plugin created the rule): a rule whose
    ownership comment was edited away is still the plugin's if its id and everything but its comment match.
    """
    seen: dict[str, int] = {}
    out: list[str | None] = []
    for rec in records:
        comment = rec.get("comment", "")
        mine = (owned or {}).get(rec.get(".id", ""))
        if not comment.startswith(TAG):
            if mine is not None and mine.get("fingerprint") == fingerprint(menu, rec):
                out.append(mine["key"])
            else:
                out.append(None)
            continue
        n = seen.get(comment, 0)
        seen[comment] = n + 1
        out.append(f"{comment}#{n}")
    return out


def _plan_ordered(
    plan: Plan,
    menu: str,
    want: list[dict[str, str]],
    have: list[dict[str, str]],
    opt_in: set[str],
    ctl: str,
    owned: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    want_keys = _rule_keys(want)
    have_keys = _rule_keys(have, menu, owned)
    cur_by_key = {k: rec for k, rec in zip(have_keys, have, strict=True) if k is not None}
    # Position of each desired rule within its chain, as the plan line numbers it.
    chain_pos: list[int] = []
    counts: dict[str, int] = {}
    for rec in want:
        counts[rec.get("chain", "")] = counts.get(rec.get("chain", ""), 0) + 1
        chain_pos.append(counts[rec.get("chain", "")])
    refs: list[str] = []
    exists: list[bool] = []
    for i, key in enumerate(want_keys):
        cur = cur_by_key.get(key) if key is not None else None
        refs.append(f"id:{cur['.id']}" if cur is not None else f"new:{menu}#{i}")
        exists.append(cur is not None)
    # 1. Create what is missing, in desired order, each before the next desired rule the router has.
    for i, rec in enumerate(want):
        if exists[i]:
            continue
        before = next((refs[j] for j in range(i + 1, len(want)) if exists[j]), None)
        plan.changes.append(
            Change("router", "+", describe(menu, rec, chain_pos[i]), _control(rec, ctl), "",
                   RouterAction("add", menu, (), _props(rec), before=before, new=refs[i], key=want_keys[i]))
        )  # fmt: skip
    # 2. Change what differs, in place (a set is atomic on the router).
    for i, rec in enumerate(want):
        if not exists[i]:
            continue
        key = want_keys[i]
        assert key is not None
        to_set, to_unset = differences(menu, rec, cur_by_key[key], extras=True)
        line = describe(menu, rec, chain_pos[i])
        if to_set:
            plan.changes.append(
                Change("router", "~", line, _control(rec, ctl), _detail(to_set, ()),
                       RouterAction("set", menu, (refs[i],), to_set))
            )  # fmt: skip
        if to_unset:
            plan.changes.append(
                Change("router", "~", line, _control(rec, ctl), _detail({}, to_unset),
                       RouterAction("unset", menu, (refs[i],), names=tuple(to_unset)))
            )  # fmt: skip
    # 3. Order: where the managed rules will stand after step 1, then move those off the longest
    #    in-order run, each before its desired successor (batched while they share it).
    order = _order_after_adds(want, exists, refs, have, have_keys, want_keys)
    index_of = {ref: i for i, ref in enumerate(refs)}
    seq = [index_of[r] for r in order]
    keep = {seq[p] for p in _lis(seq)}
    i = len(want) - 1
    while i >= 0:
        if i in keep:
            i -= 1
            continue
        j = i
        while j - 1 >= 0 and (j - 1) not in keep:
            j -= 1
        dest = refs[i + 1] if i + 1 < len(want) else None
        moving = refs[j : i + 1]
        first = want[j]
        subject = describe(menu, first, chain_pos[j]) + (f" (+{i - j} more)" if i > j else "")
        plan.changes.append(
            Change("router", ">", subject, _control(first, ctl), "to its place in the chain",
                   RouterAction("move", menu, tuple(moving), before=dest))
        )  # fmt: skip
        i = j - 1
    # 4. Remove last: managed rules the site no longer has, unmanaged ones where the site opts in.
    wanted = {k for k in want_keys if k is not None}
    for key, rec in zip(have_keys, have, strict=True):
        if _untouchable(rec):
            continue
        ref = (f"id:{rec['.id']}",)
        if key is not None and key not in wanted:
            plan.changes.append(
                Change("router", "-", describe(menu, rec), _control(rec, ctl), "no longer in the site",
                       RouterAction("remove", menu, ref))
            )  # fmt: skip
        elif key is None and rec.get("chain", "") in opt_in:
            plan.changes.append(
                Change("router", "-", describe(menu, rec), ctl, f"unmanaged; opted in for {rec.get('chain')}",
                       RouterAction("remove", menu, ref))
            )  # fmt: skip
        elif key is None:
            plan.notes.append(f"unmanaged: {describe(menu, rec)} (not made by zengarden; left alone)")


def _order_after_adds(
    want: Sequence[Record],
    exists: Sequence[bool],
    refs: Sequence[str],
    have: Sequence[Record],
    have_keys: Sequence[str | None],
    want_keys: Sequence[str | None],
) -> list[str]:
    """The refs of desired rules in the order they stand once the missing ones are created."""
    key_ref = {k: refs[i] for i, k in enumerate(want_keys) if k is not None and exists[i]}
    listing: list[str] = [key_ref[k] for k in have_keys if k is not None and k in key_ref]
    for i in range(len(want)):
        if exists[i]:
            continue
        before = next((refs[j] for j in range(i + 1, len(want)) if exists[j]), None)
        if before is None:
            listing.append(refs[i])
        else:
            listing.insert(listing.index(before), refs[i])
    return listing
