"""Blade hardening checks over recorded command outputs (tests/recordings/blades, see its README)."""

from __future__ import annotations

import json
import subprocess
import types
from pathlib import Path

import pytest

from pytest_zengarden.checks import blade_hardening as checks
from pytest_zengarden.clients.hosts import SshBlade
from pytest_zengarden.desired.hosts import kubelet_reserved_args, sshd_dropin_text, sysctl_text
from pytest_zengarden.facts import blade_state as state
from pytest_zengarden.facts.blade_state import CommandOutput
from pytest_zengarden.facts.in_effect import parse_running
from pytest_zengarden.lab import deviations
from pytest_zengarden.provision.blades import plan_blade, service_command
from pytest_zengarden.site.loader import load_site

from .helpers import SITE

REC = Path(__file__).parent / "recordings" / "blades"


@pytest.fixture(scope="module")
def site():
    return load_site(SITE)


def out(name: str, rc: int = 0) -> CommandOutput:
    return CommandOutput(rc, (REC / name).read_text())


def lab_answers() -> dict[str, CommandOutput]:
    data = json.loads((REC / "lab-blade001-answers.json").read_text())
    return {k: CommandOutput(v["rc"], v["stdout"], v["stderr"]) for k, v in data.items()}


def bad(findings):
    return {f.subject: f.message for f in findings if not f.ok}


def journal(name: str, lines: int | None = None) -> str:
    text = (REC / name).read_text()
    return "".join(text.splitlines(keepends=True)[:lines]) if lines else text


# ------------------------------------------------------------------------------------------- sshd
def test_sshd_hardened_passes_with_the_control_of_the_site(site):
    findings = checks.sshd(site, "blade001", out("sshd-T-debian12-hardened.txt"))
    assert len(findings) == 4 and all(f.ok for f in findings)
    assert {f.control for f in findings} == {"HOST-SSHD"}
    assert all(f.subject.startswith("blade001 sshd ") for f in findings)


def test_sshd_debian_default_allows_passwords_and_root_with_keys(site):
    # OpenSSH 9.2 prints prohibit-password as without-password: read as the same setting.
    problems = bad(checks.sshd(site, "blade003", out("sshd-T-debian12-default.txt")))
    assert set(problems) == {"blade003 sshd passwordauthentication", "blade003 sshd permitrootlogin"}
    assert problems["blade003 sshd permitrootlogin"].startswith("prohibit-password (sshd -T), expected no")
    assert "PasswordAuthentication no" in problems["blade003 sshd passwordauthentication"]


def test_sshd_an_earlier_drop_in_wins_over_the_hardening(site):
    problems = bad(checks.sshd(site, "blade002", out("sshd-T-debian12-password-dropin.txt")))
    assert list(problems) == ["blade002 sshd passwordauthentication"]
    assert "first value it reads" in problems["blade002 sshd passwordauthentication"]


def test_sshd_that_cannot_report_is_a_failure_naming_why(site):
    answer = CommandOutput(255, "", "Missing privilege separation directory: /run/sshd\n")
    (f,) = checks.sshd(site, "blade004", answer)
    assert not f.ok and "Missing privilege separation directory" in f.message


# -------------------------------------------------------------------------------------- etcd disk
def disk(findmnt: str, lsblk: str | None, root: str = "findmnt-root-vda.json") -> dict[str, CommandOutput]:
    answers = {"findmnt": out(findmnt), "findmnt_root": out(root)}
    answers["lsblk"] = out(lsblk) if lsblk else CommandOutput(4, "not a block device: tmpfs\n")
    return answers


def test_etcd_disk_on_a_dedicated_non_rotational_10g_device_passes_and_says_what_it_is(site):
    (f,) = checks.etcd_disk(site, "blade001", disk("findmnt-loop-ext4-10g.json", "lsblk-loop-10g.json"))
    assert f.ok, f.message
    assert f.control == "HOST-ETCD-DISK"
    assert "loop device (a file, not NVMe)" in f.message and "10.0 GiB device" in f.message


def test_etcd_disk_from_the_lab_blade_passes(site):
    (f,) = checks.etcd_disk(site, "blade001", lab_answers())
    assert f.ok, f.message
    assert f.message.startswith("mount /var/lib/rancher/k3s/server/db, ext4 on /dev/loop")


def test_etcd_disk_too_small(site):
    (f,) = checks.etcd_disk(site, "blade002", disk("findmnt-loop-ext4-2g.json", "lsblk-loop-2g.json"))
    assert not f.ok and "2.0 GiB device, below the 10 GiB" in f.message


def test_etcd_disk_on_a_bind_mount_of_the_root_device(site):
    (f,) = checks.etcd_disk(site, "blade002", disk("findmnt-bind-of-root.json", "lsblk-vda-rotational.json"))
    assert not f.ok
    assert "bind mount of the root filesystem's device /dev/vda" in f.message
    assert "rotational" in f.message


def test_etcd_disk_on_the_root_filesystem(site):
    (f,) = checks.etcd_disk(site, "blade003", disk("findmnt-root-vda.json", "lsblk-vda-rotational.json"))
    assert not f.ok and "on the root filesystem" in f.message and "the device is rotational" in f.message


def test_etcd_disk_on_tmpfs_has_no_device_to_judge(site):
    (f,) = checks.etcd_disk(site, "blade003", disk("findmnt-tmpfs.json", None))
    assert not f.ok and "no block device" in f.message and "cannot tell it is non-rotational" in f.message


def test_etcd_disk_missing_path(site):
    answers = {
        "findmnt": CommandOutput(1, ""),
        "findmnt_root": out("findmnt-root-vda.json"),
        "lsblk": CommandOutput(3, ""),
    }
    (f,) = checks.etcd_disk(site, "blade001", answers)
    assert not f.ok and "does it exist?" in f.message


# ------------------------------------------------------------------------------- kubelet, kernel
def kubelet(name: str, lines: int | None = None):
    found = parse_running(journal(name, lines), "kubelet", "blade")
    assert found is not None
    return found


def test_reserved_in_effect_passes_and_a_restart_without_them_fails(site):
    provisioned = kubelet("journal-k3s-agent-blade005-kubelet-no-reserve.log", 2)
    assert all(f.ok for f in checks.reserved(site, "blade005", provisioned))
    latest = kubelet("journal-k3s-agent-blade005-kubelet-no-reserve.log")
    problems = bad(checks.reserved(site, "blade005", latest))
    assert set(problems) == {
        "blade005 kubelet --system-reserved",
        "blade005 kubelet --kube-reserved",
        "blade005 kubelet --eviction-hard",
    }
    assert "restart k3s-agent" in problems["blade005 kubelet --system-reserved"]
    assert "imagefs.available<5%" in problems["blade005 kubelet --eviction-hard"]


def test_reserved_without_a_kubelet_start_fails_with_the_reason(site):
    (f,) = checks.reserved(site, "blade004", "blade004: no 'Running kubelet' line")
    assert not f.ok and f.control == "HOST-RESERVED" and "no 'Running kubelet' line" in f.message


def test_kubelet_map_reads_both_separators():
    assert checks.kubelet_map("cpu=250m,memory=512Mi") == {"cpu": "250m", "memory": "512Mi"}
    assert checks.kubelet_map("memory.available<200Mi,nodefs.available<10%") == {
        "memory.available": "200Mi",
        "nodefs.available": "10%",
    }


def test_kernel_defaults_in_the_lab_pass(site):
    answers = lab_answers()
    run = kubelet("journal-k3s-blade001.log")
    findings = checks.kernel_defaults(site, "blade001", run, answers["sysctl"], sysctl_text(site))
    assert findings and all(f.ok for f in findings), bad(findings)


def test_kernel_defaults_fail_on_the_lab_machines_own_values_and_a_missing_file(site):
    # This machine's kernel as recorded: kernel.panic=1, vm.overcommit_memory=0, kernel.panic_on_oops=0.
    machine = CommandOutput(
        0, "vm.panic_on_oom = 0\nkernel.panic = 1\nvm.overcommit_memory = 0\nkernel.panic_on_oops = 0\n"
    )
    problems = bad(checks.kernel_defaults(site, "blade004", kubelet("journal-k3s-blade001.log"), machine, None))
    assert set(problems) == {"blade004 sysctl kernel.panic", "blade004 sysctl vm.overcommit_memory",
                             "blade004 sysctl kernel.panic_on_oops", "blade004 sysctl vm.panic_on_oom"}  # fmt: skip
    assert "the kernel has 1, expected 10" in problems["blade004 sysctl kernel.panic"]
    assert "(missing)" in problems["blade004 sysctl vm.panic_on_oom"]


def test_kernel_defaults_unprotected_kubelet_fails(site):
    bare = kubelet("journal-k3s-agent-blade005-kubelet-no-reserve.log", 1)  # the fresh install's start
    findings = checks.kernel_defaults(site, "blade005", bare, lab_answers()["sysctl"], sysctl_text(site))
    assert list(bad(findings)) == ["blade005 kubelet --protect-kernel-defaults"]


# ---------------------------------------------------------------------------------- k3s in effect
def starts_of(text: str, components=("kube-apiserver", "kubelet")):
    return {c: parse_running(text, c, "blade001") for c in components}


def test_k3s_in_effect_on_a_provisioned_server_passes(site):
    config = (REC / "k3s-config-blade001.yaml").read_text()
    findings = checks.k3s_in_effect(site, "blade001", starts_of(journal("journal-k3s-blade001.log")), config)
    assert findings and all(f.ok for f in findings), bad(findings)
    subjects = {f.subject for f in findings}
    assert {
        "blade001 kube-apiserver --service-cluster-ip-range",
        "blade001 kube-apiserver --encryption-provider-config",
        "blade001 kubelet --node-ip",
        "blade001 disable",
        "blade001 flannel-backend",
    } <= subjects


def test_k3s_in_effect_judges_the_flags_not_the_file(site):
    # The file on disk says secrets-encryption: true, but the API server was started without the provider.
    text = journal("journal-k3s-blade001.log")
    without = " ".join(w for w in text.split(" ") if not w.startswith("--encryption-provider-config="))
    config = (REC / "k3s-config-blade001.yaml").read_text()
    problems = bad(checks.k3s_in_effect(site, "blade001", starts_of(without), config))
    assert list(problems) == ["blade001 kube-apiserver --encryption-provider-config"]
    assert "secrets are stored unencrypted" in problems["blade001 kube-apiserver --encryption-provider-config"]


def test_k3s_in_effect_a_changed_file_is_not_trusted(site):
    why = "blade001:/etc/rancher/k3s/config.yaml changed at 23:00, after kube-apiserver started at 22:59"
    findings = checks.k3s_in_effect(site, "blade001", starts_of(journal("journal-k3s-blade001.log")), None, why)
    problems = bad(findings)
    assert set(problems) == {"blade001 cluster-cidr", "blade001 flannel-backend", "blade001 disable-network-policy",
                             "blade001 disable"}  # fmt: skip
    assert all("cannot tell what runs" in m and "changed at 23:00" in m for m in problems.values())


def test_k3s_in_effect_on_an_agent_judges_its_kubelet(site):
    findings = checks.k3s_in_effect(
        site, "blade005", {"kubelet": kubelet("journal-k3s-agent-blade005-kubelet-no-reserve.log")}, None, ""
    )
    assert [(f.subject, f.ok) for f in findings] == [("blade005 kubelet --node-ip", True)]


# ----------------------------------------------------------------------------------- time, apparmor
def test_time_sync_in_the_lab_judges_only_the_offset_and_says_so(site):
    answers = lab_answers()
    t = float(answers["date"].stdout)
    (f,) = checks.time_sync(site, "blade001", answers, t - 0.2, t + 0.1)
    assert f.ok and f.control == "HOST-TIME"
    assert "NTP state unknown" in f.message and "only the offset is judged" in f.message


def test_time_sync_fails_only_when_the_offset_is_certainly_too_large(site):
    answers = lab_answers()
    t = float(answers["date"].stdout)
    # Read somewhere within a 3 s session starting 2 s after the blade's time: could be 1 s off, no more.
    (within,) = checks.time_sync(site, "blade001", answers, t + 2.0, t + 5.0)
    assert not within.ok and "more than 1 s off" in within.message
    (maybe,) = checks.time_sync(site, "blade001", answers, t - 2.0, t + 1.0)
    assert maybe.ok


def test_apparmor_lab_stand_in_passes_and_says_it_is_one(site):
    (f,) = checks.apparmor(site, "blade001", lab_answers())
    assert f.ok and "1 profiles loaded (1 enforcing)" in f.message and "lab stand-in" in f.message


def test_apparmor_absent_from_the_kernel_fails(site):
    missing = CommandOutput(1, "", "cat: /sys/module/apparmor/parameters/enabled: No such file or directory\n")
    answers = {"enabled": missing, "profiles": missing, "stand_in": missing}
    (f,) = checks.apparmor(site, "blade004", answers)
    assert not f.ok and "not in the kernel" in f.message


# ---------------------------------------------------------------------------- commands over ssh
def test_commands_runs_each_in_one_session_and_keeps_each_status():
    blade = SshBlade.__new__(SshBlade)
    blade.endpoint = "blade test"
    sessions = []

    def run(command, doing):
        sessions.append(command)
        proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
        return types.SimpleNamespace(rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)

    blade._run = run
    got = blade.commands({"ok": "echo 'a b'; echo two", "fails": "echo oops >&2; exit 7", "reads": "cat"})
    assert len(sessions) == 1
    assert got["ok"] == CommandOutput(0, "a b\ntwo\n", "")
    assert got["fails"] == CommandOutput(7, "", "oops\n")
    assert got["reads"].rc == 0 and got["reads"].stdout == ""  # stdin is /dev/null, never the session's


# ------------------------------------------------------------------------- desired and provisioning
def test_provisioning_writes_the_drop_in_and_reloads_sshd_after_applying_sysctls(site):
    plan = plan_blade(site, "blade004", {})
    lines = [c.subject for c in plan.changes]
    assert "/etc/ssh/sshd_config.d/50-zengarden.conf" in lines
    services = [s for s in lines if s.startswith("service ")]
    assert services == ["service sysctl sysctl -p", "service k3s-agent restart", "service ssh reload"]
    command, _ = service_command("ssh", site)
    assert "sshd -t && systemctl reload ssh" in command and "SUDO_USER" in command
    converged = {c.action[1].path: c.action[1].text for c in plan.changes if c.action[0] == "write"}
    assert plan_blade(site, "blade004", converged).changes == []


def test_desired_kubelet_and_sshd_follow_the_site(site):
    assert kubelet_reserved_args(site) == [
        "system-reserved=cpu=250m,memory=512Mi",
        "kube-reserved=cpu=250m,memory=512Mi",
        "eviction-hard=memory.available<200Mi,nodefs.available<10%",
    ]
    text = sshd_dropin_text(site)
    assert "PasswordAuthentication no\n" in text and "PermitRootLogin no\n" in text
    findings = checks.sshd(site, "blade001", out("sshd-T-debian12-hardened.txt"))
    assert all(f.ok for f in findings)


def test_blade_deviations_touch_one_blade_each(site):
    writes = deviations.CATALOGUE["sshd-password-auth"].blades(lambda blade, path: None)
    assert writes == {
        "blade002": {deviations.LEGACY_SSHD_DROP_IN: "# left by an old image\nPasswordAuthentication yes\n"}
    }
    config = (REC / "k3s-config-blade001.yaml").read_text()
    edited = deviations.CATALOGUE["kubelet-no-reserve"].blades(lambda blade, path: config)
    (text,) = edited["blade005"].values()
    assert "system-reserved" not in text and "node-ip=192.168.77.170" in text
    assert deviations.CATALOGUE["kubelet-no-reserve"].breaks == "HOST-RESERVED"


def test_schema_reads_kubelet_maps_from_strings(site):
    r = site.cluster.node_hardening.reserved
    assert r.system_reserved == {"cpu": "250m", "memory": "512Mi"}
    assert r.eviction_hard == {"memory.available": "200Mi", "nodefs.available": "10%"}
    assert site.cluster.node_hardening.sshd.control == "HOST-SSHD"
    assert state.etcd_disk_commands("/x y")["findmnt"].endswith("-T '/x y'")
