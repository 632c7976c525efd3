"""Layer 2 node roles and Defense in Depth on the blades (features/blade_hardening.feature).

The steps call the same check code as suites/test_blade_hardening.py.
"""

from __future__ import annotations

import time

from pytest_bdd import given, parsers, scenarios, then

from pytest_zengarden.checks import blade_hardening as checks
from pytest_zengarden.facts import blade_state as state
from pytest_zengarden.facts.in_effect import AGENT_UNIT, SERVER_UNIT
from pytest_zengarden.site.schema import Role

scenarios("blade_hardening.feature")


def _server(site, name):
    return Role.CONTROL_PLANE in site.blades[name].roles


@given(parsers.parse('every blade with the role "{role}"'), target_fixture="hardened_blades")
def blades_with_role(the_site, zg_target, role):
    # A blade the target cannot reach raises a target error: the scenario errors naming it (never a skip).
    return {name: zg_target.blade(name) for name in the_site.blades_with(Role(role))}


@given("every blade", target_fixture="hardened_blades")
def every_blade(the_site, zg_target):
    return {name: zg_target.blade(name) for name in the_site.blades}


@then("each runs k3s with the designed CIDRs, node IP, secrets encryption and disabled components")
def k3s_runs(the_site, hardened_blades, conformance):
    findings = []
    for name, blade in hardened_blades.items():
        found, config, problem = state.k3s_inputs(blade, _server(the_site, name))
        findings += checks.k3s_in_effect(the_site, name, found, config, problem)
    conformance.check(findings)


@then("each keeps etcd's data on a dedicated non-rotational mount of the designed size")
def etcd_disk(the_site, hardened_blades, conformance):
    path = the_site.cluster.node_hardening.etcd_disk.path
    conformance.check(
        [
            f
            for name, blade in hardened_blades.items()
            for f in checks.etcd_disk(the_site, name, state.ask(blade, state.etcd_disk_commands(path)))
        ]
    )


def _kubelet(the_site, name, blade):
    unit = SERVER_UNIT if _server(the_site, name) else AGENT_UNIT
    return state.component_starts(blade, unit, ["kubelet"])["kubelet"]


@then("each kubelet runs with the blade's node IP and the designed reserved resources")
def kubelet_runs(the_site, hardened_blades, conformance):
    findings = []
    for name, blade in hardened_blades.items():
        kubelet = _kubelet(the_site, name, blade)
        findings += checks.kubelet_node_ip(the_site, name, kubelet)
        findings += checks.reserved(the_site, name, kubelet)
    conformance.check(findings)


@then("each sshd accepts keys only and refuses root")
def sshd(the_site, hardened_blades, conformance):
    conformance.check(
        [
            f
            for name, blade in hardened_blades.items()
            for f in checks.sshd(the_site, name, state.ask(blade, state.SSHD_COMMANDS)["sshd"])
        ]
    )


@then("each kernel keeps the defaults the kubelet protects")
def kernel(the_site, hardened_blades, conformance):
    k = the_site.cluster.node_hardening.kernel
    findings = []
    for name, blade in hardened_blades.items():
        answers = state.ask(blade, {**state.sysctl_commands(list(k.sysctls)), "file": f"cat {k.file}"})
        text = answers["file"].stdout if answers["file"].rc == 0 else None
        findings += checks.kernel_defaults(the_site, name, _kubelet(the_site, name, blade), answers["sysctl"], text)
    conformance.check(findings)


@then("each clock is synchronised")
def clock(the_site, hardened_blades, conformance):
    findings = []
    for name, blade in hardened_blades.items():
        sent = time.time()
        answers = state.ask(blade, state.TIME_COMMANDS)
        findings += checks.time_sync(the_site, name, answers, sent, time.time())
    conformance.check(findings)


@then("each blade runs AppArmor")
def apparmor(the_site, hardened_blades, conformance):
    conformance.check(
        [
            f
            for name, blade in hardened_blades.items()
            for f in checks.apparmor(the_site, name, state.ask(blade, state.APPARMOR_COMMANDS))
        ]
    )
