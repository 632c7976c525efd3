"""Every network call has a bound: a stalled endpoint (accepts, never answers) is a TargetError in time.

The listeners are on 127.0.0.1 only.  Timeouts are 2 s and the assertion is a bound (< 10 s), not a
measurement; each call runs in a thread joined with a deadline, so a hang fails the test instead of
hanging it.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.errors import TargetError

from .helpers import self_signed, stalled_listener

TIMEOUT = 2.0
BOUND = 10.0


@pytest.fixture
def stalled() -> Iterator[int]:
    """A loopback TCP listener that accepts every connection and never sends a byte."""
    with stalled_listener() as port:
        yield port


def bounded(call: Callable[[], Any]) -> tuple[BaseException | None, float]:
    """Run ``call`` in a thread; what it raised and how long it took (fails the test past 3 x BOUND)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(3 * BOUND)
    elapsed = time.monotonic() - start
    assert outcome, f"still running after {elapsed:.0f} s: the call has no bound"
    return outcome[0], elapsed


def assert_target_error_in_time(call: Callable[[], Any], needle: str) -> None:
    exc, elapsed = bounded(call)
    assert isinstance(exc, TargetError), repr(exc)
    assert needle in str(exc), str(exc)
    assert elapsed < BOUND, f"{elapsed:.1f} s for a {TIMEOUT:g} s timeout"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key (for clients that need one to start)."""
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_kubernetes_discovery_on_a_stalled_api_server(tmp_path: Path, stalled: int, tls_files: tuple[Path, Path]):
    from pytest_zengarden.clients.cluster import KubeClusterClient

    cert, key = tls_files
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{stalled}", certificate-authority: "{cert}"}}}}]
users: [{{name: u, user: {{client-certificate: "{cert}", client-key: "{key}"}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""
    )
    client = KubeClusterClient(kubeconfig, timeout=TIMEOUT)
    try:
        assert_target_error_in_time(lambda: client.list("Namespace"), "list Namespace: timed out")
    finally:
        client.close()


def test_ssh_to_a_stalled_blade(tmp_path: Path, stalled: int):
    from pytest_zengarden.clients.hosts import SshBlade

    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    known = tmp_path / "known_hosts"
    known.touch()
    assert_target_error_in_time(
        lambda: SshBlade("blade001", "127.0.0.1", "root", key, port=stalled, timeout=TIMEOUT, known_hosts=known),
        f"blade blade001 (root@127.0.0.1:{stalled})",
    )


def test_ssh_command_that_never_ends_is_killed(tmp_path: Path):
    """After connecting: a command that hangs (a blade's stuck mount) ends as an error, not a hang."""
    from pytest_zengarden.clients import hosts

    class Backend:
        @staticmethod
        def quote(command: str, *args: str) -> str:
            return command

        @staticmethod
        def encode(text: str) -> bytes:
            return text.encode()

        @staticmethod
        def result(rc: int, cmd: bytes, stdout: bytes, stderr: bytes) -> Any:
            return rc

    backend = Backend()
    hosts._bounded_run_local(backend, TIMEOUT, "blade blade001 (root@127.0.0.1:22)")
    assert_target_error_in_time(lambda: backend.run_local("sleep 60"), f"no answer within {TIMEOUT:g} s")  # type: ignore[attr-defined]


def test_etcd_on_a_stalled_member(stalled: int, tls_files: tuple[Path, Path]):
    from pytest_zengarden.clients.etcd import EtcdClient

    cert, key = tls_files
    client = EtcdClient([f"https://127.0.0.1:{stalled}"], cert, cert, key, timeout=TIMEOUT)
    try:
        assert_target_error_in_time(client.members, "timed out")
    finally:
        client.close()


def test_rest_on_a_stalled_router(stalled: int):
    from pytest_zengarden.clients.router import RouterRestClient

    client = RouterRestClient(f"http://127.0.0.1:{stalled}", "zengarden", "not-used", timeout=TIMEOUT)
    try:
        assert_target_error_in_time(lambda: client.print("/ip/service"), "timed out")
    finally:
        client.close()


def test_api_on_a_stalled_router(stalled: int):
    from pytest_zengarden.clients.router import RouterApiClient

    assert_target_error_in_time(
        lambda: RouterApiClient("127.0.0.1", "zengarden", "not-used", port=stalled, timeout=TIMEOUT), "timed out"
    )
