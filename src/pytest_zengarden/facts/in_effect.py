"""What a k3s blade runs *now*: the flags of its embedded components, from the unit's journal.

k3s reads its config file once, when the unit starts, and logs the argv it gives each embedded component
(``pkg/daemons/executor``: ``logrus.Infof("Running kube-apiserver %s", config.ArgString(args))``)::

    1765146000.123456 blade001 k3s[812]: time="2026-12-07T22:20:00Z" level=info \\
        msg="Running kube-apiserver --advertise-address=192.168.77.11 --anonymous-auth=false ..."

That line (``journalctl -u k3s -b -o short-unix``) is what is in effect; a file on disk is only the next
start's input.  A file a flag names (admission configuration, audit policy) is in effect only if it has
not changed since that start.  Pure parsing here; reading the journal is the host view's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from ..errors import NotInEffect
from .host import HostView

# Which unit logs which component: a server's ``k3s`` runs them all, an agent's ``k3s-agent`` the kubelet.
SERVER_UNIT, AGENT_UNIT = "k3s", "k3s-agent"
SERVER_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")
_MSG = re.compile(r'\bmsg="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Running:
    """One start of ``component`` on ``host``: when (unix time of the journal line) and with which argv."""

    component: str
    host: str
    started: float
    argv: tuple[str, ...]

    def values(self, name: str) -> list[str]:
        """Every value of ``--name`` in order (``--name`` alone is ``"true"``)."""
        out = []
        for arg in self.argv:
            key, eq, value = arg.partition("=")
            if key == f"--{name}":
                out.append(value if eq else "true")
        return out

    def flag(self, name: str) -> str | None:
        """The value of ``--name`` in effect (the last one given), ``None`` when not given."""
        got = self.values(name)
        return got[-1] if got else None


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


def parse_running(journal: str, component: str, host: str) -> Running | None:
    """The last ``Running <component> ...`` line of ``journal`` (``-o short-unix``), or ``None``.

    A line whose first word is not a unix time cannot be placed in time: :class:`NotInEffect`.
    """
    prefix = f"Running {component} "
    last: Running | None = None
    for number, line in enumerate(journal.splitlines(), 1):
        m = _MSG.search(line)
        if m is None:
            continue
        msg = _unescape(m.group(1))
        if not msg.startswith(prefix):
            continue
        stamp = line.split(maxsplit=1)[0] if line.strip() else ""
        try:
            started = float(stamp)
        except ValueError:
            raise NotInEffect(
                f"{host}: journal line {number} has no unix time ({stamp!r}); read it with `-o short-unix`"
            ) from None
        last = Running(component, host, started, tuple(msg[len(prefix) :].split()))
    return last


class JournalHost(HostView, Protocol):
    """A host whose unit journal and file times can be read (a live blade, or a recording of one)."""

    def journal(self, unit: str) -> str:
        """``journalctl -u UNIT -b -o short-unix --no-pager`` on the host."""
        ...

    def mtime(self, path: str) -> float | None:
        """The file's modification time (unix), ``None`` when it does not exist."""
        ...


def running(host: JournalHost, component: str, unit: str = SERVER_UNIT) -> Running:
    """What ``component`` runs with on ``host`` since the unit's last start; :class:`NotInEffect` saying why not."""
    found = parse_running(host.journal(unit), component, host.name)
    if found is None:
        raise NotInEffect(
            f"{host.name}: no 'Running {component}' line in `journalctl -u {unit} -b`: "
            f"is {unit} running on it, and was it started since boot?"
        )
    return found


def file_in_effect(host: JournalHost, run: Running, path: str) -> str | None:
    """The text of ``path`` as ``run`` read it at its start; ``None`` if absent.

    A file changed after the start is not in effect (the component read an earlier version): :class:`NotInEffect`.
    """
    changed = host.mtime(path)
    if changed is None:
        return None
    if changed > run.started:
        unit = SERVER_UNIT if run.component != "kubelet" else f"{SERVER_UNIT} or {AGENT_UNIT}"
        raise NotInEffect(
            f"{host.name}:{path} changed at {_when(changed)}, after {run.component} started at {_when(run.started)}: "
            f"what is in effect is an earlier version; restart {unit} for it to take effect"
        )
    return host.read_file(path)


def _when(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
