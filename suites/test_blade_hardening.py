"""Blade hardening over SSH, role by role, each finding named by blade.

Design: Layer 2 (node roles, Kubernetes configuration: Cilium replaces flannel, etcd on NVMe), Resource
Allocation (reserved resources), Security / Defense in Depth (hosts: SSH keys only, no root login, kernel
defaults protected, AppArmor).  What runs is judged, not what a file says: k3s flags from the journal's
start lines, sshd from ``sshd -T``, the kernel from ``sysctl``, the etcd disk from ``findmnt``/``lsblk``.
"""

import time

import pytest

from pytest_zengarden.checks import blade_hardening as checks
from pytest_zengarden.facts import blade_state as state
from pytest_zengarden.facts.in_effect import AGENT_UNIT, SERVER_UNIT
from pytest_zengarden.site.schema import Role

pytestmark = pytest.mark.hosts


def starts(site, blade, components):
    """component -> its last start line in the blade's k3s unit journal, or why there is none."""
    server = Role.CONTROL_PLANE in site.blades[blade.name].roles
    return state.component_starts(blade, SERVER_UNIT if server else AGENT_UNIT, list(components))


@pytest.mark.control_from("cluster.node_hardening.k3s")
def test_k3s_in_effect(site, blade, conformance):
    """The running k3s has the site's CIDRs, node IP, secrets encryption, no flannel and no servicelb/traefik."""
    server = Role.CONTROL_PLANE in site.blades[blade.name].roles
    found, config, problem = state.k3s_inputs(blade, server)
    conformance.check(checks.k3s_in_effect(site, blade.name, found, config, problem))


@pytest.mark.control_from("cluster.node_hardening.reserved")
def test_reserved_resources(site, blade, conformance):
    """The kubelet in effect reserves CPU and memory for the system and Kubernetes, and evicts before OOM."""
    conformance.check(checks.reserved(site, blade.name, starts(site, blade, ["kubelet"])["kubelet"]))


@pytest.mark.running
@pytest.mark.control_from("cluster.node_hardening.kernel")
def test_kernel_defaults_protected(site, blade, conformance):
    """kubelet protects kernel defaults, and the kernel (and the sysctl file) have the values it requires."""
    kernel = site.cluster.node_hardening.kernel
    answers = state.ask(blade, {**state.sysctl_commands(list(kernel.sysctls)), "file": f"cat {kernel.file}"})
    text = answers["file"].stdout if answers["file"].rc == 0 else None
    kubelet = starts(site, blade, ["kubelet"])["kubelet"]
    conformance.check(checks.kernel_defaults(site, blade.name, kubelet, answers["sysctl"], text))


@pytest.mark.running
@pytest.mark.control_from("cluster.node_hardening.sshd")
def test_sshd(site, blade, conformance):
    """sshd takes keys only: no passwords, no keyboard-interactive, no root login (as `sshd -T` reports)."""
    conformance.check(checks.sshd(site, blade.name, state.ask(blade, state.SSHD_COMMANDS)["sshd"]))


@pytest.mark.running
@pytest.mark.roles("etcd")
@pytest.mark.control_from("cluster.node_hardening.etcd_disk")
def test_etcd_disk(site, blade, conformance):
    """etcd's data directory is on a dedicated, non-rotational mount of the designed size."""
    path = site.cluster.node_hardening.etcd_disk.path
    conformance.check(checks.etcd_disk(site, blade.name, state.ask(blade, state.etcd_disk_commands(path))))


@pytest.mark.running
@pytest.mark.control_from("cluster.node_hardening.time")
def test_time_sync(site, blade, conformance):
    """The blade's clock is synchronised and close to the checking host's (etcd and TLS depend on it)."""
    sent = time.time()
    answers = state.ask(blade, state.TIME_COMMANDS)
    received = time.time()
    conformance.check(checks.time_sync(site, blade.name, answers, sent, received))


@pytest.mark.running
@pytest.mark.control_from("cluster.node_hardening.apparmor")
def test_apparmor(site, blade, conformance):
    """AppArmor is enabled in the blade's kernel with profiles loaded (containers get confined)."""
    conformance.check(checks.apparmor(site, blade.name, state.ask(blade, state.APPARMOR_COMMANDS)))
