"""Nothing to judge is never a pass: missing data errors naming what is missing; a run that judged nothing fails.

Only loopback is ever contacted here (the lab target's state is a fake ``lab.json`` whose missing
section stops the check before any connection).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .helpers import RECORDED, REPO, SITE, fake_lab_state, junit_cases, run_pytest

LAB_CONFTEST = REPO / "tests" / "conftest.py"


def _outcomes(xml: Path) -> dict[str, str]:
    return {name: case["outcome"] for name, case in junit_cases(xml).items()}


def test_an_empty_recording_errors_naming_each_missing_part(tmp_path: Path):
    rec = tmp_path / "rec"
    rec.mkdir()
    xml = tmp_path / "j.xml"
    proc = run_pytest("suites", "features", "--zg-target", f"offline={rec}", f"--junitxml={xml}", "-q")
    assert proc.returncode == 1, proc.stdout[-3000:]
    outcomes = _outcomes(xml)
    # Only the site-file checks (which read no target) can pass; every other check errors, none skips.
    assert "skipped" not in outcomes.values()
    site_only = ("test_site_file", "as_the_site_file_states_it")
    judged_target = {n: o for n, o in outcomes.items() if not any(s in n for s in site_only)}
    assert judged_target and set(judged_target.values()) == {"error"}, judged_target
    for missing in (rec / "router.rsc", rec / "cluster", rec / "hosts" / "blade001"):
        assert f"{missing} is missing" in proc.stdout, missing


def test_a_recording_without_cluster_manifests_errors_the_cluster_checks(tmp_path: Path):
    rec = tmp_path / "rec"
    shutil.copytree(RECORDED, rec)
    shutil.rmtree(rec / "cluster")
    xml = tmp_path / "j.xml"
    proc = run_pytest(
        "suites/test_cluster.py", "features/test_layer2_kubernetes.py", "--zg-target", f"offline={rec}",
        f"--junitxml={xml}", "-q",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:]
    outcomes = _outcomes(xml)
    cluster = {n: o for n, o in outcomes.items() if "test_cluster" in n or "pod_security" in n}
    assert len(cluster) >= 6 and set(cluster.values()) == {"error"}, cluster
    assert "skipped" not in outcomes.values()
    assert f"{rec / 'cluster'} is missing: the recording holds no cluster objects" in proc.stdout


def test_a_lab_without_an_inventory_section_errors_naming_it(tmp_path: Path):
    state = fake_lab_state(tmp_path)
    xml = tmp_path / "j.xml"
    proc = run_pytest(
        "suites/test_cluster.py", "--zg-target", "lab", f"--junitxml={xml}", "-q", env={"ZG_LAB_STATE": str(state)}
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert set(_outcomes(xml).values()) == {"error"}
    assert f"{state / 'lab.json'} has no inventory.cluster" in proc.stdout


def test_offline_targets_error_for_what_no_recording_holds(pytester: pytest.Pytester):
    pytester.makeini(f"[pytest]\nzg_site = {SITE}\n")
    pytester.makepyfile(test_live="def test_etcd(etcd):\n    pass\n\ndef test_http(http):\n    pass\n")
    result = pytester.runpytest("--zg-target", f"offline={RECORDED}")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*etcd health cannot be recorded*", "*HTTP probes cannot be recorded*"])


def test_probe_rows_with_no_probe_sent_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """A row no vantage point can probe judges nothing: the probe checks error with the reason, never skip."""
    monkeypatch.setenv("ZG_LAB_STATE", str(pytester.path / "nolab"))
    pytester.makeini(f"[pytest]\nzg_site = {SITE}\n")
    pytester.makeconftest(
        "import pytest\nfrom pytest_zengarden.probes.prober import Prober\n\n"
        "@pytest.fixture(scope='session')\ndef prober():\n    return Prober({}, [], [])  # no vantage point at all\n"
    )
    shutil.copy(REPO / "suites" / "test_firewall_probes.py", pytester.path)
    result = pytester.runpytest("--zg-target", "lab", "-k", "test_flow_probed", "-rE")
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) >= 1 and "skipped" not in outcomes and "passed" not in outcomes, outcomes
    result.stdout.fnmatch_lines(["*none sent from this target's vantage points (no vantage point in home or cluster)*"])


# ------------------------------------------------------------------------------ a run that judged nothing
@pytest.fixture
def site_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(f"[pytest]\nzg_site = {SITE}\n")
    pytester.makepyfile(
        test_checks=(
            "import pytest\n\n"
            "def test_one(site):\n    pytest.skip('nothing here')\n\n"
            "def test_two(site):\n    pytest.skip('nor here')\n"
        )
    )
    return pytester


def test_a_run_in_which_every_check_skipped_fails(site_project: pytest.Pytester):
    result = site_project.runpytest("--zg-target", f"offline={RECORDED}")
    result.assert_outcomes(skipped=2)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["zengarden: no check ran (2 skipped): nothing was judged, so this run fails"])


def test_a_run_in_which_every_check_was_deselected_says_so(site_project: pytest.Pytester):
    result = site_project.runpytest("--zg-target", f"offline={RECORDED}", "-k", "matches_nothing")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["zengarden: no check ran (2 deselected): nothing was judged, so this run fails"])


def test_one_judged_check_is_enough_and_collect_only_is_not_a_run(site_project: pytest.Pytester):
    site_project.makepyfile(test_more="def test_judged(site):\n    assert site.name\n")
    result = site_project.runpytest("--zg-target", f"offline={RECORDED}")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=2)
    result = site_project.runpytest("--zg-target", f"offline={RECORDED}", "--collect-only")
    assert result.ret == pytest.ExitCode.OK
    assert "no check ran" not in result.stdout.str()


def test_without_a_site_the_plugin_leaves_skips_alone(pytester: pytest.Pytester):
    """Dormant (no site file), the plugin never changes another project's exit status."""
    pytester.makepyfile(test_other="import pytest\n\ndef test_x():\n    pytest.skip('not here')\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(skipped=1)


# ------------------------------------------------------------------------------ lab tests under the test command
@pytest.fixture
def lab_project(pytester: pytest.Pytester) -> pytest.Pytester:
    lab = pytester.mkpydir("lab")
    (lab / "conftest.py").write_text(LAB_CONFTEST.read_text(encoding="utf-8"), encoding="utf-8")
    (lab / "test_needs_lab.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.skipif(True, reason='needs root')\ndef test_marked():\n    pass\n\n"
        "def test_body():\n    pytest.skip('binaries missing')\n\n"
        "@pytest.mark.xfail(reason='known')\ndef test_xfail():\n    assert False\n\n"
        "def test_ok():\n    pass\n"
    )
    return pytester


def test_a_skipped_lab_test_fails_under_the_test_command(lab_project: pytest.Pytester, monkeypatch):
    monkeypatch.setenv("ZG_REQUIRE_LAB", "1")
    result = lab_project.runpytest("-rfE")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*lab test skipped under ZG_REQUIRE_LAB=1*needs root*",
            "*lab test skipped under ZG_REQUIRE_LAB=1*binaries missing*",
        ],
        consecutive=False,
    )


def test_a_lab_module_skipped_whole_fails_under_the_test_command(lab_project: pytest.Pytester, monkeypatch):
    (lab_project.path / "lab" / "test_whole_module.py").write_text(
        "import pytest\n\npytest.skip('no nft', allow_module_level=True)\n\ndef test_x():\n    pass\n"
    )
    monkeypatch.setenv("ZG_REQUIRE_LAB", "1")
    result = lab_project.runpytest("lab/test_whole_module.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the session
    result.stdout.fnmatch_lines(["*lab test skipped under ZG_REQUIRE_LAB=1*no nft*"])


def test_lab_tests_still_skip_when_run_by_hand(lab_project: pytest.Pytester, monkeypatch):
    monkeypatch.delenv("ZG_REQUIRE_LAB", raising=False)
    result = lab_project.runpytest()
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)


def test_the_test_command_requires_the_lab_tests():
    script = (REPO / "scripts" / "test").read_text(encoding="utf-8")
    assert "ZG_REQUIRE_LAB=1 .venv/bin/pytest tests" in script


def test_an_export_that_states_nothing_is_an_error_not_a_factory_router(tmp_path: Path):
    """A failed or truncated /export (headers only) must not be judged as a router at its defaults."""
    rec = tmp_path / "rec"
    shutil.copytree(RECORDED, rec)
    (rec / "router.rsc").write_text("# 2026-12-01 10:00:00 by RouterOS 7.16.2\n# software id = ABCD-1234\n#\n")
    xml = tmp_path / "j.xml"
    proc = run_pytest("suites/test_router.py", "--zg-target", f"offline={rec}", f"--junitxml={xml}", "-q")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert set(_outcomes(xml).values()) == {"error"}
    assert "the export states no configuration" in proc.stdout
