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
from ..facts.blade_state import CommandOutput
from ..facts.etcd import SnapshotDigest, SnapshotDir, SnapshotFile


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
        # One round trip: connect, and learn whether this is root or a user with passwordless sudo.
        probe = self._run("id -u; sudo -n true 2>/dev/null && echo sudo || true", "connect")
        if probe.rc != 0:
            cause = (probe.stderr or "").strip().splitlines()
            raise TargetError(self.endpoint, f"ssh failed: {cause[-1] if cause else f'exit {probe.rc}'}")
        said = str(probe.stdout).split()
        # A non-root user (root login off, as the hardening wants) reads and writes root's files through
        # `sudo -n` (never a password prompt); without passwordless sudo commands run as that user.
        self.sudo = bool(said) and said[0] != "0" and "sudo" in said[1:]
        if self.sudo:
            backend = self.host.backend
            backend.sudo = True
            backend.get_sudo_command = lambda command, sudo_user: backend.quote("sudo -n /bin/sh -c %s", command)

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

    def journal(self, unit: str) -> str:
        """``journalctl -u UNIT -b -o short-unix`` on the blade (what its units logged since boot)."""
        cmd = f"journalctl -u {shlex.quote(unit)} -b -o short-unix --no-pager -q"
        return self.run_checked(cmd, f"reading the journal of {unit}", limit=30.0)

    def mtime(self, path: str) -> float | None:
        """``path``'s modification time (unix, ns precision), ``None`` if it does not exist."""
        quoted = shlex.quote(path)
        res = self._run(f"test -e {quoted} || exit 3; stat -c %.9Y -- {quoted}", f"stat {path}")
        if res.rc == 3:
            return None
        if res.rc == 0:
            try:
                return float(str(res.stdout).strip())
            except ValueError:
                pass
        lines = (res.stderr or "").strip().splitlines()
        raise TargetError(self.endpoint, f"cannot stat {path}: {lines[-1] if lines else f'exit {res.rc}'}")

    def list_dir(self, path: str) -> SnapshotDir | None:
        """The regular files directly in ``path`` (name, size, mtime) with the blade's clock; ``None`` if absent."""
        quoted = shlex.quote(path)
        res = self._run(
            f"test -d {quoted} || exit 3; date +%s.%N; find {quoted} -mindepth 1 -maxdepth 1 -type f "
            "-printf '%s\\t%T@\\t%f\\n'",
            f"listing {path}",
        )
        if res.rc == 3:
            return None
        if res.rc != 0:
            lines = (res.stderr or "").strip().splitlines()
            raise TargetError(self.endpoint, f"cannot list {path}: {lines[-1] if lines else f'exit {res.rc}'}")
        first, *rest = str(res.stdout).splitlines() or ["0"]
        files = []
        for line in rest:
            size, mtime, name = line.split("\t", 2)
            files.append(SnapshotFile(name, int(size), float(mtime)))
        return SnapshotDir(path, float(first), files)

    def file_digest(self, path: str, head: int = 8192, trailer: int = 32, limit: float = 120.0) -> SnapshotDigest:
        """Of ``path``: size, its first ``head`` bytes, the sha256 of all but its last ``trailer`` bytes and those
        bytes, computed on the blade (bounded by ``limit`` seconds: a large database takes a while to hash)."""
        q = shlex.quote(path)
        script = (
            f"test -f {q} || exit 3; n=$(stat -c %s {q}); echo $n; head -c {head} {q} | base64 -w0; echo; "
            f"if [ $n -ge {trailer} ]; then head -c $((n - {trailer})) {q} | sha256sum | cut -d' ' -f1; "
            f"tail -c {trailer} {q} | base64 -w0; else echo; fi; echo"
        )
        self.host.backend.zg_limit = limit
        try:
            res = self._run(script, f"hashing {path}")
        finally:
            self.host.backend.zg_limit = None
        if res.rc != 0:
            lines = (res.stderr or "").strip().splitlines()
            why = "no such file" if res.rc == 3 else (lines[-1] if lines else f"exit {res.rc}")
            raise TargetError(self.endpoint, f"cannot read {path}: {why}")
        out = str(res.stdout).split("\n")
        size, head_b64, digest, tail_b64 = [*out, "", "", "", ""][:4]
        return SnapshotDigest(
            path, int(size), base64.b64decode(head_b64), digest.strip(), base64.b64decode(tail_b64.strip())
        )

    def commands(self, commands: dict[str, str]) -> dict[str, CommandOutput]:
        """Run each command (as root where the user has sudo) in one SSH session: name -> exit status and output.

        Each runs in its own subshell, stdin from /dev/null; a failing one does not stop the others.
        """
        parts = ["d=$(mktemp -d) || exit 90; trap 'rm -rf \"$d\"' EXIT"]
        for name, command in commands.items():
            parts.append(
                f'( {command}\n) </dev/null >"$d/o" 2>"$d/e"; printf \'%s %s \' {shlex.quote(name)} "$?"; '
                'base64 -w0 "$d/o"; printf \' \'; base64 -w0 "$d/e"; echo'
            )
        res = self._run("\n".join(parts), f"running {', '.join(commands)}")
        if res.rc != 0:
            lines = (res.stderr or "").strip().splitlines()
            why = lines[-1] if lines else f"exit {res.rc}"
            raise TargetError(self.endpoint, f"running {', '.join(commands)}: {why}")
        out: dict[str, CommandOutput] = {}
        for line in str(res.stdout).splitlines():
            fields = line.split(" ")
            if len(fields) != 4 or fields[0] not in commands:
                continue
            name, rc, o, e = fields
            out[name] = CommandOutput(
                int(rc), base64.b64decode(o).decode("utf-8", "replace"), base64.b64decode(e).decode("utf-8", "replace")
            )
        missing = [n for n in commands if n not in out]
        if missing:
            raise TargetError(self.endpoint, f"no answer for {', '.join(missing)}")
        return out

    def hostname(self) -> str:
        """The blade's own host name."""
        res = self._run("hostname", "hostname")
        if res.rc != 0:
            raise TargetError(self.endpoint, f"hostname: exit {res.rc}")
        return str(res.stdout).strip()
