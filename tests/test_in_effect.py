"""What a blade runs with now: k3s's journal start lines (facts/in_effect.py) and the lab's stand-ins."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_zengarden.errors import NotInEffect
from pytest_zengarden.facts.in_effect import file_in_effect, parse_running, running
from pytest_zengarden.lab.k3s_supervisor import (
    agent_started,
    as_blade_paths,
    journal_line,
    journalctl_shim,
    kubelet_argv,
    log_start,
)
from pytest_zengarden.offline.hostfiles import FileTreeHost

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "recorded" / "hosts"
# As k3s v1.32 logs it (logrus text format, journalctl -o short-unix), quotes in the message escaped.
K3S_LINES = (
    '1764498000.000001 blade001 k3s[700]: time="2025-11-30T10:20:00Z" level=info msg="Starting k3s v1.32.4+k3s1"\n'
    '1764498001.250000 blade001 k3s[700]: time="2025-11-30T10:20:01Z" level=info '
    'msg="Running kube-apiserver --anonymous-auth=true --enable-admission-plugins=NodeRestriction"\n'
    '1764498612.418250 blade001 k3s[812]: time="2025-11-30T10:30:12Z" level=info '
    'msg="Running kube-apiserver --anonymous-auth=false --enable-admission-plugins=NodeRestriction '
    '--oidc-username-prefix= --enable-admission-plugins=NodeRestriction,EventRateLimit --profiling"\n'
    '1764498612.419000 blade001 k3s[812]: time="2025-11-30T10:30:12Z" level=info '
    'msg="Running kubelet --node-ip=192.168.77.170 --node-labels=\\"a=b\\""\n'
)


def test_the_last_start_line_is_what_runs() -> None:
    run = parse_running(K3S_LINES, "kube-apiserver", "blade001")
    assert run is not None
    assert run.started == 1764498612.41825
    assert run.flag("anonymous-auth") == "false"  # the earlier start said true: not in effect any more
    assert run.values("enable-admission-plugins") == ["NodeRestriction", "NodeRestriction,EventRateLimit"]
    assert run.flag("enable-admission-plugins") == "NodeRestriction,EventRateLimit"
    assert run.flag("oidc-username-prefix") == ""
    assert run.flag("profiling") == "true"
    assert run.flag("oidc-issuer-url") is None
    kubelet = parse_running(K3S_LINES, "kubelet", "blade001")
    assert kubelet is not None and kubelet.flag("node-labels") == '"a=b"'
    assert parse_running(K3S_LINES, "kube-scheduler", "blade001") is None


def test_a_journal_without_times_cannot_be_placed() -> None:
    line = K3S_LINES.splitlines()[1].split(" ", 1)[1]  # `-o short` instead of `-o short-unix`
    with pytest.raises(NotInEffect, match="line 1 has no unix time"):
        parse_running("Nov 30 10:20:01 " + line + "\n", "kube-apiserver", "blade001")


def test_the_lab_writes_the_line_k3s_writes(tmp_path: Path) -> None:
    root = tmp_path / "blade002"
    argv = ["/cache/kube-apiserver", f"--admission-control-config-file={root}/var/lib/rancher/k3s/server/psa.yaml",
            '--oidc-username-claim=em"ail', "--etcd-servers=https://192.168.77.171:2379"]  # fmt: skip
    log_start(root, "k3s", "blade002", 4242, [("kube-apiserver", argv)])
    text = (root / "var/lib/rancher/.lab-journal/k3s.log").read_text()
    assert re.match(r"\d{10}\.\d{6} blade002 k3s\[4242\]: time=\"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\" level=info ", text)
    run = parse_running(text, "kube-apiserver", "blade002")
    assert run is not None
    # The blade's own paths, as k3s on the blade would log them (not the lab's state directory).
    assert run.flag("admission-control-config-file") == "/var/lib/rancher/k3s/server/psa.yaml"
    assert run.flag("oidc-username-claim") == 'em"ail'
    assert as_blade_paths(root, [f"--x={root}/etc/a"]) == ["--x=/etc/a"]
    assert journal_line(0.5, "b", "k3s", 1, "kubelet", ["kubelet", "--a=1"]) == (
        '0.500000 b k3s[1]: time="1970-01-01T00:00:00Z" level=info msg="Running kubelet --a=1"\n'
    )


def test_kubelet_argv_follows_the_k3s_config() -> None:
    argv = kubelet_argv(
        {"protect-kernel-defaults": True, "node-ip": "10.0.0.5",
         "kubelet-arg": ["pod-max-pids=1000", "read-only-port=10255"]}, "blade004",
    )  # fmt: skip
    flags = dict(a[2:].split("=", 1) for a in argv[1:])
    assert flags["protect-kernel-defaults"] == "true"
    assert flags["node-ip"] == "10.0.0.5"
    assert flags["pod-max-pids"] == "1000"
    assert flags["read-only-port"] == "10255"  # kubelet-arg replaces k3s's default
    assert flags["hostname-override"] == "blade004"
    assert "protect-kernel-defaults" not in dict(a[2:].split("=", 1) for a in kubelet_argv({}, "b")[1:])


def test_an_agent_start_logs_its_kubelet(tmp_path: Path) -> None:
    root = tmp_path / "blade005"
    (root / "etc/rancher/k3s").mkdir(parents=True)
    agent_started(root, "blade005")  # the fresh install: no config
    (root / "etc/rancher/k3s/config.yaml").write_text("protect-kernel-defaults: true\nkubelet-arg: [pod-max-pids=7]\n")
    agent_started(root, "blade005")  # systemctl restart k3s-agent after the provisioner wrote it
    text = (root / "var/lib/rancher/.lab-journal/k3s-agent.log").read_text()
    assert text.count("Running kubelet") == 2
    run = parse_running(text, "kubelet", "blade005")
    assert run is not None and run.flag("pod-max-pids") == "7" and run.flag("protect-kernel-defaults") == "true"


def test_the_journalctl_shim_serves_the_units_journal(tmp_path: Path) -> None:
    shim = tmp_path / "journalctl"
    shim.write_text(journalctl_shim(sys.executable, str(tmp_path)))
    shim.chmod(0o755)
    (tmp_path / "k3s.log").write_text(K3S_LINES)

    def jctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(shim), *args], capture_output=True, text=True, timeout=30, env=dict(os.environ))

    assert jctl("-u", "k3s", "-b", "-o", "short-unix", "--no-pager", "-q").stdout == K3S_LINES
    assert jctl("--unit=k3s.service").stdout == K3S_LINES
    assert jctl("-u", "k3s-agent", "-b").stdout == ""  # a unit that never logged
    assert jctl("-u", "k3s", "-o", "cat").stdout.splitlines()[0] == (
        'time="2025-11-30T10:20:00Z" level=info msg="Starting k3s v1.32.4+k3s1"'
    )
    refused = jctl("-b")
    assert refused.returncode == 1 and "-u UNIT" in refused.stderr


def test_files_in_effect_from_a_recording(tmp_path: Path) -> None:
    host = FileTreeHost("blade001", RECORDED / "blade001")
    run = running(host, "kube-apiserver")
    assert run.flag("admission-control-config-file") == "/var/lib/rancher/k3s/server/psa.yaml"
    assert "PodSecurity" in (file_in_effect(host, run, "/var/lib/rancher/k3s/server/psa.yaml") or "")
    assert file_in_effect(host, run, "/var/lib/rancher/k3s/server/absent.yaml") is None
    with pytest.raises(NotInEffect, match=r"no 'Running kube-apiserver' line in `journalctl -u k3s-agent -b`"):
        running(FileTreeHost("blade004", RECORDED / "blade004"), "kube-apiserver", "k3s-agent")
    agent = running(FileTreeHost("blade004", RECORDED / "blade004"), "kubelet", "k3s-agent")
    assert agent.flag("protect-kernel-defaults") == "true"
