"""Thin wrappers over ``ip``/``nsenter``-style commands (the lab's only system I/O besides processes).

Every command has a timeout; a failure raises :class:`LabError` naming the command and its stderr.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

from ..errors import ZengardenError


class LabError(ZengardenError):
    """A lab operation failed; the message says which and why."""


def run(
    cmd: Sequence[str],
    *,
    ns: str | None = None,
    check: bool = True,
    input: str | None = None,
    timeout: float = 30,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (inside network namespace ``ns`` if given) and return the completed process."""
    full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    try:
        proc = subprocess.run(
            full, input=input, capture_output=True, text=True, timeout=timeout, env=dict(env) if env else None
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(full)}` did not finish within {timeout:g}s") from None
    except FileNotFoundError:
        raise LabError(f"`{full[0]}` is not installed (run ./scripts/setup)") from None
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(full)}` failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``ip ARGS`` (in ``ns`` if given)."""
    return run(["ip", *args], ns=ns, check=check)


def list_namespaces() -> list[str]:
    """Names of the machine's named network namespaces."""
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def namespace_exists(name: str) -> bool:
    return name in list_namespaces()
