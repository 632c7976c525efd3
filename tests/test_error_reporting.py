"""A check that could not judge reads as an *error* (terminal and JUnit ``<error>``), never as a failure.

pytest calls any exception in a check's body a failure; a target error raised there (a stopped API
server answering ``cluster.list`` in the body, or a Gherkin step) must instead tell a consumer "the
site could not be reached", with host and cause and no traceback.  Only loopback is contacted.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .helpers import SITE, junit_cases, loopback_site, run_pytest, site_data, write_site


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CHECKS = """
from pytest_zengarden.errors import TargetError

def test_unreachable(site):
    raise TargetError("router 127.0.0.1:9 (API)", "connection refused")

def test_deviates(site):
    assert False, "a real deviation"
"""


def test_a_target_error_in_a_check_body_is_an_error_not_a_failure(pytester: pytest.Pytester):
    pytester.makeini(f"[pytest]\nzg_site = {SITE}\n")
    pytester.makepyfile(test_checks=CHECKS)
    xml = pytester.path / "j.xml"
    result = pytester.runpytest("--zg-target", "live", f"--junitxml={xml}", "-rfE")
    result.assert_outcomes(errors=1, failed=1)
    result.stdout.fnmatch_lines(["ERROR test_checks.py::test_unreachable - CannotJudge: router*"])
    # No traceback noise for the error: the section holds the host and the cause only.
    section = result.stdout.str().split("ERROR at setup of test_unreachable", 1)[1].split("___", 1)[0]
    assert "raise TargetError" not in section and "Traceback" not in section, section
    cases = junit_cases(xml)
    assert cases["test_checks::test_unreachable"]["outcome"] == "error"
    assert cases["test_checks::test_deviates"]["outcome"] == "failed"
    error = next(c for c in ET.parse(xml).getroot().iter("testcase") if c.get("name") == "test_unreachable")
    assert "router 127.0.0.1:9 (API): connection refused" in (error.find("error").get("message") or "")


def _cluster_site(tmp_path: Path) -> tuple[Path, int]:
    """The real site with a kubeconfig whose API server is a closed loopback port (a stopped API server)."""
    port = _free_port()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
        f"clusters: [{{name: lab, cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}}}]\n"
        "users: [{name: u, user: {token: not-a-secret}}]\n"
        "contexts: [{name: lab, context: {cluster: lab, user: u}}]\n"
    )
    data = site_data()
    data["inventory"] = {"cluster": {"kubeconfig": str(kubeconfig), "timeout_s": 2}}
    return write_site(tmp_path / "site.yaml", data), port


def test_a_stopped_api_server_errors_the_checks_that_list_in_their_body_and_steps(tmp_path: Path):
    site, port = _cluster_site(tmp_path)
    xml = tmp_path / "j.xml"
    proc = run_pytest(
        "suites/test_cluster.py::test_metallb_pool",
        "features/test_layer2_kubernetes.py::test_no_namespace_weakens_pod_security_outside_the_designed_exemptions",
        "--zg-site", str(site), "--zg-target", "live", f"--junitxml={xml}", "-q", "-rfE",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:]
    outcomes = {name: case["outcome"] for name, case in junit_cases(xml).items()}
    assert outcomes == {
        "suites.test_cluster::test_metallb_pool": "error",
        "features.test_layer2_kubernetes::test_no_namespace_weakens_pod_security_outside_the_designed_exemptions": (
            "error"
        ),
    }, proc.stdout[-3000:]
    assert f"cluster https://127.0.0.1:{port}: list IPAddressPool: connection refused" in proc.stdout, proc.stdout
    assert f"cluster https://127.0.0.1:{port}: list Namespace: connection refused" in proc.stdout, proc.stdout
    assert "2 errors" in proc.stdout and "failed" not in proc.stdout
    assert "Traceback" not in proc.stdout and "site-packages" not in proc.stdout


def test_an_unreachable_router_met_inside_a_gherkin_step_is_an_error(tmp_path: Path):
    """The router fixture is requested by a step (late, in the call phase): still an error, naming the router."""
    port = _free_port()
    site = loopback_site(tmp_path / "site.yaml", api_port=port, transport="api")
    xml = tmp_path / "j.xml"
    proc = run_pytest(
        "features/test_layer1_network.py::test_the_router_is_the_gateway_of_every_segment",
        "--zg-site", str(site), "--zg-target", "live", f"--junitxml={xml}", "-q",
        env={"ZG_TEST_ROUTER_PASSWORD": "not-a-secret"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:]
    outcomes = {name: case["outcome"] for name, case in junit_cases(xml).items()}
    assert outcomes == {"features.test_layer1_network::test_the_router_is_the_gateway_of_every_segment": "error"}
    assert f"router 127.0.0.1:{port} (API): " in proc.stdout and "connection refused" in proc.stdout, proc.stdout
