"""Blades over SSH, through testinfra (so suites can use the whole testinfra module set)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from ..errors import TargetError


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
        opts = f"-o ConnectTimeout={int(max(1, timeout))} -o BatchMode=yes -o PasswordAuthentication=no {verify}"
        self.host: Any = testinfra.get_host(
            f"ssh://{user}@{address}:{port}",
            ssh_identity_file=str(key_file),
            ssh_extra_args=opts,
            timeout=int(max(1, timeout)),
        )
        probe = self.host.run("true")
        if probe.rc != 0:
            cause = (probe.stderr or "").strip().splitlines()
            raise TargetError(self.endpoint, f"ssh failed: {cause[-1] if cause else f'exit {probe.rc}'}")

    def read_file(self, path: str) -> str | None:
        res = self.host.run(f"test -e {shlex.quote(path)} && cat -- {shlex.quote(path)}")
        if res.rc == 255:
            raise TargetError(self.endpoint, f"ssh failed while reading {path}: {res.stderr.strip()}")
        if res.rc != 0:
            return None
        return str(res.stdout)

    def hostname(self) -> str:
        return str(self.host.check_output("hostname")).strip()
