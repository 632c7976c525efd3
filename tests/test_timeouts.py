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


def test_a_file_the_ssh_user_cannot_read_is_an_error_not_missing() -> None:
    """k3s keeps config.yaml 0600 root: a non-root SSH user is refused, and that is no absent file.

    The reader's own command runs in a shell as ``nobody``, as it would on a blade over SSH.
    """
    import pwd
    import shutil
    import tempfile

    from pytest_zengarden.clients.hosts import SshBlade

    class Result:
        def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
            self.rc, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr

    nobody = pwd.getpwnam("nobody")
    as_nobody = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", "sh", "-c"]

    def run(command: str, doing: str) -> Result:
        argv = [*as_nobody, command]
        return Result(subprocess.run(argv, capture_output=True, text=True, timeout=10, env={"LC_ALL": "C"}))

    blade = SshBlade.__new__(SshBlade)
    blade.endpoint = "blade blade001 (zg@127.0.0.1:22)"
    blade._run = run  # type: ignore[method-assign]
    where = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        where.chmod(0o755)  # nobody may look in, as in /etc/rancher/k3s
        unreadable = where / "config.yaml"
        unreadable.write_text("token: x\n")
        unreadable.chmod(0o600)
        with pytest.raises(TargetError, match=r"cannot read .*config\.yaml: .*Permission denied"):
            blade.read_file(str(unreadable))
        assert blade.read_file(str(where / "absent.yaml")) is None
    finally:
        shutil.rmtree(where)
