"""What the blade hardening checks ask a blade, and the shape of its answers (interface only, no I/O).

Each fact is the output of one command run on the blade (as root: ``sshd -T`` reads the host keys, the
AppArmor profile list is root-only); a reader runs them all in one session and hands back
:class:`CommandOutput` per name.  The checks (:mod:`pytest_zengarden.checks.blade_hardening`) parse them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Protocol

from .in_effect import AGENT_UNIT, SERVER_UNIT, JournalHost, Running, file_in_effect, parse_running

APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
APPARMOR_PROFILES = "/sys/kernel/security/apparmor/profiles"
# A lab blade whose kernel has no AppArmor carries a stand-in; this file in it says so (the check tells).
APPARMOR_STAND_IN = "/sys/kernel/security/apparmor/.zengarden-lab-stand-in"
FINDMNT_COLUMNS = "TARGET,SOURCE,FSTYPE,SIZE,AVAIL,OPTIONS"
LSBLK_COLUMNS = "NAME,KNAME,PKNAME,TYPE,ROTA,TRAN,MODEL,SIZE"


@dataclass(frozen=True)
class CommandOutput:
    """One command's exit status and output, as run on the blade."""

    rc: int
    stdout: str
    stderr: str = ""

    def why(self) -> str:
        """The command's own last word on a failure (stderr's last line, else the exit status)."""
        lines = (self.stderr or self.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit {self.rc}"


class CommandHost(Protocol):
    """A blade that runs several commands in one session: name -> output."""

    name: str
    endpoint: str

    def commands(self, commands: dict[str, str]) -> dict[str, CommandOutput]: ...


def etcd_disk_commands(path: str) -> dict[str, str]:
    """findmnt of ``path`` and of ``/``, and lsblk of the device holding ``path`` (nothing if not a device)."""
    q = shlex.quote(path)
    return {
        "findmnt": f"findmnt -J -b -o {FINDMNT_COLUMNS} -T {q}",
        "findmnt_root": f"findmnt -J -b -o {FINDMNT_COLUMNS} -T /",
        # A bind mount's source reads /dev/vda[/sub/dir]: lsblk wants the device alone.
        "lsblk": f'src=$(findmnt -n -o SOURCE -T {q}) || exit 3; src=${{src%%[*}}; case "$src" in '
        f'/dev/*) lsblk -J -b -o {LSBLK_COLUMNS} "$src";; *) echo "not a block device: $src"; exit 4;; esac',
    }


def sysctl_commands(keys: list[str]) -> dict[str, str]:
    """``sysctl KEY...`` (``key = value`` lines; a missing key is an error line and a non-zero exit)."""
    return {"sysctl": "sysctl " + " ".join(shlex.quote(k) for k in keys)}


SSHD_COMMANDS = {"sshd": "/usr/sbin/sshd -T"}
TIME_COMMANDS = {
    "date": "date +%s.%N",
    "timedatectl": "timedatectl show",
    "chronyc": "chronyc -n tracking",
}
APPARMOR_COMMANDS = {
    "enabled": f"cat {APPARMOR_ENABLED}",
    "profiles": f"cat {APPARMOR_PROFILES}",
    "stand_in": f"cat {APPARMOR_STAND_IN}",
}


def ask(host: object, commands: dict[str, str]) -> dict[str, CommandOutput]:
    """Run ``commands`` on ``host`` in one session; a view that cannot run commands is a target error."""
    from ..errors import TargetError

    run = getattr(host, "commands", None)
    if run is None:
        raise TargetError(str(getattr(host, "endpoint", host)), "this target cannot run commands on the blade")
    answers: dict[str, CommandOutput] = run(commands)
    return answers


def component_starts(host: JournalView, unit: str, components: list[str]) -> dict[str, Running | str]:
    """component -> its last start line in ``unit``'s journal (read once), or why there is none."""
    journal = host.journal(unit)
    out: dict[str, Running | str] = {}
    for component in components:
        found = parse_running(journal, component, host.name)
        out[component] = found or (
            f"{host.name}: no 'Running {component}' line in `journalctl -u {unit} -b`: is {unit} running?"
        )
    return out


class JournalView(Protocol):
    name: str

    def journal(self, unit: str) -> str: ...


def k3s_inputs(host: JournalHost, server: bool) -> tuple[dict[str, Running | str], str | None, str | None]:
    """What the k3s-in-effect check judges: the components' start lines, and the k3s config as in effect
    (``None``: absent) or why the file on disk is not what runs."""
    from ..errors import NotInEffect
    from .host import K3S_CONFIG

    unit = SERVER_UNIT if server else AGENT_UNIT
    components = ["kube-apiserver", "kube-controller-manager", "kubelet"] if server else ["kubelet"]
    found = component_starts(host, unit, components)
    first = found[components[0]]
    config, problem = None, None
    if isinstance(first, str):
        problem = first
    else:
        try:
            config = file_in_effect(host, first, K3S_CONFIG)
        except NotInEffect as exc:
            problem = str(exc)
    if server and isinstance(found["kube-controller-manager"], str):
        del found["kube-controller-manager"]  # not logged: cluster-cidr is judged from the file in effect
    return found, config, problem
