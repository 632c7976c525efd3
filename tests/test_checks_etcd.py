"""The etcd evaluators (checks/etcd.py) over replies recorded from the lab's real etcd 3.5.21, and what feeds them.

``tests/recordings/etcd/survey-healthy.json`` is ``EtcdClient.survey()`` of the lab's three members as
captured; the other states are that recording with members taken away as etcd reports it (a refused
connection, a member that knows no leader).  ``snapshot-v3.5.21.db`` is a snapshot streamed from a real
etcd 3.5.21 (``/v3/maintenance/snapshot``: the database and its sha256).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_zengarden.checks import etcd as checks
from pytest_zengarden.checks.findings import Finding
from pytest_zengarden.desired.hosts import k3s_config
from pytest_zengarden.facts.etcd import EndpointReport, EtcdSurvey, SnapshotDigest, SnapshotDir, SnapshotFile
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Site

from .helpers import SITE, site_data, write_site

REC = Path(__file__).parent / "recordings" / "etcd"
SNAPSHOT = (REC / "snapshot-v3.5.21.db").read_bytes()
B1, B2, B3 = "https://192.168.77.170:2379", "https://192.168.77.171:2379", "https://192.168.77.172:2379"
LEADER = "18110387925677643708"  # blade001's member id in the recording
ETCDUTL = Path(os.environ.get("ZG_CACHE") or "/var/cache/zengarden") / "etcd-v3.5.21" / "bin" / "etcdutl"

# What k3s v1.32 writes to /var/lib/rancher/k3s/server/db/etcd/config (pkg/etcd: member <node>-<8 hex>).
K3S_ETCD_CONFIG = """\
advertise-client-urls: https://192.168.77.170:2379
client-transport-security:
  cert-file: /var/lib/rancher/k3s/server/tls/etcd/server-client.crt
  client-cert-auth: true
  key-file: /var/lib/rancher/k3s/server/tls/etcd/server-client.key
  trusted-ca-file: /var/lib/rancher/k3s/server/tls/etcd/server-ca.crt
data-dir: /var/lib/rancher/k3s/server/db/etcd
election-timeout: 5000
experimental-initial-corrupt-check: true
heartbeat-interval: 500
initial-cluster: blade001-4c1e2a7f=https://192.168.77.170:2380
initial-cluster-state: new
listen-client-urls: https://127.0.0.1:2379,https://192.168.77.170:2379
listen-metrics-urls: http://127.0.0.1:2381
listen-peer-urls: https://127.0.0.1:2380,https://192.168.77.170:2380
log-outputs:
- stderr
logger: zap
name: blade001-4c1e2a7f
snapshot-count: 10000
"""


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE)


def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REC / "survey-healthy.json").read_text())
    return data


def survey(data: dict[str, Any] | None = None) -> EtcdSurvey:
    data = copy.deepcopy(data or recorded())
    return EtcdSurvey(
        [EndpointReport(**e) for e in data["endpoints"]],
        data["members"],
        data["members_error"],
        data["alarms"],
        data["alarms_error"],
    )


def down(data: dict[str, Any], endpoint: str, cause: str = "connection refused") -> dict[str, Any]:
    """The survey as the client records a member that refuses connections."""
    for e in data["endpoints"]:
        if e["endpoint"] == endpoint:
            e.update(status=None, health=None, error=cause, health_error="")
    return data


def leaderless(data: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """A survivor without quorum: it answers its status with leader 0, and /health says so."""
    for e in data["endpoints"]:
        if e["endpoint"] == endpoint:
            e["status"]["leader"] = "0"
            e["health"] = {"health": "false", "reason": "RAFT NO LEADER"}
    return data


def one(findings: list[Finding], subject: str) -> Finding:
    (f,) = [f for f in findings if f.subject == subject]
    return f


# ------------------------------------------------------------------------------------------- healthy
def test_the_recorded_healthy_cluster_passes_every_check(site: Site):
    s = survey()
    findings = [
        *checks.members(site, s),
        *(checks.member_health(site, s, b) for b in site.cluster.etcd.members),
        checks.leader(site, s),
        checks.cluster_id(site, s),
        checks.raft_index_spread(site, s),
        checks.quorum(site, s),
        checks.alarms(site, s),
        *checks.db_size(site, s, {}),
    ]
    assert [f for f in findings if not f.ok] == []
    assert len(findings) == 3 + 3 + 5 + 3
    assert checks.quorum(site, s).message == (
        "3 of 3 members answer and agree on leader blade001 (quorum 2): tolerates 1 more failure"
    )
    assert checks.leader(site, s).message == "3 of 3 members agree on leader blade001 (raft term 2)"
    health = checks.member_health(site, s, "blade002")
    assert (health.control, health.section) == ("K8S-ETCD-HEALTH", "Scalability / High Availability")
    assert health.message.startswith("blade002 (https://192.168.77.171:2379) healthy, etcd 3.5.21, leader blade001")
    assert one(checks.members(site, s), "blade003").message.endswith("peer https://192.168.77.172:2380")
    assert checks.quorum(site, s).control == "K8S-ETCD-QUORUM"


# ------------------------------------------------------------------------------------- members down
def test_one_member_down_fails_its_health_and_nothing_else(site: Site):
    s = survey(down(recorded(), B3))
    bad = checks.member_health(site, s, "blade003")
    assert not bad.ok
    assert (
        bad.message == "blade003 (https://192.168.77.172:2379) unreachable: connection refused; 2 of 3 members answer"
    )
    assert checks.member_health(site, s, "blade001").ok and checks.member_health(site, s, "blade002").ok
    q = checks.quorum(site, s)
    assert q.ok and q.message == (
        "2 of 3 members answer and agree on leader blade001 (quorum 2): no further member may fail"
    )
    lead = checks.leader(site, s)
    assert lead.ok and lead.message == "2 of 3 members agree on leader blade001 (raft term 2) (blade003 did not answer)"
    assert checks.cluster_id(site, s).ok and checks.raft_index_spread(site, s).ok and checks.alarms(site, s).ok
    assert all(f.ok for f in checks.members(site, s))  # the member list (from a survivor) still names all three
    assert [f.subject for f in checks.db_size(site, s, {})] == ["blade001", "blade002"]


def test_the_recorded_one_down_lab(site: Site):
    """As the client recorded the lab with etcd-member-stopped (another cluster, another leader)."""
    s = survey(json.loads((REC / "survey-one-down.json").read_text()))
    assert [f.subject for f in [checks.member_health(site, s, b) for b in site.cluster.etcd.members] if not f.ok] == [
        "blade003"
    ]
    assert checks.quorum(site, s).ok and checks.leader(site, s).ok and checks.alarms(site, s).ok
    assert checks.member_health(site, s, "blade003").message.endswith(
        "unreachable: connection refused; 2 of 3 members answer"
    )


def test_two_members_down_lose_quorum(site: Site):
    s = survey(leaderless(down(down(recorded(), B2), B3), B1))
    q = checks.quorum(site, s)
    assert not q.ok
    assert q.message.startswith("2 of 3 members unreachable (blade002 and blade003): quorum lost, the API cannot write")
    assert [checks.member_health(site, s, b).ok for b in ("blade001", "blade002", "blade003")] == [False] * 3
    survivor = checks.member_health(site, s, "blade001").message
    assert "answers but is not healthy: /health says unhealthy: RAFT NO LEADER; it knows no leader" in survivor
    assert "1 of 3 members answer" in survivor
    assert not checks.leader(site, s).ok


def test_a_leader_that_does_not_answer_is_no_leader(site: Site):
    """Right after the leader stopped, the others still name it until they elect another."""
    f = checks.leader(site, survey(down(recorded(), B1)))
    assert not f.ok
    assert f.message.startswith("blade002 and blade003 name blade001 leader, but blade001 does not answer (connection")


def test_the_recorded_two_down_lab(site: Site):
    """As the client recorded the lab with etcd-two-members-stopped: the survivor's status has no leader field
    (the gateway leaves out zeros) and an error; the alarms timed out (etcd answers them through raft)."""
    s = survey(json.loads((REC / "survey-two-down.json").read_text()))
    q = checks.quorum(site, s)
    assert not q.ok and q.message == (
        "2 of 3 members unreachable (blade002 and blade003): quorum lost, the API cannot write (needs 2 of 3); "
        "start them or restore from a snapshot"
    )
    assert checks.member_health(site, s, "blade001").message == (
        "blade001 (https://192.168.77.170:2379) answers but is not healthy: etcdserver: no leader; "
        "/health says unhealthy: RAFT NO LEADER; it knows no leader; 1 of 3 members answer"
    )
    lead = checks.leader(site, s)
    assert not lead.ok and lead.message == (
        "blade001 knows no leader (blade002 and blade003 did not answer): no leader, no writes"
    )
    assert s.alarms is None and "timed out" in s.alarms_error
    assert all(f.ok for f in checks.members(site, s))  # the survivor still lists every member
    assert checks.cluster_id(site, s).ok and checks.raft_index_spread(site, s).ok


def test_members_that_answer_without_agreeing_are_no_quorum(site: Site):
    data = recorded()
    data["endpoints"][1]["status"]["leader"] = "42"
    data["endpoints"][2]["status"]["leader"] = "0"
    s = survey(data)
    q = checks.quorum(site, s)
    assert not q.ok and q.message.startswith("3 of 3 members answer but only 1 agrees on a leader (needs 2)")
    lead = checks.leader(site, s)
    assert not lead.ok and lead.message.startswith("members disagree on the leader (")


def test_nothing_answers(site: Site):
    data = recorded()
    for ep in (B1, B2, B3):
        down(data, ep, "timed out")
    data.update(members=None, members_error="no endpoint answered", alarms=None, alarms_error="no endpoint answered")
    s = survey(data)
    assert checks.quorum(site, s).message.startswith("3 of 3 members unreachable (blade001, blade002 and blade003)")
    assert not checks.members(site, s)[0].ok
    assert checks.db_size(site, s, {}) == []  # nothing to judge: the suite's conformance errors on that


# -------------------------------------------------------------------------------------- agreement
def test_a_member_of_another_cluster_is_named(site: Site):
    data = recorded()
    data["endpoints"][2]["status"]["header"]["cluster_id"] = "255"
    f = checks.cluster_id(site, survey(data))
    assert not f.ok and "blade003: ff" in f.message


def test_a_lagging_member_is_named(site: Site):
    data = recorded()
    data["endpoints"][1]["status"]["raftIndex"] = str(455 - 5000)
    f = checks.raft_index_spread(site, survey(data))
    assert not f.ok
    assert f.message.startswith("spread 5000 (at most 1000)") and "blade002 lags" in f.message


@pytest.mark.parametrize(("alarm", "meaning"), [("NOSPACE", "reached its quota"), ("CORRUPT", "differs")])
def test_alarms_name_the_member_and_what_to_do(site: Site, alarm: str, meaning: str):
    data = recorded()
    data["alarms"] = [{"memberID": data["endpoints"][1]["status"]["header"]["member_id"], "alarm": alarm}]
    f = checks.alarms(site, survey(data))
    assert not f.ok and f.message.startswith(f"blade002 raised {alarm}: ") and meaning in f.message


def test_db_size_and_quota(site: Site):
    data = recorded()
    data["endpoints"][0]["status"].update(dbSize=str(1100 * checks.MIB), dbSizeInUse=str(300 * checks.MIB))
    quota = 1200 * checks.MIB
    f = one(checks.db_size(site, survey(data), {"blade001": quota}), "blade001")
    assert not f.ok
    assert f.message.startswith(
        "db 1100.0 MiB (in use 300.0 MiB, 800.0 MiB reclaimable by defragmentation), quota 1200.0 MiB (8.3% free)"
    )
    assert "larger than 1024 MiB" in f.message and "less than 20% of the quota free" in f.message
    ok = one(checks.db_size(site, survey(), {}), "blade002")
    assert ok.ok and "quota 2048.0 MiB" in ok.message and "8.0 KiB" not in ok.message


# --------------------------------------------------------------------------------------- membership
def test_k3s_member_names_are_the_blades(site: Site):
    data = recorded()
    for m in data["members"]:
        m["name"] = f"{m['name']}-1a2b3c4d"
    assert all(f.ok for f in checks.members(site, survey(data)))
    assert checks.is_member_of("blade001-1a2b3c4d", "blade001")
    assert not checks.is_member_of("blade0011-1a2b3c4d", "blade001")
    assert not checks.is_member_of("blade001-xyz", "blade001")


def test_member_list_deviations(site: Site):
    data = recorded()
    members = data["members"]
    by_name = {m["name"]: m for m in members}
    by_name["blade002"]["peerURLs"] = ["http://192.168.77.171:2380"]
    by_name["blade003"]["isLearner"] = True
    members.append({"ID": "255", "name": "blade009", "peerURLs": ["https://192.168.77.190:2380"]})
    findings = checks.members(site, survey(data))
    assert one(findings, "blade001").ok
    assert (
        "peer URLs http://192.168.77.171:2380, expected https://192.168.77.171:2380"
        in one(findings, "blade002").message
    )
    assert "is a learner (not voting)" in one(findings, "blade003").message
    extra = one(findings, "blade009")
    assert not extra.ok and "etcdctl member remove ff" in extra.message


def test_a_missing_and_an_unstarted_member(site: Site):
    data = recorded()
    first = next(m for m in data["members"] if m["name"] == "blade001")
    data["members"] = [first, {"ID": "7", "peerURLs": ["https://192.168.77.171:2380"]}]
    findings = checks.members(site, survey(data))
    assert "was added but never started" in one(findings, "blade002").message
    assert one(findings, "blade003").message.startswith("is not an etcd member")


# ------------------------------------------------------------------------------------------ config
def test_the_config_k3s_writes(site: Site):
    cfg = checks.read_etcd_config(K3S_ETCD_CONFIG)
    assert (cfg.name, cfg.heartbeat_ms, cfg.election_timeout_ms) == ("blade001-4c1e2a7f", 500, 5000)
    assert cfg.quota_bytes == 2 * 1024**3  # k3s sets none: etcd's default
    (f,) = checks.timings(site, "blade001", K3S_ETCD_CONFIG, "/cfg")
    assert f.ok and f.message == (
        "heartbeat-interval 500 ms, election-timeout 5000 ms, quota 2048.0 MiB, member blade001-4c1e2a7f"
    )


def test_timings_that_differ_from_the_site(site: Site):
    text = K3S_ETCD_CONFIG.replace("heartbeat-interval: 500\n", "").replace(
        "election-timeout: 5000", "election-timeout: 400"
    )
    (f,) = checks.timings(site, "blade001", text, "/cfg")
    assert not f.ok
    assert f.message.startswith("heartbeat-interval 100 ms (etcd's default), election-timeout 400 ms")
    assert "heartbeat-interval 100 ms, the site says 500 ms" in f.message
    assert "election-timeout 400 ms, the site says 5000 ms" in f.message
    assert "less than 5 heartbeats" in f.message
    (other,) = checks.timings(site, "blade002", K3S_ETCD_CONFIG, "/cfg")
    assert "named 'blade001-4c1e2a7f', not after blade002" in other.message
    (missing,) = checks.timings(site, "blade001", None, "/cfg")
    assert not missing.ok and "is missing" in missing.message
    (garbage,) = checks.timings(site, "blade001", "- a\n- b\n", "/cfg")
    assert not garbage.ok and "not a YAML mapping" in garbage.message


def test_the_lab_runs_etcd_from_such_a_file(site: Site, tmp_path: Path):
    from pytest_zengarden.lab.controlplane import plan_control_plane

    plan = plan_control_plane(site, {b: f"ns-{b}" for b in site.blades}, tmp_path)
    proc = plan.process("etcd-blade002")
    path = tmp_path / "hosts/blade002/var/lib/rancher/k3s/server/db/etcd/config"
    assert proc.argv[1:] == (f"--config-file={path}",)
    doc = yaml.safe_load(plan.etcd_configs[path])
    assert doc["data-dir"] == str(path.parent)
    assert doc["client-transport-security"]["client-cert-auth"] is True
    assert doc["initial-cluster"].startswith("blade001=https://192.168.77.170:2380,")
    (f,) = checks.timings(site, "blade002", plan.etcd_configs[path], "/cfg")
    assert f.ok, f.message


# --------------------------------------------------------------------------------------- snapshots
def test_a_real_snapshot_is_intact():
    assert checks.verify_snapshot_bytes(SNAPSHOT) == []
    problems, seen = checks.snapshot_problems(
        SnapshotDigest("x", len(SNAPSHOT), SNAPSHOT[:8192], hashlib.sha256(SNAPSHOT[:-32]).hexdigest(), SNAPSHOT[-32:])
    )
    assert problems == [] and seen == "0.0 MiB database, bbolt txid 8"


def _with_sha(db: bytes) -> bytes:
    return db + hashlib.sha256(db).digest()


def test_damaged_snapshots_are_refused():
    db = bytearray(SNAPSHOT[:-32])
    flipped = bytearray(SNAPSHOT)
    flipped[len(SNAPSHOT) // 2] ^= 1
    assert checks.verify_snapshot_bytes(bytes(flipped)) == [
        "the sha256 at its end does not match its contents: the file is damaged"
    ]
    assert "truncated or not a snapshot" in checks.verify_snapshot_bytes(SNAPSHOT[:-100])[0]
    assert "truncated or not a snapshot" in checks.verify_snapshot_bytes(SNAPSHOT[:-32])[0]  # no sha: not etcd's
    meta1 = bytearray(db)
    meta1[4096 + 16 + 48] ^= 1  # page 1's txid: its checksum no longer matches (the sha is made anew)
    assert checks.verify_snapshot_bytes(_with_sha(bytes(meta1))) == [
        "bbolt meta page 1 is damaged (magic, version or checksum)"
    ]
    nomagic = bytearray(db)
    struct.pack_into("<I", nomagic, 16, 0x12345678)
    assert checks.verify_snapshot_bytes(_with_sha(bytes(nomagic))) == [
        "it does not start with a bbolt meta page (wrong magic): not an etcd database"
    ]


@pytest.mark.skipif(not os.access(ETCDUTL, os.X_OK), reason="etcdutl is not built (./scripts/build-etcdutl)")
def test_etcdutl_agrees(tmp_path: Path):
    """etcd's own tool as the judge: restore (which checks the sha256) and status (which opens the database)."""
    cases = {"good": SNAPSHOT}
    flipped = bytearray(SNAPSHOT)
    flipped[len(SNAPSHOT) // 2] ^= 1
    cases["sha"] = bytes(flipped)
    nomagic = bytearray(SNAPSHOT[:-32])
    struct.pack_into("<I", nomagic, 16, 0x12345678)
    struct.pack_into("<I", nomagic, 4096 + 16, 0x12345678)
    cases["magic"] = _with_sha(bytes(nomagic))
    for name, data in cases.items():
        path = tmp_path / f"{name}.db"
        path.write_bytes(data)
        restore = subprocess.run(
            [str(ETCDUTL), "snapshot", "restore", str(path), "--data-dir", str(tmp_path / f"{name}-restored")],
            capture_output=True,
            timeout=60,
        )
        ours = checks.verify_snapshot_bytes(data)
        assert (restore.returncode == 0) == (ours == []), (name, restore.stderr[-300:], ours)
    status = subprocess.run([str(ETCDUTL), "snapshot", "status", str(tmp_path / "good.db"), "-w", "json"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert json.loads(status.stdout)["totalSize"] == len(SNAPSHOT) - 32


def test_snapshot_age(site: Site):
    now = 1_800_000_000.0
    listing = SnapshotDir(
        "/var/lib/rancher/k3s/server/db/snapshots",
        now,
        [
            SnapshotFile(f"etcd-snapshot-blade001-{int(now - 30 * 3600)}", 100, now),
            SnapshotFile(f"on-demand-blade001-{int(now - 2 * 3600)}", 20512, now - 2 * 3600),
            SnapshotFile(f"on-demand-blade002-{int(now - 60)}", 100, now),  # another node's: not blade001's
            SnapshotFile("notes.txt", 1, now),
        ],
    )
    f = checks.snapshot_age(site, "blade001", listing)
    assert f.ok and f.control == "K8S-ETCD-SNAPSHOTS"
    assert f.message == f"newest on-demand-blade001-{int(now - 2 * 3600)} (0.0 MiB), 2.0 h old (at most 26 h)"
    stale = SnapshotDir(listing.path, now + 25 * 3600, listing.files)
    g = checks.snapshot_age(site, "blade001", stale)
    assert not g.ok and "27.0 h old (at most 26 h): the schedule has not run" in g.message
    k3s_named = SnapshotDir(listing.path, now, [SnapshotFile(f"etcd-snapshot-blade003-1a2b3c4d-{int(now)}", 1, now)])
    assert checks.snapshot_age(site, "blade003", k3s_named).ok
    assert checks.snapshot_age(site, "blade003", listing).message.startswith("no snapshot of blade003 in")
    assert "does not exist" in checks.snapshot_age(site, "blade003", None).message


@pytest.mark.parametrize(
    ("spec", "hours"),
    [("0 */12 * * *", 12), ("0 3 * * *", 24), ("@daily", 24), ("@every 6h", 6), ("@every 90m", 1.5),
     ("@every 1h30m", 1.5), ("0 0 * * 0", 168), ("0 3 * * 5-7", 120), ("0 3 * * sat,sun", 144), ("*/5 * * * *", 5 / 60),
     ("30 1,13 * * *", 12), ("0 0 1 * *", 744)],
)  # fmt: skip
def test_cron_longest_gap(spec: str, hours: float):
    assert checks.cron_longest_gap_hours(spec) == pytest.approx(hours)


@pytest.mark.parametrize("spec", ["0 3 * *", "x * * * *", "0 25 * * *", "@every 0s", "0 0 31 2 *"])
def test_not_a_schedule(spec: str):
    with pytest.raises(ValueError):
        checks.cron_longest_gap_hours(spec)


def test_snapshot_settings(site: Site):
    assert checks.snapshot_settings(site, "blade001", {}).message == (
        "schedule '0 */12 * * *' (k3s default) (at least every 12 h), retention 5 (k3s default), "
        "in /var/lib/rancher/k3s/server/db/snapshots (k3s default)"
    )
    assert checks.snapshot_settings(site, "blade001", {}).ok
    weekly = checks.snapshot_settings(site, "blade001", {"etcd-snapshot-schedule-cron": "@weekly"})
    assert not weekly.ok and "a snapshot only every 168 h, the site wants one within 26 h" in weekly.message
    off = checks.snapshot_settings(site, "blade001", {"etcd-disable-snapshots": True})
    assert not off.ok and "etcd-disable-snapshots is set" in off.message
    few = checks.snapshot_settings(site, "blade001", {"etcd-snapshot-retention": 2})
    assert not few.ok and "the site keeps 5" in few.message
    bad = checks.snapshot_settings(site, "blade001", {"etcd-snapshot-schedule-cron": "every day"})
    assert not bad.ok and "k3s cannot run it" in bad.message


def test_the_provisioner_renders_the_sites_schedule_on_servers_only(site: Site):
    cfg = k3s_config(site, "blade002")
    assert (cfg["etcd-snapshot-schedule-cron"], cfg["etcd-snapshot-retention"]) == ("0 3 * * *", 5)
    assert "etcd-snapshot-dir" not in cfg  # k3s's default directory
    assert checks.snapshot_settings(site, "blade002", cfg).ok
    assert "etcd-snapshot-schedule-cron" not in k3s_config(site, "blade004")


def test_a_site_without_etcd_health_or_snapshots_uses_the_defaults_under_the_quorum_control(tmp_path: Path):
    data = site_data()
    del data["cluster"]["etcd"]["health"], data["cluster"]["etcd"]["snapshots"]
    plain = load_site(write_site(tmp_path / "site.yaml", data))
    assert checks.health_statement(plain).control == checks.snapshot_statement(plain).control == "K8S-ETCD-QUORUM"
    assert checks.member_health(plain, survey(), "blade001").ok
    assert "etcd-snapshot-schedule-cron" not in k3s_config(plain, "blade001")


# ------------------------------------------------------------------------------------------ client
def test_the_survey_records_a_refused_member_instead_of_raising(tmp_path: Path):
    """Loopback only: a closed port refuses at once; the survey says so and keeps going."""
    from pytest_zengarden.clients.etcd import EtcdClient

    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=t", "-days", "1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    client = EtcdClient([f"https://127.0.0.1:{port}"], cert, cert, key, timeout=2)
    try:
        start = time.monotonic()
        got = client.survey()
    finally:
        client.close()
    assert time.monotonic() - start < 10
    (report,) = got.endpoints
    assert not report.answered and report.error == "connection refused"
    assert got.members is None and "connection refused" in got.members_error
    assert got.alarms is None and got.alarms_error == "no endpoint answered"


def test_stopped_processes_of_the_etcd_deviations():
    from pytest_zengarden.lab.deviations import CATALOGUE, stopped_processes

    members = ["blade001", "blade002", "blade003"]
    assert stopped_processes(["etcd-member-stopped"], members) == ["etcd-blade003"]
    assert stopped_processes(["etcd-two-members-stopped"], members) == ["etcd-blade003", "etcd-blade002"]
    assert stopped_processes(["tls12"], members) == []
    assert CATALOGUE["etcd-member-stopped"].breaks == "K8S-ETCD-HEALTH"
    assert CATALOGUE["etcd-two-members-stopped"].breaks == "K8S-ETCD-QUORUM"
