"""Shared helpers for the plugin's own tests: run pytest as a user would, make site-file variants."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "fixtures" / "sites" / "zengarden.yaml"
RECORDED = REPO / "fixtures" / "recorded"


def run_pytest(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pytest ARGS`` in the repository, as a user would (bounded in time)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def site_data() -> dict[str, Any]:
    """The real site file as data, to derive variants from."""
    data: dict[str, Any] = yaml.safe_load(SITE.read_text(encoding="utf-8"))
    return data


def write_site(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def loopback_site(path: Path, **router: Any) -> Path:
    """A site whose router lives on 127.0.0.1 (management = 127.0.0.0/24), for unreachable-target tests.

    Only loopback is ever contacted by the plugin's own tests; site addresses (192.168.x) never are.
    """
    data = site_data()
    data["segments"]["management"]["cidr"] = "127.0.0.0/24"
    data["segments"]["management"]["router_address"] = "127.0.0.1"
    data["router"]["address"] = "127.0.0.1"
    data["router"]["api"] = {"port": router.pop("api_port", 1), "ssl_port": router.pop("ssl_port", 1)}
    data["router"]["rest"] = {"scheme": "http", "port": router.pop("rest_port", 1)}
    data["inventory"]["router"] = {
        "username": "zengarden",
        "password": {"env": "ZG_TEST_ROUTER_PASSWORD"},
        "transport": router.pop("transport", "api"),
        "timeout_s": router.pop("timeout_s", 2),
    }
    assert not router, f"unknown overrides {router}"
    return write_site(path, data)


def junit_cases(path: Path) -> dict[str, dict[str, Any]]:
    """JUnit testcases by name: outcome and properties (lists, since a name may repeat)."""
    out: dict[str, dict[str, Any]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props: dict[str, list[str]] = {}
        for prop in case.iter("property"):
            props.setdefault(prop.get("name", ""), []).append(prop.get("value", ""))
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
        out[f"{case.get('classname')}::{case.get('name')}"] = {"outcome": outcome, "props": props}
    return out


def replay(store: Any, menus: Mapping[str, Iterable[Mapping[str, str]]]) -> Any:
    """Write ``menus`` (an export's records) into an emulator ``ConfigStore`` as provisioning would."""
    for menu, records in menus.items():
        for rec in records:
            props = {k: v for k, v in rec.items() if k != ".id"}
            if store.spec(menu).kind == "singleton":
                store.set(menu, None, props)
            elif menu == "/ip/service":
                store.set(menu, props.pop("name"), props)
            else:
                store.add(menu, props)
    return store


def fake_lab_state(tmp_path: Path, inventory: dict[str, Any] | None = None) -> Path:
    """A lab state directory whose ``lab.json`` holds only ``inventory`` (no lab runs; nothing is contacted)."""
    state = tmp_path / "lab"
    state.mkdir()
    if inventory is None:
        inventory = {
            "router": {"username": "admin", "password": {"env": "ZG_TEST_ROUTER_PASSWORD"}, "transport": "api"}
        }
    (state / "lab.json").write_text(json.dumps({"inventory": inventory}), encoding="utf-8")
    return state


@contextlib.contextmanager
def loopback_server(handle: Callable[[socket.socket], None], *, connections: int = 20) -> Iterator[int]:
    """A 127.0.0.1 listener that runs ``handle`` on each connection (bounded in count; I/O errors ignored)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(30)

    def serve() -> None:
        for _ in range(connections):
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                with contextlib.suppress(OSError):
                    handle(conn)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield int(srv.getsockname()[1])
    finally:
        srv.close()


def loopback_replier(reply: bytes) -> contextlib.AbstractContextManager[int]:
    """A 127.0.0.1 listener that reads one request per connection and answers ``reply``."""

    def answer(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(reply)

    return loopback_server(answer)


@contextlib.contextmanager
def stalled_listener() -> Iterator[int]:
    """A 127.0.0.1 listener that accepts every connection and never sends a byte (a hung server)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(srv.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(srv.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        srv.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key in ``directory`` (for clients that need one to start)."""
    cert, key = directory / "c.pem", directory / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=zg-test", "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key
