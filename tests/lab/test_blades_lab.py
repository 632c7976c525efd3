"""Blade hardening in the lab: the converged lab passes every blade check, each blade deviation fails exactly
its own, and the lab's stand-ins never touch the lab machine (its kernel, its loop devices, its mounts)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.lab.lifecycle import Lab
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE, junit_cases

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("sudo") is None,
    reason="the lab needs root, iproute2 and sudo (installed by ./scripts/setup)",
)

MGMT = "zg-management"
SUITES = ("suites/test_blade_hardening.py", "features/test_blade_hardening_feature.py", "suites/test_hosts.py")
SYSCTLS = ("vm.panic_on_oom", "vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops")


def machine_sysctls() -> dict[str, str]:
    return {k: Path("/proc/sys", *k.split(".")).read_text().strip() for k in SYSCTLS}


def mounts_under(path: Path) -> list[str]:
    top = str(path.resolve())
    return [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(top)
    ]


def loops_of(path: Path) -> list[str]:
    out = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if str(path.resolve()) in line]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    before = machine_sysctls()
    state = tmp_path_factory.mktemp("blades") / "state"
    lab = Lab(load_site(SITE), SITE, state, progress=lambda msg: None)
    yield lab
    lab.down()
    # Nothing of the blades' stand-ins outlives the lab; the lab machine's kernel never changed.
    assert mounts_under(state) == []
    assert loops_of(state) == []
    assert machine_sysctls() == before


def run_suites(lab: Lab, xml: Path) -> dict[str, dict[str, Any]]:
    proc = subprocess.run(
        ["ip", "netns", "exec", MGMT, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *SUITES,
         "--zg-target", "lab", f"--junitxml={xml}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "ZG_LAB_STATE": str(lab.dir)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    cases = junit_cases(xml)
    assert not [n for n, c in cases.items() if c["outcome"] in ("error", "skipped")], proc.stdout[-3000:]
    return cases


def ssh(lab: Lab, user: str, blade: str, command: str, *opts: str) -> subprocess.CompletedProcess[str]:
    argv = ["ip", "netns", "exec", MGMT, "ssh", "-i", str(lab.dir / "secrets" / "ssh_key"), "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={lab.dir / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=5", *opts, f"{user}@{lab.site.blades[blade].address}", command]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def failed(cases: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {n: c["props"].get("deviation", []) for n, c in cases.items() if c["outcome"] == "failed"}


def test_the_converged_lab_passes_every_blade_check(lab: Lab, tmp_path: Path):
    lab.up()
    cases = run_suites(lab, tmp_path / "default.xml")
    assert failed(cases) == {}
    names = set(cases)
    for check in ("test_sshd", "test_etcd_disk", "test_kernel_defaults_protected", "test_reserved_resources",
                  "test_k3s_in_effect", "test_time_sync", "test_apparmor"):  # fmt: skip
        assert any(f"::{check}[" in n for n in names), check
    # Every etcd member's data is on its own loop-mounted disk, and etcd really writes there.
    for member in lab.site.cluster.etcd.members:
        db = lab.dir / "hosts" / member / "var/lib/rancher/k3s/server/db"
        source = subprocess.run(["findmnt", "-n", "-o", "SOURCE", "--mountpoint", str(db)], capture_output=True,
                                text=True, check=True).stdout.strip()  # fmt: skip
        assert source.startswith("/dev/loop"), source
        assert (db / "etcd" / "member" / "wal").is_dir()


def test_root_cannot_log_in_and_the_labs_user_has_sudo(lab: Lab):
    lab.up()
    refused = ssh(lab, "root", "blade004", "true")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
    who = ssh(lab, "zengarden", "blade004", "id -un; sudo -n id -un")
    assert who.returncode == 0 and who.stdout.split() == ["zengarden", "root"]
    # What the running sshd offers, not only what sshd -T prints: keys only.
    offered = ssh(lab, "nobody", "blade002", "true", "-o", "PubkeyAuthentication=no")
    assert "Permission denied (publickey)." in offered.stderr


def test_sshd_password_auth_fails_exactly_sshd_on_blade002(lab: Lab, tmp_path: Path):
    lab.up(deviate=["sshd-password-auth"])
    fails = failed(run_suites(lab, tmp_path / "sshd.xml"))
    assert set(fails) == {
        "suites.test_blade_hardening::test_sshd[blade002]",
        "features.test_blade_hardening_feature::test_every_blade_is_hardened",
    }
    for deviations in fails.values():
        assert deviations == [d for d in deviations if d.startswith("[HOST-SSHD] blade002 sshd passwordauthentication")]
        assert deviations
    # The running sshd really offers passwords again (it was reloaded), not only its files.
    offered = ssh(lab, "nobody", "blade002", "true", "-o", "PubkeyAuthentication=no")
    assert "Permission denied (publickey,password)." in offered.stderr


def test_kubelet_no_reserve_fails_exactly_reserved_on_blade005(lab: Lab, tmp_path: Path):
    lab.up(deviate=["kubelet-no-reserve"])
    fails = failed(run_suites(lab, tmp_path / "reserve.xml"))
    assert set(fails) == {
        "suites.test_blade_hardening::test_reserved_resources[blade005]",
        "features.test_blade_hardening_feature::test_every_blades_kubelet_runs_as_designed",
    }
    for deviations in fails.values():
        assert deviations and all(d.startswith("[HOST-RESERVED] blade005 kubelet --") for d in deviations)
