"""The lab's k3s supervisor, without a lab: the API server's argv from a blade's k3s config, and its systemctl."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_zengarden.desired.hosts import k3s_config
from pytest_zengarden.lab.blades import site_files, write_site_files
from pytest_zengarden.lab.controlplane import plan_control_plane
from pytest_zengarden.lab.k3s_supervisor import (
    ARGV_IN_EFFECT,
    argv_in_effect,
    blade_path,
    build_argv,
    flags_of,
    merge_config,
    read_config,
    systemctl_shim,
)
from pytest_zengarden.site.loader import load_site

from .helpers import SITE

BLADE_NS = {b: f"zg-{b}" for b in ("blade001", "blade002", "blade003", "blade004", "blade005")}
PLUMBING = ["/bin/kube-apiserver", "--secure-port=6443", "--authorization-mode=Node,RBAC", "--profiling=false"]
SITE_FLAGS = ("enable-admission-plugins", "admission-control-config-file", "audit-policy-file", "audit-log-path",
              "encryption-provider-config", "oidc-issuer-url", "oidc-client-id", "oidc-username-claim")  # fmt: skip


@pytest.fixture(scope="module")
def site() -> Any:
    return load_site(SITE)


def test_a_bare_blade_runs_the_plumbing_alone(tmp_path: Path) -> None:
    assert build_argv(PLUMBING, {}, tmp_path) == PLUMBING
    assert read_config(tmp_path) == {}  # no /etc/rancher/k3s/config.yaml: a fresh install


def test_the_sites_config_gives_the_plans_converged_argv(site: Any, tmp_path: Path) -> None:
    """Plumbing + the site's k3s config (as the provisioner writes it) = the flags the plan derives from
    the site: the supervised server of a converged blade runs exactly as before, from its files."""
    plan = plan_control_plane(site, BLADE_NS, tmp_path)
    for proc in plan.apiservers:
        root = tmp_path / "hosts" / proc.blade
        assert not any(flags_of(proc.plumbing).get(f) for f in SITE_FLAGS), proc.plumbing
        write_site_files(site, proc.blade, root)
        argv = build_argv(proc.plumbing, read_config(root), root)
        assert argv[0] == proc.argv[0]
        assert flags_of(argv) == flags_of(proc.argv)
        assert len(argv) == len(proc.argv)  # no flag twice
        assert flags_of(argv)["admission-control-config-file"] == str(root / "var/lib/rancher/k3s/server/psa.yaml")
        # The files the flags name are the ones the provisioner's paths hold.
        assert Path(flags_of(argv)["audit-policy-file"]).is_file()


def test_config_args_replace_and_append_as_k3s_does(tmp_path: Path) -> None:
    config = {
        "kube-apiserver-arg": [
            "profiling=true",  # replaces the default of that name
            "--enable-admission-plugins=NodeRestriction",  # leading dashes are tolerated
            "authorization-mode+=Webhook",  # appends to the default
            "tls-cipher-suites=A",
            "tls-cipher-suites=B",  # repeated: passed twice
            "admission-control-config-file=/var/lib/rancher/k3s/server/psa.yaml",
            "audit-policy-file=/etc/k8s/audit.yaml",
            "oidc-issuer-url=https://issuer.example",
            "some-file=/opt/elsewhere.yaml",  # not a blade path: kept as is
        ],
        "secrets-encryption": True,
    }
    argv = build_argv(PLUMBING, config, tmp_path)
    assert argv[:3] == ["/bin/kube-apiserver", "--secure-port=6443", "--authorization-mode=Node,RBAC,Webhook"]
    assert "--profiling=false" not in argv and "--profiling=true" in argv
    assert [a for a in argv if a.startswith("--tls-cipher-suites")] == [
        "--tls-cipher-suites=A",
        "--tls-cipher-suites=B",
    ]
    f = flags_of(argv)
    assert f["enable-admission-plugins"] == "NodeRestriction"
    assert f["admission-control-config-file"] == str(tmp_path / "var/lib/rancher/k3s/server/psa.yaml")
    assert f["audit-policy-file"] == str(tmp_path / "etc/k8s/audit.yaml")
    assert f["encryption-provider-config"] == str(tmp_path / "var/lib/rancher/k3s/server/cred/encryption-config.json")
    assert f["some-file"] == "/opt/elsewhere.yaml"
    assert f["oidc-client-id"] == "zengarden-lab"  # kube-apiserver refuses an issuer without a client id
    assert not any(a.startswith("--oidc") for a in build_argv(PLUMBING, config, tmp_path, oidc=False))
    assert flags_of(build_argv(PLUMBING, {"secrets-encryption": False}, tmp_path)) == flags_of(PLUMBING)


def test_config_d_files_merge_after_config_yaml(tmp_path: Path) -> None:
    conf = tmp_path / "etc/rancher/k3s"
    (conf / "config.yaml.d").mkdir(parents=True)
    (conf / "config.yaml").write_text(yaml.safe_dump({"kube-apiserver-arg": ["a=1"], "secrets-encryption": True}))
    (conf / "config.yaml.d" / "20-more.yaml").write_text(yaml.safe_dump({"kube-apiserver-arg+": ["b=2"]}))
    (conf / "config.yaml.d" / "10-off.yaml").write_text(yaml.safe_dump({"secrets-encryption": False}))
    (conf / "config.yaml.d" / "notes.txt").write_text("ignored")
    assert read_config(tmp_path) == {"kube-apiserver-arg": ["a=1", "b=2"], "secrets-encryption": False}
    assert merge_config([{"x": "1"}, {"x+": "2"}]) == {"x": ["1", "2"]}


@pytest.mark.skipif(os.geteuid() != 0, reason="a whiteout is a character device: mknod needs root")
def test_a_config_deleted_through_the_overlay_reads_as_absent(tmp_path: Path) -> None:
    conf = tmp_path / "etc/rancher/k3s"
    conf.mkdir(parents=True)
    os.mknod(conf / "config.yaml", 0o600 | 0o020000, os.makedev(0, 0))  # what `rm` in the blade leaves upper
    assert read_config(tmp_path) == {}


def test_a_k3s_config_that_is_no_mapping_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "etc/rancher/k3s"
    conf.mkdir(parents=True)
    (conf / "config.yaml").write_text("- a\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        read_config(tmp_path)


def test_blade_paths_map_into_the_blade_root(tmp_path: Path) -> None:
    assert blade_path(tmp_path, "/etc/rancher/k3s/config.yaml") == tmp_path / "etc/rancher/k3s/config.yaml"
    assert blade_path(tmp_path, "/var/lib/rancher/k3s/x") == tmp_path / "var/lib/rancher/k3s/x"
    assert blade_path(tmp_path, "/var/lib/other") == Path("/var/lib/other")
    assert argv_in_effect(tmp_path) is None
    target = blade_path(tmp_path, ARGV_IN_EFFECT)
    target.parent.mkdir(parents=True)
    target.write_text('{"argv": ["/bin/kube-apiserver", "--a=1"], "pid": 1, "state": "active"}')
    assert argv_in_effect(tmp_path) == ["/bin/kube-apiserver", "--a=1"]


def test_site_files_are_the_blades_config_and_a_servers_psa_and_audit(site: Any) -> None:
    server, worker = site_files(site, "blade001"), site_files(site, "blade004")
    common = {"/etc/rancher/k3s/config.yaml", "/etc/sysctl.d/90-kubelet.conf"}
    assert set(server) == common | {"/var/lib/rancher/k3s/server/psa.yaml", "/var/lib/rancher/k3s/server/audit.yaml"}
    assert set(worker) == common
    assert yaml.safe_load(server["/etc/rancher/k3s/config.yaml"]) == k3s_config(site, "blade001")


# ----------------------------------------------------------------------------- the systemctl shim
class FakeSupervisor:
    """Answers the shim's requests on a UNIX socket as the supervisor would; records what it was asked."""

    def __init__(self, path: Path, replies: dict[str, str]) -> None:
        self.asked: list[str] = []
        self.replies = replies
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                verb = conn.recv(256).decode().strip()
                self.asked.append(verb)
                conn.sendall(self.replies[verb].encode())

    def close(self) -> None:
        self.sock.close()


def _systemctl(tmp_path: Path, sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    shim = tmp_path / "systemctl"
    shim.write_text(systemctl_shim(sys.executable, str(sock)))
    shim.chmod(0o755)
    return subprocess.run([str(shim), *args], capture_output=True, text=True, timeout=30)


def test_systemctl_restart_k3s_asks_the_supervisor_and_reports_its_answer(tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    fake = FakeSupervisor(sock, {"restart": "ok\n", "is-active": "active\n"})
    try:
        ok = _systemctl(tmp_path, sock, "restart", "k3s")
        assert (ok.returncode, ok.stderr) == (0, "")
        active = _systemctl(tmp_path, sock, "is-active", "k3s.service")
        assert (active.returncode, active.stdout) == (0, "active\n")
        assert _systemctl(tmp_path, sock, "--no-pager", "try-restart", "k3s").returncode == 0
        assert fake.asked == ["restart", "is-active", "restart"]
        fake.replies["restart"] = "failed\nkube-apiserver exited with status 1 (see the lab's log)\n"
        bad = _systemctl(tmp_path, sock, "restart", "k3s")
        assert bad.returncode == 1 and "kube-apiserver exited with status 1" in bad.stderr
    finally:
        fake.close()


def test_systemctl_never_manages_other_units_and_knows_a_missing_supervisor(tmp_path: Path) -> None:
    sock = tmp_path / "absent.sock"
    other = _systemctl(tmp_path, sock, "restart", "sshd")
    assert other.returncode == 5 and "Unit sshd not found." in other.stderr
    assert _systemctl(tmp_path, sock, "enable", "k3s").returncode == 1
    assert _systemctl(tmp_path, sock, "daemon-reload").returncode == 0
    missing = _systemctl(tmp_path, sock, "restart", "k3s")  # a blade without a server (no socket)
    assert missing.returncode == 5 and "k3s.service not found" in missing.stderr
    inactive = _systemctl(tmp_path, sock, "is-active", "k3s")
    assert (inactive.returncode, inactive.stdout) == (3, "inactive\n")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))  # bound, never listening: the supervisor is gone
    try:
        gone = _systemctl(tmp_path, sock, "restart", "k3s")
        assert gone.returncode == 1 and "supervisor is not running" in gone.stderr
    finally:
        dead.close()


def test_an_agent_blades_k3s_agent_is_simulated(tmp_path: Path) -> None:
    """The provisioner restarts `k3s-agent` when a worker's config changes: the lab's agents are simulated."""
    shim = tmp_path / "systemctl"
    shim.write_text(systemctl_shim(sys.executable, str(tmp_path / "absent.sock"), agent=True))
    shim.chmod(0o755)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(shim), *args], capture_output=True, text=True, timeout=30)

    assert run("restart", "k3s-agent").returncode == 0
    assert (run("is-active", "k3s-agent.service").stdout, run("is-active", "k3s-agent").returncode) == ("active\n", 0)
    assert run("restart", "k3s").returncode == 5  # no server on an agent blade
