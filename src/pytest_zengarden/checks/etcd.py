"""etcd itself against the site (pure): membership, health, leader, quorum, alarms, size, timings, snapshots.

The inputs are what :mod:`pytest_zengarden.facts.etcd` describes: one :class:`EtcdSurvey` of the cluster
(a member that does not answer is in it, with its cause), the etcd configuration a server started its
member with (k3s writes it to ``/var/lib/rancher/k3s/server/db/etcd/config``), a server's k3s config and
its snapshot directory.  Controls: membership and quorum are ``cluster.etcd`` (K8S-ETCD-QUORUM), member
health, agreement, alarms, size and timings ``cluster.etcd.health``, snapshots ``cluster.etcd.snapshots``
(each falls back to ``cluster.etcd`` when the site does not state it).

k3s names each member ``<node>-<8 hex digits>`` (a fresh suffix when a server rejoins); the checks take
that, or the bare node name, as the member of blade ``<node>``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import struct
from dataclasses import dataclass
from typing import Any

import yaml

from ..facts.etcd import (
    EndpointReport,
    EtcdSurvey,
    SnapshotDigest,
    SnapshotDir,
    is_member_of,
    newest_snapshot,
    snapshot_time,
)
from ..site.schema import EtcdHealth, EtcdSnapshots, Site
from .findings import Finding, finding

MIB = 1024 * 1024
DEFAULT_QUOTA = 2 * 1024 * MIB  # etcd's --quota-backend-bytes default (k3s sets none)
ETCD_DEFAULT_HEARTBEAT_MS, ETCD_DEFAULT_ELECTION_MS = 100, 1000  # etcd's own, when the config sets none
BOLT_MAGIC, BOLT_VERSION = 0xED0CDAED, 2
SHA256_SIZE = 32
# k3s: etcd-snapshot-<node>-<unix time> (scheduled) and on-demand-<node>-<unix time> (`k3s etcd-snapshot save`).
ALARM_MEANING = {
    "NOSPACE": "the database reached its quota: etcd accepts only reads and deletes until it is compacted, "
    "defragmented and the alarm disarmed",
    "CORRUPT": "its data differs from the other members': replace the member (remove, wipe, re-add)",
}


# ------------------------------------------------------------------------------------------- statements
def health_statement(site: Site) -> EtcdHealth:
    """``cluster.etcd.health``, or its defaults under ``cluster.etcd``'s control when the site states none."""
    e = site.cluster.etcd
    return e.health or EtcdHealth(control=e.control, section=e.section)


def snapshot_statement(site: Site) -> EtcdSnapshots:
    """``cluster.etcd.snapshots``, or k3s's defaults under ``cluster.etcd``'s control when the site states none."""
    e = site.cluster.etcd
    return e.snapshots or EtcdSnapshots(control=e.control, section=e.section)


# --------------------------------------------------------------------------------------------- helpers
def client_url(site: Site, blade: str) -> str:
    return f"https://{site.blades[blade].address}:{site.cluster.etcd.client_port}"


def peer_url(site: Site, blade: str) -> str:
    return f"https://{site.blades[blade].address}:{site.cluster.etcd.peer_port}"


def _id(value: Any) -> str:
    """etcd's JSON gateway writes uint64 ids as decimal strings; 0 (or absent) means none."""
    return str(value or "0")


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB"


@dataclass(frozen=True)
class _View:
    """The survey from the site's side: each site member's endpoint report, and names for member ids."""

    reports: dict[str, EndpointReport]  # blade -> its endpoint's report
    names: dict[str, str]  # member id -> blade (or the member's own name when it is no site blade)

    def answering(self) -> list[str]:
        return [b for b, r in self.reports.items() if r.answered]

    def name(self, member_id: str) -> str:
        return self.names.get(member_id, f"member {int(member_id):x}" if member_id.isdigit() else member_id)


def _view(site: Site, survey: EtcdSurvey) -> _View:
    by_url = {r.endpoint.rstrip("/"): r for r in survey.endpoints}
    reports = {
        b: by_url.get(client_url(site, b), EndpointReport(client_url(site, b), error="not asked"))
        for b in site.cluster.etcd.members
    }
    names: dict[str, str] = {}
    for m in survey.members or []:
        name = str(m.get("name", ""))
        blade = next((b for b in site.cluster.etcd.members if is_member_of(name, b)), None)
        names[_id(m.get("ID"))] = blade or name or "an unstarted member"
    for b, r in reports.items():  # a member absent from the list still says who it is in its own status
        if r.status is not None:
            names.setdefault(_id(r.status.get("header", {}).get("member_id")), b)
    return _View(reports, names)


def _leaders(view: _View) -> dict[str, list[str]]:
    """Leader id -> the answering members that name it (0: "no leader")."""
    out: dict[str, list[str]] = {}
    for b in view.answering():
        status = view.reports[b].status or {}
        out.setdefault(_id(status.get("leader")), []).append(b)
    return out


def _and(items: list[str]) -> str:
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ----------------------------------------------------------------------------------------- membership
def members(site: Site, survey: EtcdSurvey) -> list[Finding]:
    """The member list is the site's etcd blades, each with its peer URL, all voting; nothing else."""
    e = site.cluster.etcd
    if survey.members is None:
        return [finding(e, "etcd members", False, f"no member answered the member list: {survey.members_error}")]
    listed = list(survey.members)
    out: list[Finding] = []
    claimed: set[int] = set()
    for blade in e.members:
        want = peer_url(site, blade)
        idx = next((i for i, m in enumerate(listed) if is_member_of(str(m.get("name", "")), blade)), None)
        if idx is None:  # an added member that has not started yet has no name: match it by its peer URL
            idx = next((i for i, m in enumerate(listed) if want in (m.get("peerURLs") or [])), None)
        if idx is None:
            have = _and([str(m.get("name") or m.get("peerURLs")) for m in listed])
            out.append(
                finding(e, blade, False, f"is not an etcd member (the cluster lists {have}); join it as a k3s server")
            )
            continue
        claimed.add(idx)
        m = listed[idx]
        peers = [str(u) for u in m.get("peerURLs") or []]
        problems = []
        if not m.get("name"):
            problems.append("was added but never started (no name)")
        if peers != [want]:
            problems.append(f"peer URLs {_and(peers)}, expected {want}")
        if m.get("isLearner"):
            problems.append("is a learner (not voting): promote it")
        what = f"member {m.get('name') or '?'} (id {int(_id(m.get('ID'))):x}), peer {_and(peers)}"
        out.append(finding(e, blade, not problems, what if not problems else f"{what}: {'; '.join(problems)}"))
    for i, m in enumerate(listed):
        if i not in claimed:
            out.append(
                finding(
                    e,
                    str(m.get("name") or m.get("ID")),
                    False,
                    f"member {m.get('name') or '?'} (peer {_and([str(u) for u in m.get('peerURLs') or []])}) is not "
                    f"one of the site's etcd blades: remove it (etcdctl member remove {int(_id(m.get('ID'))):x})",
                )
            )
    return out


# -------------------------------------------------------------------------------------------- health
def member_health(site: Site, survey: EtcdSurvey, blade: str) -> Finding:
    """Member ``blade`` answers its client endpoint, reports itself healthy and no errors."""
    h = health_statement(site)
    view = _view(site, survey)
    r = view.reports[blade]
    n = len(view.reports)
    count = f"{len(view.answering())} of {n} members answer"
    where = f"{blade} ({r.endpoint})"
    if not r.answered:
        return finding(h, blade, False, f"{where} unreachable: {r.error}; {count}")
    status = r.status or {}
    problems = [str(x) for x in status.get("errors") or []]
    if r.health is None:
        problems.append(f"/health did not answer: {r.health_error}")
    elif str(r.health.get("health")) != "true":
        problems.append(f"/health says unhealthy: {r.health.get('reason') or 'no reason given'}")
    if _id(status.get("leader")) == "0":
        problems.append("it knows no leader")
    if problems:
        return finding(h, blade, False, f"{where} answers but is not healthy: {'; '.join(problems)}; {count}")
    leader = view.name(_id(status.get("leader")))
    return finding(
        h,
        blade,
        True,
        f"{where} healthy, etcd {status.get('version', '?')}, leader {leader}, raft term {status.get('raftTerm')}, "
        f"index {status.get('raftIndex')}; {count}",
    )


def leader(site: Site, survey: EtcdSurvey) -> Finding:
    """Exactly one leader, named by every member that answers, and that member says it leads."""
    h = health_statement(site)
    view = _view(site, survey)
    leaders = _leaders(view)
    silent = [b for b in view.reports if b not in view.answering()]
    note = f" ({_and(silent)} did not answer)" if silent else ""
    if not leaders:
        return finding(h, "etcd leader", False, f"no member answered, so none names a leader{note}")
    named = {lid: bs for lid, bs in leaders.items() if lid != "0"}
    if not named:
        verb = "knows" if len(leaders["0"]) == 1 else "know"
        return finding(h, "etcd leader", False, f"{_and(leaders['0'])} {verb} no leader{note}: no leader, no writes")
    if len(named) > 1 or "0" in leaders:
        views = "; ".join(
            f"{_and(bs)}: {'none' if lid == '0' else view.name(lid)}" for lid, bs in sorted(leaders.items())
        )
        return finding(h, "etcd leader", False, f"members disagree on the leader ({views}){note}")
    ((lid, agreeing),) = named.items()
    who = view.name(lid)
    own = view.reports.get(who)
    if own is not None and not own.answered:
        return finding(
            h,
            "etcd leader",
            False,
            f"{_and(agreeing)} name {who} leader, but {who} does not answer ({own.error}): "
            "an election is under way or the leader is cut off",
        )
    if own is not None and _id((own.status or {}).get("header", {}).get("member_id")) != lid:
        return finding(h, "etcd leader", False, f"{_and(agreeing)} name {who} leader, but {who} answers as another id")
    if who not in view.reports and lid not in view.names:
        return finding(h, "etcd leader", False, f"{_and(agreeing)} name leader id {int(lid):x}, which is no member")
    term = {str((view.reports[b].status or {}).get("raftTerm")) for b in agreeing}
    return finding(
        h,
        "etcd leader",
        True,
        f"{len(agreeing)} of {len(view.reports)} members agree on leader {who} (raft term {_and(sorted(term))}){note}",
    )


def cluster_id(site: Site, survey: EtcdSurvey) -> Finding:
    """Every member that answers belongs to one cluster (one cluster id)."""
    h = health_statement(site)
    view = _view(site, survey)
    ids: dict[str, list[str]] = {}
    for b in view.answering():
        ids.setdefault(_id((view.reports[b].status or {}).get("header", {}).get("cluster_id")), []).append(b)
    if not ids:
        return finding(h, "etcd cluster id", False, "no member answered")
    if len(ids) > 1:
        split = "; ".join(f"{_and(bs)}: {int(cid):x}" for cid, bs in sorted(ids.items()))
        return finding(h, "etcd cluster id", False, f"members belong to different clusters ({split})")
    ((cid, bs),) = ids.items()
    return finding(h, "etcd cluster id", True, f"{_and(bs)} in cluster {int(cid):x}")


def raft_index_spread(site: Site, survey: EtcdSurvey) -> Finding:
    """The raft indexes of the members that answer lie within the site's spread (no member lags behind)."""
    h = health_statement(site)
    view = _view(site, survey)
    idx = {b: _int((view.reports[b].status or {}).get("raftIndex")) for b in view.answering()}
    if not idx:
        return finding(h, "etcd raft index", False, "no member answered")
    spread = max(idx.values()) - min(idx.values())
    shown = ", ".join(f"{b} {i}" for b, i in idx.items())
    ok = spread <= h.max_raft_index_spread
    tail = "" if ok else f"; {min(idx, key=lambda b: idx[b])} lags: check its disk and network latency"
    return finding(h, "etcd raft index", ok, f"spread {spread} (at most {h.max_raft_index_spread}): {shown}{tail}")


def quorum(site: Site, survey: EtcdSurvey) -> Finding:
    """At least floor(n/2)+1 of the site's members answer and agree on one leader and one cluster."""
    e = site.cluster.etcd
    view = _view(site, survey)
    n = len(view.reports)
    need = n // 2 + 1
    answering = view.answering()
    down = n - len(answering)
    named = {lid: bs for lid, bs in _leaders(view).items() if lid != "0"}
    lid, agreeing = max(named.items(), key=lambda kv: len(kv[1]), default=("0", []))
    clusters = {_id((view.reports[b].status or {}).get("header", {}).get("cluster_id")) for b in agreeing}
    if len(clusters) > 1:
        agreeing = []
    if len(agreeing) >= need:
        spare = len(agreeing) - need
        tolerance = (
            f"tolerates {spare} more failure{'s' if spare != 1 else ''}" if spare else "no further member may fail"
        )
        return finding(
            e,
            "etcd quorum",
            True,
            f"{len(agreeing)} of {n} members answer and agree on leader {view.name(lid)} (quorum {need}): {tolerance}",
        )
    if down > n - need:
        gone = _and([b for b in view.reports if b not in answering])
        return finding(
            e,
            "etcd quorum",
            False,
            f"{down} of {n} members unreachable ({gone}): quorum lost, the API cannot write "
            f"(needs {need} of {n}); start them or restore from a snapshot",
        )
    return finding(
        e,
        "etcd quorum",
        False,
        f"{len(answering)} of {n} members answer but only {len(agreeing)} "
        f"{'agrees' if len(agreeing) == 1 else 'agree'} on a leader (needs {need}): "
        "quorum lost, the API cannot write",
    )


def alarms(site: Site, survey: EtcdSurvey) -> Finding:
    """No member has raised an alarm (NOSPACE, CORRUPT)."""
    h = health_statement(site)
    if survey.alarms is None:
        return finding(h, "etcd alarms", False, f"cannot read the alarms: {survey.alarms_error}")
    view = _view(site, survey)
    raised = [
        f"{view.name(_id(a.get('memberID')))} raised {a.get('alarm')}: "
        f"{ALARM_MEANING.get(str(a.get('alarm')), 'see etcdctl alarm list')}"
        for a in survey.alarms
        if str(a.get("alarm", "NONE")) != "NONE"
    ]
    if raised:
        return finding(h, "etcd alarms", False, "; ".join(raised))
    return finding(h, "etcd alarms", True, "no alarm raised")


def db_size(site: Site, survey: EtcdSurvey, quotas: dict[str, int]) -> list[Finding]:
    """Each answering member's database is within the site's size and leaves room below its quota.

    ``quotas``: blade -> ``quota-backend-bytes`` in effect (from the config it started with).
    """
    h = health_statement(site)
    view = _view(site, survey)
    out = []
    for b in view.answering():
        s = view.reports[b].status or {}
        size, in_use = _int(s.get("dbSize")), _int(s.get("dbSizeInUse"))
        quota = quotas.get(b, DEFAULT_QUOTA)
        free_pct = 100.0 * (quota - size) / quota if quota > 0 else 0.0
        problems = []
        if size > h.max_db_size_mib * MIB:
            problems.append(f"larger than {h.max_db_size_mib} MiB")
        if free_pct < h.min_quota_free_percent:
            problems.append(f"less than {h.min_quota_free_percent:g}% of the quota free: compact and defragment")
        text = (
            f"db {_mib(size)} (in use {_mib(in_use)}, {_mib(max(0, size - in_use))} reclaimable by defragmentation), "
            f"quota {_mib(quota)} ({free_pct:.1f}% free)"
        )
        out.append(finding(h, b, not problems, text if not problems else f"{text}: {'; '.join(problems)}"))
    return out


# ------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class EtcdConfig:
    """What a member runs with, from its configuration file (etcd's defaults where the file sets none)."""

    name: str
    heartbeat_ms: int
    election_timeout_ms: int
    quota_bytes: int
    initial_cluster: str
    set_keys: frozenset[str]


def read_etcd_config(text: str) -> EtcdConfig:
    """Parse the YAML configuration etcd was started with (``--config-file``); ``ValueError`` if it is not one."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a YAML mapping of etcd settings")

    def num(key: str, default: int) -> int:
        value = doc.get(key)
        if value in (None, "", 0):
            return default
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{key}: {value!r} is not a number")
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{key}: {value!r} is not a number") from None

    return EtcdConfig(
        name=str(doc.get("name") or "default"),
        heartbeat_ms=num("heartbeat-interval", ETCD_DEFAULT_HEARTBEAT_MS),
        election_timeout_ms=num("election-timeout", ETCD_DEFAULT_ELECTION_MS),
        quota_bytes=num("quota-backend-bytes", DEFAULT_QUOTA),
        initial_cluster=str(doc.get("initial-cluster") or ""),
        set_keys=frozenset(str(k) for k in doc),
    )


def timings(site: Site, blade: str, config_text: str | None, path: str) -> list[Finding]:
    """The heartbeat and election timeout member ``blade`` runs with: the site's (when stated), and an election
    timeout of at least five heartbeats (etcd refuses less).  The values are in the message."""
    h = health_statement(site)
    if config_text is None:
        return [finding(h, blade, False, f"{path} is missing: k3s writes it when it starts etcd on a server")]
    try:
        cfg = read_etcd_config(config_text)
    except ValueError as exc:
        return [finding(h, blade, False, f"{path}: {exc}")]
    problems = []
    for key, have, want in (
        ("heartbeat-interval", cfg.heartbeat_ms, h.heartbeat_ms),
        ("election-timeout", cfg.election_timeout_ms, h.election_timeout_ms),
    ):
        if want is not None and have != want:
            problems.append(f"{key} {have} ms, the site says {want} ms")
    if cfg.election_timeout_ms < 5 * cfg.heartbeat_ms:
        problems.append("election-timeout is less than 5 heartbeats")
    if not is_member_of(cfg.name, blade):
        problems.append(f"the member is named {cfg.name!r}, not after {blade}")

    def shown(key: str, value: int) -> str:
        return f"{key} {value} ms" + ("" if key in cfg.set_keys else " (etcd's default)")

    text = (
        f"{shown('heartbeat-interval', cfg.heartbeat_ms)}, {shown('election-timeout', cfg.election_timeout_ms)}, "
        f"quota {_mib(cfg.quota_bytes)}, member {cfg.name}"
    )
    return [finding(h, blade, not problems, text if not problems else f"{text}: {'; '.join(problems)}")]


# ----------------------------------------------------------------------------------------- snapshots
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
_CRON_NAMED = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {
    m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def _cron_field(text: str, name: str, low: int, high: int) -> tuple[set[int], bool]:
    """The values a cron field allows, and whether it is a wildcard (``*`` or ``?``)."""
    names = _MONTHS if name == "month" else _DAYS if name == "day of week" else {}
    top = 7 if name == "day of week" else high  # 7 is Sunday too

    def value(word: str) -> int:
        return names[word] if word in names else int(word)

    out: set[int] = set()
    for part in text.lower().split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"{name}: step {step_text!r}")
        if rng in ("*", "?"):
            a, b = low, high
        else:
            first, _, last = rng.partition("-")
            a = value(first)
            b = value(last) if last else (high if step_text else a)
        if not (low <= a <= top and low <= b <= top) or a > b:
            raise ValueError(f"{name}: {part!r} is outside {low}-{high}")
        out |= {v % 7 if name == "day of week" else v for v in range(a, b + 1, step)}
    return out, text in ("*", "?")


def cron_longest_gap_hours(spec: str) -> float:
    """The longest time between two runs of a k3s snapshot schedule (robfig/cron: five fields, ``@daily``...,
    ``@every 12h``), over a leap-year cycle of days; ``ValueError`` when it is no schedule or never runs."""
    import calendar
    import datetime as dt

    text = " ".join(spec.split())
    if text.startswith("@every "):
        total = sum(float(n) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[u] for n, u in _DURATION.findall(text[7:]))
        if total <= 0:
            raise ValueError(f"{spec!r}: not a duration")
        return total / 3600
    text = _CRON_NAMED.get(text, text)
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(f"{spec!r} is not a cron schedule (five fields)")
    try:
        fields = [_cron_field(p, n, lo, hi) for p, (n, lo, hi) in zip(parts, _CRON_FIELDS, strict=True)]
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{spec!r}: {exc}") from None
    (minutes, _), (hours, _), (dom, dom_any), (months, _), (dow, dow_any) = fields
    runs: list[float] = []
    day = dt.date(2024, 1, 1)  # a leap year, then the next: every weekday of every date comes round
    for _ in range(366 + 365):
        in_dom, in_dow = day.day in dom, (day.weekday() + 1) % 7 in dow
        # cron: with both day fields restricted, a day matching either runs (robfig/cron does the same).
        runs_today = in_dom or in_dow if not (dom_any or dow_any) else in_dom and in_dow
        if day.month in months and runs_today:
            base = calendar.timegm(day.timetuple())
            runs += [base + h * 3600 + m * 60 for h in sorted(hours) for m in sorted(minutes)]
        day += dt.timedelta(days=1)
    if not runs:
        raise ValueError(f"{spec!r} never runs")
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    return max(gaps, default=(366 + 365) * 86400.0) / 3600


def snapshot_settings(site: Site, blade: str, k3s_values: dict[str, Any]) -> Finding:
    """The snapshot settings server ``blade``'s k3s runs with (its config.yaml, k3s's defaults for the rest):
    snapshots on, a schedule that takes one at least every ``max_age_hours``, the site's retention and place."""
    s = snapshot_statement(site)
    defaults = EtcdSnapshots(control=s.control, section=s.section)

    def eff(key: str, default: Any) -> tuple[Any, str]:
        value = k3s_values.get(key)
        return (default, " (k3s default)") if value is None else (value, "")

    disabled = k3s_values.get("etcd-disable-snapshots")
    if disabled is True or str(disabled).lower() == "true":
        return finding(s, blade, False, "etcd-disable-snapshots is set: k3s takes no scheduled snapshot")
    cron, cron_note = eff("etcd-snapshot-schedule-cron", defaults.schedule)
    keep, keep_note = eff("etcd-snapshot-retention", defaults.retention)
    where, where_note = eff("etcd-snapshot-dir", defaults.dir)
    problems = []
    try:
        gap = cron_longest_gap_hours(str(cron))
        every = f"at least every {gap:g} h"
        if gap > s.max_age_hours:
            problems.append(f"a snapshot only every {gap:g} h, the site wants one within {s.max_age_hours:g} h")
    except ValueError as exc:
        every = "never"
        problems.append(f"k3s cannot run it: {exc}")
    if _int(keep) < s.retention:
        problems.append(f"the site keeps {s.retention}")
    if str(where).rstrip("/") != s.dir.rstrip("/"):
        problems.append(f"the site's directory is {s.dir}")
    text = f"schedule {cron!r}{cron_note} ({every}), retention {keep}{keep_note}, in {where}{where_note}"
    return finding(s, blade, not problems, text if not problems else f"{text}: {'; '.join(problems)}")


def snapshot_age(site: Site, blade: str, listing: SnapshotDir | None) -> Finding:
    """The newest snapshot of ``blade`` is younger than the site's maximum age."""
    s = snapshot_statement(site)
    if listing is None:
        return finding(s, blade, False, f"{s.dir} does not exist: no snapshot was ever taken on {blade}")
    newest = newest_snapshot(listing, blade)
    if newest is None:
        others = len(listing.files)
        return finding(
            s, blade, False, f"no snapshot of {blade} in {s.dir} ({others} other file{'s' if others != 1 else ''})"
        )
    age_h = (listing.now - snapshot_time(newest)) / 3600
    text = f"newest {newest.name} ({_mib(newest.size)}), {age_h:.1f} h old (at most {s.max_age_hours:g} h)"
    if age_h > s.max_age_hours:
        return finding(s, blade, False, f"{text}: the schedule has not run; see k3s's log for etcd-snapshot")
    return finding(s, blade, True, text)


@dataclass(frozen=True)
class BoltMeta:
    """One of bbolt's two meta pages (page 0 and 1 of the database)."""

    page: int
    magic: int
    version: int
    page_size: int
    txid: int
    checksum_ok: bool

    @property
    def valid(self) -> bool:
        return self.magic == BOLT_MAGIC and self.version == BOLT_VERSION and self.checksum_ok


def _fnv64a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def bolt_meta(head: bytes, page: int, page_size: int) -> BoltMeta | None:
    """Meta page ``page`` of a bbolt file from its first bytes (``None`` when ``head`` does not reach it).

    Layout (bbolt ``page`` + ``meta``): id u64, flags u16, count u16, overflow u32; then magic u32, version u32,
    page size u32, flags u32, root bucket (u64, u64), freelist u64, pgid u64, txid u64, checksum u64 -- the
    checksum is FNV-1a 64 of the meta fields before it.
    """
    off = page * page_size + 16
    if len(head) < off + 64:
        return None
    magic, version, psize = struct.unpack_from("<III", head, off)
    txid, checksum = struct.unpack_from("<QQ", head, off + 48)
    return BoltMeta(page, magic, version, psize, txid, _fnv64a(head[off : off + 56]) == checksum)


def snapshot_problems(digest: SnapshotDigest) -> tuple[list[str], str]:
    """Why the snapshot is not a sound etcd snapshot (empty: it is), and what was seen.

    As ``etcdutl snapshot restore`` checks it: the file ends in the sha256 of everything before it (the
    stream etcd sends ends so), and the database is a bbolt file whose meta pages are intact.
    """
    problems = []
    if digest.size < SHA256_SIZE or (digest.size - SHA256_SIZE) % 512 != 0:
        problems.append(f"size {digest.size} is not a database plus its 32-byte sha256: truncated or not a snapshot")
    elif digest.body_sha256 != digest.trailer.hex():
        problems.append("the sha256 at its end does not match its contents: the file is damaged")
    first = bolt_meta(digest.head, 0, 0)
    metas = []
    if first is None or first.magic != BOLT_MAGIC:
        problems.append("it does not start with a bbolt meta page (wrong magic): not an etcd database")
    else:
        metas = [m for m in (first, bolt_meta(digest.head, 1, first.page_size)) if m is not None]
        bad = [str(m.page) for m in metas if not m.valid]
        if bad:
            problems.append(f"bbolt meta page {_and(bad)} is damaged (magic, version or checksum)")
    txid = max((m.txid for m in metas if m.valid), default=0)
    seen = f"{_mib(max(0, digest.size - SHA256_SIZE))} database" + (f", bbolt txid {txid}" if txid else "")
    return problems, seen


def snapshot_integrity(site: Site, blade: str, digest: SnapshotDigest) -> Finding:
    """The newest snapshot of ``blade`` is intact: sha256 trailer and bbolt meta pages."""
    s = snapshot_statement(site)
    name = digest.path.rsplit("/", 1)[-1]
    if name.endswith(".zip"):
        return finding(s, blade, False, f"{name} is compressed: its integrity is not judged (unzip to check)")
    problems, seen = snapshot_problems(digest)
    if problems:
        return finding(s, blade, False, f"{name}: {'; '.join(problems)}")
    return finding(s, blade, True, f"{name}: sha256 matches, {seen}")


def verify_snapshot_bytes(data: bytes, path: str = "snapshot") -> list[str]:
    """:func:`snapshot_problems` of a whole snapshot held in memory (the lab, tests)."""
    body, trailer = (data[:-SHA256_SIZE], data[-SHA256_SIZE:]) if len(data) >= SHA256_SIZE else (data, b"")
    digest = SnapshotDigest(path, len(data), data[:8192], hashlib.sha256(body).hexdigest(), trailer)
    return snapshot_problems(digest)[0]


def quota_of(config_text: str | None) -> int | None:
    """``quota-backend-bytes`` in effect from a member's configuration (``None``: unreadable)."""
    if config_text is None:
        return None
    try:
        return read_etcd_config(config_text).quota_bytes
    except ValueError:
        return None
