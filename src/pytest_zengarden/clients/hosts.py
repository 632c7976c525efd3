"""Blades over SSH, through testinfra (so suites can use the whole testinfra module set).

Every command is bounded: ``ConnectTimeout`` covers the TCP connection and the SSH handshake,
``ServerAlive*`` ends a session whose peer stopped answering, and each ``ssh`` process is killed
(with its process group) when it runs longer than connect timeout + command timeout.
"""

from __future__ import annotations

import base64
import os
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any

from ..errors import TargetError


class SshStalled(TargetError):
    """An ssh command outlived its bound (a target error also where a suite calls testinfra directly)."""


def _bounded_run_local(backend: Any, limit: float, endpoint: str) -> None:
    """Replace ``backend.run_local`` (testinfra waits forever) with a run that kills ssh after ``limit``."""

    def run_local(command: str, *args: str) -> Any:
        cmd = backend.encode(backend.quote(command, *args))
        proc = subprocess.Popen(
            cmd,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so the shell and its ssh die together
        )
        bound = float(backend.__dict__.get("zg_limit") or limit)  # a longer bound for one command (a restart)
        try:
            stdout, stderr = proc.communicate(timeout=bound)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise SshStalled(endpoint, f"no answer within {bound:g} s") from None
        return backend.result(proc.returncode, cmd, stdout, stderr)

    backend.run_local = run_local


class SshBlade:
    """A blade reached with ``ssh`` (key authentication); ``host`` is the testinfra host object."""

    def __init__(
        self,
        name: str,
        address: str,
        user: str,
        key_file: Path,
        *,
        port: int = 22,
        timeout: float = 10.0,
        known_hosts: Path | None = None,
    ):
        import testinfra

        self.name = name
        self.endpoint = f"blade {name} ({user}@{address}:{port})"
        if not key_file.exists():
            raise TargetError(self.endpoint, f"SSH key {key_file} does not exist")
        # With a known_hosts file (the lab writes one) host keys are verified strictly; without one the
        # first key seen is trusted (the user's own known_hosts, as ssh does).
        verify = (
            f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
            if known_hosts is not None
            else "-o StrictHostKeyChecking=accept-new"
        )
        seconds = int(max(1, timeout))
        # Keep-alives every third of the timeout, three missed end the session: a peer that vanishes
        # mid-command is noticed within about one timeout.
        alive = max(1, seconds // 3)
        opts = (
            f"-o ConnectTimeout={seconds} -o ServerAliveInterval={alive} -o ServerAliveCountMax=3 "
            f"-o BatchMode=yes -o PasswordAuthentication=no {verify}"
        )
        self.host: Any = testinfra.get_host(
            f"ssh://{user}@{address}:{port}",
            ssh_identity_file=str(key_file),
            ssh_extra_args=opts,
            timeout=seconds,
        )
        # Connecting (ConnectTimeout) plus running the command (the same again).
        _bounded_run_local(self.host.backend, 2.0 * seconds, self.endpoint)
        probe = self._run("true", "connect")
        if probe.rc != 0:
            cause = (probe.stderr or "").strip().splitlines()
            raise TargetError(self.endpoint, f"ssh failed: {cause[-1] if cause else f'exit {probe.rc}'}")

    def _run(self, command: str, doing: str) -> Any:
        """``host.run`` with every failure a :class:`TargetError` (testinfra raises on ssh's exit 255)."""
        result: Any = None
        problem = ""
        try:
            result = self.host.run(command)
        except TargetError as exc:
            problem = f"{doing}: {exc.cause}"
        except RuntimeError as exc:  # testinfra: ssh itself failed (exit 255); its stderr says why
            out = exc.args[0] if exc.args else None
            lines = (getattr(out, "stderr", "") or "").strip().splitlines()
            problem = f"{doing}: ssh failed: {lines[-1] if lines else 'exit 255'}"
        except Exception as exc:
            problem = f"{doing}: {type(exc).__name__}"
        if result is None:
            raise TargetError(self.endpoint, problem) from None
        return result

    def read_file(self, path: str) -> str | None:
        """The text of ``path`` on the blade, ``None`` if it does not exist; unreadable is a :class:`TargetError`."""
        quoted = shlex.quote(path)
        # Exit 3: absent. Any other failure (permission denied as a non-root user) is not "missing".
        res = self._run(f"test -e {quoted} || exit 3; cat -- {quoted}", f"reading {path}")
        if res.rc == 3:
            return None
        if res.rc != 0:
            lines = (res.stderr or "").strip().splitlines()
            raise TargetError(self.endpoint, f"cannot read {path}: {lines[-1] if lines else f'exit {res.rc}'}")
        return str(res.stdout)

    def read_files(self, paths: list[str]) -> dict[str, str | None]:
        """Several files in one SSH command: path -> text (``None``: absent); unreadable is a TargetError."""
        script = "; ".join(
            f"if [ -e {shlex.quote(p)} ]; then echo present; base64 -w0 -- {shlex.quote(p)} || exit 4; echo; "
            "else echo absent; echo; fi"
            for p in paths
        )
        res = self._run(script, f"reading {len(paths)} files")
        if res.rc != 0:
            lines = (res.stderr or "").strip().splitlines()
            raise TargetError(self.endpoint, f"cannot read {paths}: {lines[-1] if lines else f'exit {res.rc}'}")
        lines = str(res.stdout).split("\n")
        out: dict[str, str | None] = {}
        for i, path in enumerate(paths):
            state, body = lines[2 * i], lines[2 * i + 1]
            out[path] = base64.b64decode(body).decode("utf-8", errors="replace") if state == "present" else None
        return out

    def write_file(self, path: str, text: str, mode: int = 0o600) -> None:
        """Replace ``path`` atomically: a temp file beside it, the old file's mode and owner (or ``mode``), rename."""
        self.write_files([(path, text, mode)])

    def write_files(self, files: list[tuple[str, str, int]]) -> None:
        """Replace each file atomically, all in one SSH command (stops at the first that fails, naming it)."""
        parts = []
        for path, text, mode in files:
            payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
            parts.append(
                f'f={shlex.quote(path)}; d=$(dirname "$f"); mkdir -p "$d"; t=$(mktemp "$d/.zg-write.XXXXXX"); '
                f'trap \'rm -f "$t"\' EXIT; printf %s {payload} | base64 -d > "$t"; '
                f'if [ -e "$f" ]; then chmod --reference="$f" "$t"; chown --reference="$f" "$t"; '
                f'else chmod {mode:o} "$t"; fi; sync "$t"; mv -f "$t" "$f"; trap - EXIT; echo "wrote $f"'
            )
        res = self._run("set -e; " + "; ".join(parts), f"writing {len(files)} files")
        if res.rc != 0:
            done = {line[6:] for line in str(res.stdout).splitlines() if line.startswith("wrote ")}
            failed = next((p for p, _, _ in files if p not in done), files[-1][0])
            lines = (res.stderr or "").strip().splitlines()
            raise TargetError(self.endpoint, f"cannot write {failed}: {lines[-1] if lines else f'exit {res.rc}'}")

    def run_checked(self, command: str, doing: str, limit: float | None = None) -> str:
        """Run ``command`` (bounded by ``limit`` seconds if given); its output, or a :class:`TargetError`."""
        self.host.backend.zg_limit = limit
        try:
            res = self._run(command, doing)
        finally:
            self.host.backend.zg_limit = None
        if res.rc != 0:
            lines = ((res.stderr or "") + (res.stdout or "")).strip().splitlines()
            raise TargetError(self.endpoint, f"{doing}: {lines[-1] if lines else f'exit {res.rc}'}")
        return str(res.stdout)

    def hostname(self) -> str:
        """The blade's own host name."""
        res = self._run("hostname", "hostname")
        if res.rc != 0:
            raise TargetError(self.endpoint, f"hostname: exit {res.rc}")
        return str(res.stdout).strip()
