"""The etcd checks on the lab's real etcd 3.5.21: the default lab passes all of them, and each etcd deviation
fails exactly the checks it should (suites/test_etcd.py and features/high_availability.feature).

Three bring-ups (about a minute each): the converged lab, etcd-member-stopped, then etcd-two-members-stopped
with etcd-snapshots-stale.  The lab's snapshots are also judged by etcd's own tool (``etcdutl snapshot
restore``, which checks the sha256) when ./scripts/build-etcdutl has built it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.checks.etcd import verify_snapshot_bytes
from pytest_zengarden.lab.etcd_snapshots import snapshot_dir
from pytest_zengarden.lab.lifecycle import Lab
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE, junit_cases

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)

ETCDUTL = Path(os.environ.get("ZG_CACHE") or "/var/cache/zengarden") / "etcd-v3.5.21" / "bin" / "etcdutl"
MEMBERS = ("blade001", "blade002", "blade003")
FEATURE = "features.test_high_availability::test_"
SCENARIOS = {
    "healthy": FEATURE + "the_etcd_members_are_the_controlplane_blades_and_all_of_them_are_healthy",
    "quorum": FEATURE + "a_quorum_of_etcd_members_keeps_the_api_writable",
    "timings": FEATURE + "every_member_runs_with_the_designed_timings_and_has_room_to_grow",
    "schedule": FEATURE + "every_server_snapshots_etcd_at_least_daily",
    "snapshots": FEATURE + "every_server_holds_a_recent_and_intact_etcd_snapshot",
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One lab for the module, rebuilt by each test's deviations; the blades are provisioned too (the k3s
    config with the site's snapshot schedule)."""
    state = tmp_path_factory.mktemp("etcd-lab") / "state"
    lab = Lab(load_site(SITE), SITE, state, progress=lambda msg: None)
    yield lab
    lab.down()


def run_checks(lab: Lab, xml: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    proc = subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "suites/test_etcd.py", "features/test_high_availability.py", "--zg-target", "lab", f"--junitxml={xml}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "ZG_LAB_STATE": str(lab.dir)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc, junit_cases(xml)


def outcomes(cases: dict[str, dict[str, Any]], outcome: str) -> set[str]:
    return {name for name, c in cases.items() if c["outcome"] == outcome}


def suite(*names: str) -> set[str]:
    return {f"suites.test_etcd::{n}" for n in names}


def newest_snapshot(lab: Lab, blade: str) -> Path:
    return max(snapshot_dir(lab.dir, blade).glob(f"on-demand-{blade}-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))


def test_the_default_lab_passes_every_etcd_check(lab: Lab, tmp_path: Path):
    lab.up()
    proc, cases = run_checks(lab, tmp_path / "j.xml")
    assert outcomes(cases, "passed") == set(cases), proc.stdout[-4000:]
    assert len(cases) == 22 + len(SCENARIOS)
    # The timings in effect are reported (read from the file each member was started with).
    props = cases["suites.test_etcd::test_etcd_timings[blade002]"]["props"]
    assert (props["etcd_heartbeat_ms"], props["etcd_election_timeout_ms"]) == (["500"], ["5000"])
    # The provisioner rendered the site's schedule into the servers' k3s config (what the check read).
    k3s = (lab.dir / "hosts" / "blade001" / "etc" / "rancher" / "k3s" / "config.yaml").read_text()
    assert "etcd-snapshot-schedule-cron: 0 3 * * *" in k3s
    for blade in MEMBERS:
        data = newest_snapshot(lab, blade).read_bytes()
        assert verify_snapshot_bytes(data) == []


@pytest.mark.skipif(not os.access(ETCDUTL, os.X_OK), reason="etcdutl is not built (./scripts/build-etcdutl)")
def test_etcdutl_agrees_on_the_labs_snapshots(lab: Lab, tmp_path: Path):
    """etcd's own tool restores the lab's snapshot, and refuses a copy with one flipped byte, as the check does."""
    lab.up()
    good = newest_snapshot(lab, "blade001").read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 3] ^= 0x01
    for name, data in (("good", good), ("bad", bytes(bad))):
        path = tmp_path / name
        path.write_bytes(data)
        restore = subprocess.run(
            [str(ETCDUTL), "snapshot", "restore", str(path), "--data-dir", str(tmp_path / f"{name}-restored")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert (restore.returncode == 0) is (name == "good"), restore.stderr[-500:]
        assert (verify_snapshot_bytes(data) == []) is (name == "good")


def test_one_member_stopped_fails_exactly_member_health(lab: Lab, tmp_path: Path):
    lab.up(deviate=["etcd-member-stopped"])
    proc, cases = run_checks(lab, tmp_path / "j.xml")
    assert outcomes(cases, "error") == set(), proc.stdout[-4000:]
    assert outcomes(cases, "failed") == suite("test_etcd_member_health[blade003]") | {SCENARIOS["healthy"]}, (
        proc.stdout[-4000:]
    )
    assert (
        "[K8S-ETCD-HEALTH] blade003: blade003 (https://192.168.77.172:2379) unreachable: connection refused; "
        "2 of 3 members answer" in proc.stdout
    )
    rows = {name: (ok, detail) for name, ok, detail in lab.status_rows()}
    assert rows["etcd-blade003"] == (False, "not running (expected down (stopped by a deviation))")


def test_two_members_stopped_lose_quorum_and_stale_snapshots_are_found(lab: Lab, tmp_path: Path):
    lab.up(deviate=["etcd-two-members-stopped", "etcd-snapshots-stale"])
    proc, cases = run_checks(lab, tmp_path / "j.xml")
    health = {f"test_etcd_member_health[{b}]" for b in MEMBERS}  # the survivor knows no leader
    ages = {f"test_etcd_snapshot_age[{b}]" for b in MEMBERS}
    assert outcomes(cases, "failed") == suite(*health, *ages, "test_etcd_quorum", "test_etcd_leader") | {
        SCENARIOS["healthy"],
        SCENARIOS["quorum"],
        SCENARIOS["snapshots"],
    }, proc.stdout[-5000:]
    # etcd answers alarms through raft: without quorum they cannot be read, so that check errors.
    assert outcomes(cases, "error") == suite("test_etcd_alarms"), proc.stdout[-4000:]
    assert "2 of 3 members unreachable (blade002 and blade003): quorum lost, the API cannot write" in proc.stdout
    assert re.search(
        r"on-demand-blade001-\d+ \(\d+\.\d MiB\), 72\.\d h old \(at most 26 h\): the schedule", proc.stdout
    )
    rows = {name: (ok, detail) for name, ok, detail in lab.status_rows()}
    assert not rows["etcd-blade002"][0] and not rows["etcd-blade003"][0] and rows["etcd-blade001"][0]
    assert "expected down" in rows["etcd-blade002"][1]
