"""The `zengarden` command: site check, schema and matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_zengarden.cli import main

from .helpers import RECORDED, SITE

BROKEN = Path(__file__).parent / "sites" / "broken"


def test_site_check_passes_on_the_design(capsys: pytest.CaptureFixture[str]):
    assert main(["site", "check", str(SITE)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "5 blades" in out and "7 segments" in out


def test_site_check_fails_naming_file_line_field(capsys: pytest.CaptureFixture[str]):
    path = BROKEN / "unknown_segment.yaml"
    assert main(["site", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:81 firewall.allow[1].to: unknown segment 'homee'" in err
    assert "1 problem(s)" in err


def test_site_check_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    assert main(["site", "check", str(tmp_path / "nope.yaml")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_schema_is_json_schema_that_forbids_unknown_keys(capsys: pytest.CaptureFixture[str]):
    assert main(["site", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False
    assert {"segments", "firewall", "router", "blades", "cluster", "inventory"} <= set(schema["properties"])
    # Aliases appear as users write them, and every model documents itself.
    assert "from" in schema["$defs"]["FlowStatement"]["properties"]
    assert all(d.get("description") for d in schema["$defs"].values() if d.get("type") == "object")


def test_matrix_table_and_filters(capsys: pytest.CaptureFixture[str]):
    assert main(["site", "matrix", str(SITE), "--from", "home", "--to", "cluster"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["FROM", "TO", "PROTO", "PORTS", "VERDICT", "CONTROL", "STATEMENT"]
    rows = [line.split() for line in lines[1:]]
    assert ["home", "cluster", "tcp", "443", "allow", "FW-HOME-WEB", "firewall.allow[1]"] in rows
    assert ["home", "cluster", "tcp", "1-79", "deny", "FW-DEFAULT-DENY", "firewall.default"] in rows
    assert all(r[0] == "home" and r[1] == "cluster" for r in rows)


def test_matrix_json_allowed_only(capsys: pytest.CaptureFixture[str]):
    assert main(["site", "matrix", str(SITE), "--allowed", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["verdict"] == "allow" for r in rows)
    assert not [r for r in rows if r["to"] == "management"]  # no inbound to management


def test_firewall_explain_lists_every_region_and_marks_deviations(capsys: pytest.CaptureFixture[str]) -> None:
    rsc = str(RECORDED / "router.rsc")
    assert main(["firewall", "explain", str(SITE), rsc, "--from", "home", "--to", "cluster"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["FROM", "TO", "PROTO", "PORTS", "VERDICT", "DESIGN", "DECIDED", "BY"]
    deviating = [line for line in lines if "<-- deviates" in line]
    assert len(deviating) == 1
    assert deviating[0].split()[:6] == ["home", "cluster", "tcp", "22", "accept", "drop"]
    assert 'rule #10 "Allow Home → Homelab (SSH,HTTP,HTTPS)"' in deviating[0]
    assert any(line.split()[:4] == ["home", "cluster", "tcp", "81-442"] for line in lines)
    assert "1 region(s) deviate from the design" in err
    assert main(["firewall", "explain", str(SITE), rsc, "--from", "cluster", "--to", "home"]) == 0


def test_firewall_explain_names_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firewall", "explain", str(SITE), str(tmp_path / "missing.rsc")]) == 1
    assert "missing.rsc" in capsys.readouterr().err
    assert main(["firewall", "explain", str(SITE), str(RECORDED / "router.rsc"), "--from", "homee"]) == 1
    assert "unknown segment 'homee'" in capsys.readouterr().err
    bad = tmp_path / "bad.rsc"
    bad.write_text("/ip firewall filter\nadd chain=forward action=accept tcp-flags=syn\n")
    assert main(["firewall", "explain", str(SITE), str(bad)]) == 1
    assert "tcp-flags" in capsys.readouterr().err
