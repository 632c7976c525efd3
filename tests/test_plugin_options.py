"""Plugin wiring: options, usage errors for bad input, drill gating, dormancy without a site file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .helpers import REPO, SITE, fake_lab_state, run_pytest, site_data, write_site


def test_help_lists_the_options():
    proc = run_pytest("--help")
    assert proc.returncode == 0
    for opt in ("--zg-site", "--zg-target", "--provision", "--drill", "--allow-disruption"):
        assert opt in proc.stdout, opt


def test_markers_are_registered():
    proc = run_pytest("--markers")
    for marker in ("network:", "router:", "hosts:", "cluster:", "ingress:", "dns:", "secrets:", "drill:", "control(id"):
        assert marker in proc.stdout, marker


def test_bad_target_is_a_usage_error():
    proc = run_pytest("suites", "--zg-target", "hardware")
    assert proc.returncode == 4
    assert "--zg-target: expected lab, live or offline=DIR, got 'hardware'" in proc.stderr


def test_offline_dir_must_exist():
    proc = run_pytest("suites", "--zg-target", "offline=/nonexistent/recording")
    assert proc.returncode == 4
    assert "/nonexistent/recording is not a directory" in proc.stderr


def test_broken_site_file_stops_the_run_naming_file_line_field(tmp_path: Path):
    broken = tmp_path / "site.yaml"
    broken.write_text(SITE.read_text().replace("      to: cluster\n", "      to: homee\n", 1))
    proc = run_pytest("suites", "--zg-site", str(broken), "--zg-target", "offline=fixtures/recorded")
    assert proc.returncode == 4, proc.stdout
    assert f"{broken}:81 firewall.allow[1].to: unknown segment 'homee'" in proc.stderr
    assert "passed" not in proc.stdout


def test_provision_refuses_a_recording():
    proc = run_pytest("suites", "--provision", "--zg-target", "offline=fixtures/recorded")
    assert proc.returncode == 4
    assert "--provision changes a target" in proc.stderr and "offline=fixtures/recorded" in proc.stderr


def test_provision_on_an_unreachable_target_fails_each_target_with_its_cause(tmp_path):
    # A lab state whose inventory names a router password nobody set: nothing is contacted.
    state = fake_lab_state(tmp_path)
    proc = run_pytest(
        "suites/test_router.py", "--provision=plan", "--zg-target", "lab", "-x", env={"ZG_LAB_STATE": str(state)}
    )
    assert proc.returncode == 1, proc.stdout
    # Provisioning runs first, and a target it cannot reach is an error (nothing judged), naming host and cause.
    assert "ERROR ::provision[router] - refusing to contact lab address 192.168.100.1" in proc.stdout, proc.stdout
    assert "zengarden provisioning plan (nothing changed)" in proc.stdout
    assert "blade001: ERROR: lab:" in proc.stdout and "has no inventory.blades" in proc.stdout


def test_unknown_drill_is_a_usage_error():
    proc = run_pytest("suites", "--drill", "meteor-strike", "--zg-target", "offline=fixtures/recorded")
    assert proc.returncode == 4
    assert "unknown drill(s) ['meteor-strike']" in proc.stderr


DRILL_TESTS = textwrap.dedent(
    """
    import pytest

    @pytest.mark.drill("etcd-member-loss")
    def test_etcd_drill(site):
        assert site.drills["etcd-member-loss"].target == "blade002"

    @pytest.mark.drill("worker-loss")
    def test_worker_drill(site):
        pass

    def test_plain(site):
        pass
    """
)


@pytest.fixture
def drill_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_drills=DRILL_TESTS)
    pytester.makeini(f"[pytest]\nzg_site = {SITE}\n")
    return pytester


def test_drills_are_deselected_by_default(drill_project: pytest.Pytester):
    result = drill_project.runpytest("--zg-target", f"offline={REPO / 'fixtures' / 'recorded'}")
    result.assert_outcomes(passed=1, deselected=2)


def test_drill_option_selects_one_drill(drill_project: pytest.Pytester):
    result = drill_project.runpytest("--zg-target", "lab", "--drill", "etcd-member-loss")
    result.assert_outcomes(passed=2, deselected=1)


def test_marker_expression_selects_drills(drill_project: pytest.Pytester):
    result = drill_project.runpytest("--zg-target", "lab", "-m", "drill")
    result.assert_outcomes(passed=2, deselected=1)


def test_drills_on_a_live_site_need_allow_disruption(drill_project: pytest.Pytester):
    result = drill_project.runpytest("--zg-target", "live", "-m", "drill")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*drills disrupt a live site: add --allow-disruption*"])
    result = drill_project.runpytest("--zg-target", "live", "-m", "drill", "--allow-disruption")
    result.assert_outcomes(passed=2, deselected=1)


def test_plugin_is_dormant_without_a_site(pytester: pytest.Pytester):
    """Installed everywhere via the entry point, it must not disturb unrelated test suites."""
    pytester.makepyfile(test_other="def test_ok():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_site_fixture_without_site_file_errors(pytester: pytest.Pytester):
    pytester.makepyfile(test_needs_site="def test_x(site):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no site file: pass --zg-site FILE*"])


def test_control_from_must_name_a_traced_element(pytester: pytest.Pytester):
    pytester.makeini(f"[pytest]\nzg_site = {SITE}\n")
    pytester.makepyfile(
        test_bad='import pytest\n@pytest.mark.control_from("cluster.nonsense")\ndef test_x():\n    pass\n'
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*control_from('cluster.nonsense') names no traced site element*"])


def test_site_env_variable_names_the_site(tmp_path: Path):
    data = site_data()
    data["name"] = "othersite"
    other = write_site(tmp_path / "other.yaml", data)
    proc = run_pytest("features/test_site_file.py", env={"ZG_SITE": str(other)})
    assert proc.returncode == 0, proc.stdout
    assert "zengarden: site othersite" in proc.stdout


def test_a_site_file_with_a_nul_byte_names_file_and_line(tmp_path: Path):
    text = SITE.read_text(encoding="utf-8").splitlines(keepends=True)
    text[2] = "\0" + text[2]
    bad = tmp_path / "site.yaml"
    bad.write_text("".join(text), encoding="utf-8")
    proc = run_pytest("features/test_site_file.py", "--zg-site", str(bad), "--zg-target", "offline=fixtures/recorded")
    assert proc.returncode == 4, proc.stdout
    assert f"{bad}:3: not valid YAML: unacceptable character #x0000 at column 1" in proc.stderr, proc.stderr


def _lab_up_elsewhere(tmp_path: Path) -> dict[str, str]:
    """A lab state that says the lab is up, in namespaces this process is not in."""
    import json

    state = tmp_path / "lab"
    state.mkdir()
    lab = {
        "inventory": {"router": {"username": "admin", "password": {"env": "ZG_NOT_SET"}, "transport": "api"}},
        "namespaces": ["zgT-none-management"],
        "management_netns": "zgT-none-management",
        "probes": {"management": {"netns": "zgT-none-management", "address": "192.168.100.10"}},
    }
    (state / "lab.json").write_text(json.dumps(lab))
    return {"ZG_LAB_STATE": str(state)}


def test_a_lab_run_from_outside_the_lab_stops_with_one_line_to_type(tmp_path: Path):
    """With the lab up, checks run from the root namespace could only error one by one: one usage error instead."""
    proc = run_pytest("suites/test_router.py", "--zg-target", "lab", "-q", env=_lab_up_elsewhere(tmp_path))
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, proc.stderr
    assert "lab exec management -- " in errors[0]
    assert " -m pytest " in errors[0] and errors[0].endswith("suites/test_router.py --zg-target lab -q"), errors[0]
    assert "refusing to contact" not in proc.stdout and "passed" not in proc.stdout


def test_site_checks_still_run_outside_a_running_lab(tmp_path: Path):
    """Checks that read no target (the site file's own) have no reason to be sent into the lab."""
    proc = run_pytest("features/test_site_file.py", "--zg-target", "lab", "-q", env=_lab_up_elsewhere(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
