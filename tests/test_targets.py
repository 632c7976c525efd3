"""Unreachable, refusing and unsafe targets make checks *error* (naming host and cause), never pass or hang.

Only loopback addresses are contacted here: site addresses (192.168.x) are never sent a packet.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import fake_lab_state, junit_cases, loopback_site, run_pytest, stalled_listener

SECRET = "s3cr3t-Value-Never-Printed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never answers (a hung router)."""
    with stalled_listener() as port:
        yield port


def _router_checks(site: Path, xml: Path, env: dict[str, str] | None = None):
    return run_pytest(
        "suites/test_router.py",
        "--zg-site",
        str(site),
        "--zg-target",
        "live",
        f"--junitxml={xml}",
        "-q",
        env={"ZG_TEST_ROUTER_PASSWORD": SECRET, **(env or {})},
    )


def _assert_all_errored(proc, xml: Path, needle: str, cause: str = "") -> None:
    cases = junit_cases(xml)
    assert cases, proc.stdout
    outcomes = {c["outcome"] for c in cases.values()}
    assert outcomes == {"error"}, (outcomes, proc.stdout[-2000:])
    assert proc.returncode == 1
    assert needle in proc.stdout, proc.stdout[-2000:]
    assert cause in proc.stdout, proc.stdout[-2000:]
    assert SECRET not in proc.stdout + proc.stderr + xml.read_text()


def test_refused_connection_errors_naming_the_router(tmp_path: Path):
    port = _free_port()
    site = loopback_site(tmp_path / "site.yaml", api_port=port, transport="api")
    xml = tmp_path / "j.xml"
    proc = _router_checks(site, xml)
    _assert_all_errored(proc, xml, f"router 127.0.0.1:{port} (API): ", "connection refused")


def test_hung_router_times_out_instead_of_hanging(tmp_path: Path, silent_listener: int):
    site = loopback_site(tmp_path / "site.yaml", ssl_port=silent_listener, transport="api-ssl", timeout_s=1)
    xml = tmp_path / "j.xml"
    start = time.monotonic()
    proc = _router_checks(site, xml)
    elapsed = time.monotonic() - start
    _assert_all_errored(proc, xml, f"router 127.0.0.1:{silent_listener} (API-SSL): ", "timed out")
    # One connection attempt for the whole session (the failure is cached), not one per check.
    assert elapsed < 60


def test_rest_transport_refused(tmp_path: Path):
    port = _free_port()
    site = loopback_site(tmp_path / "site.yaml", rest_port=port, transport="rest")
    xml = tmp_path / "j.xml"
    proc = _router_checks(site, xml)
    _assert_all_errored(proc, xml, f"router http://127.0.0.1:{port} (REST)")


def test_missing_credential_names_its_source(tmp_path: Path):
    site = loopback_site(tmp_path / "site.yaml", api_port=_free_port())
    xml = tmp_path / "j.xml"
    proc = _router_checks(site, xml, env={"ZG_TEST_ROUTER_PASSWORD": ""})
    _assert_all_errored(proc, xml, "inventory.router.password: environment variable ZG_TEST_ROUTER_PASSWORD is not set")


def test_lab_not_running_errors_with_the_fix(tmp_path: Path):
    xml = tmp_path / "j.xml"
    proc = run_pytest(
        "suites/test_router.py",
        "--zg-target",
        "lab",
        f"--junitxml={xml}",
        "-q",
        env={"ZG_LAB_STATE": str(tmp_path / "nolab")},
    )
    _assert_all_errored(proc, xml, "the lab is not running")
    assert "zengarden lab up" in proc.stdout


def test_lab_addresses_are_refused_from_the_root_namespace(tmp_path: Path):
    """The safety rule: lab (site) addresses are never contacted from the machine's own network."""
    state = fake_lab_state(tmp_path)
    xml = tmp_path / "j.xml"
    proc = run_pytest(
        "suites/test_router.py",
        "--zg-target",
        "lab",
        f"--junitxml={xml}",
        "-q",
        env={"ZG_LAB_STATE": str(state), "ZG_TEST_ROUTER_PASSWORD": SECRET},
    )
    needle = "refusing to contact lab address 192.168.100.1 from outside the lab's network namespaces"
    _assert_all_errored(proc, xml, needle)


def test_partial_recording_errors_naming_the_missing_file(tmp_path: Path):
    """A recording without router.rsc: every router check errors naming the file (it used to skip, exit 0)."""
    rec = tmp_path / "rec"
    rec.mkdir()
    xml = tmp_path / "j.xml"
    proc = run_pytest("suites/test_router.py", "--zg-target", f"offline={rec}", f"--junitxml={xml}", "-q")
    _assert_all_errored(proc, xml, f"{rec / 'router.rsc'} is missing")


def test_inventory_paths_are_relative_to_the_site_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """key_file, known_hosts, ca_file, kubeconfig... resolve against the site file's directory, not the cwd."""
    from pydantic import BaseModel

    from pytest_zengarden.site.loader import load_site

    from .helpers import site_data, write_site

    data = site_data()
    data["inventory"] = {
        "router": {"password": {"file": "secrets/router"}, "ca_file": "pki/ca.pem"},
        "blades": {"user": "ansible", "key_file": "keys/blades", "known_hosts": "keys/known_hosts"},
        "cluster": {"kubeconfig": "kube/config"},
        "etcd": {"ca_file": "pki/etcd-ca.pem", "cert_file": "pki/etcd.pem", "key_file": "pki/etcd.key"},
        "probes": {"management": {"host": "192.168.100.10", "key_file": "keys/probe"}},
    }
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    write_site(site_dir / "site.yaml", data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    def paths(value: object, where: str) -> list[tuple[str, Path]]:
        if isinstance(value, Path):
            return [(where, value)]
        if isinstance(value, BaseModel):
            return [p for name in type(value).model_fields for p in paths(getattr(value, name), f"{where}.{name}")]
        if isinstance(value, dict):
            return [p for k, v in value.items() for p in paths(v, f"{where}.{k}")]
        return []

    found = paths(load_site("../site/site.yaml").inventory, "inventory")
    assert len(found) == 9, found
    wrong = [(where, p) for where, p in found if not p.is_absolute() or not p.is_relative_to(site_dir)]
    assert not wrong, wrong
    assert ("inventory.probes.management.key_file", site_dir / "keys" / "probe") in found


def test_malformed_recording_errors_naming_file_and_line(tmp_path: Path):
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "router.rsc").write_text('/ip dns static\nadd name="unterminated address=1.2.3.4\n')
    proc = run_pytest("suites/test_router.py", "--zg-target", f"offline={rec}", "-q")
    assert proc.returncode == 1
    assert f"{rec / 'router.rsc'}:2" in proc.stdout
    assert "passed" not in proc.stdout


def test_lab_http_client_refuses_lab_addresses_from_outside_the_lab(tmp_path: Path):
    """The `http` fixture's client is guarded like the others: no request to a lab address leaves."""
    from pytest_zengarden.errors import UnsafeTarget
    from pytest_zengarden.site.loader import load_site
    from pytest_zengarden.targets.lab import LabTarget

    from .helpers import SITE

    state = tmp_path / "lab"
    state.mkdir()
    (state / "lab.json").write_text(json.dumps({"inventory": {}, "namespaces": ["zg-management"]}))
    client = LabTarget(load_site(SITE), state).http()
    with pytest.raises(UnsafeTarget, match=r"refusing to contact lab address 192\.168\.77\.200"):
        client.get("https://192.168.77.200/")
    client.close()
