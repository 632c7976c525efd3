"""One control-plane blade's ``k3s`` service in the lab: kube-apiserver run with the flags of the blade's files.

A real k3s server reads ``/etc/rancher/k3s/config.yaml`` (and ``config.yaml.d/*.yaml``) when it starts and
passes its ``kube-apiserver-arg`` entries, and ``secrets-encryption``, to the API server it embeds; the
files those flags name (PSA admission config, audit policy) are read then too.  A changed file takes
effect on ``systemctl restart k3s``.  This module is that for a lab blade:

* :func:`build_argv` (pure): the lab's plumbing argv (etcd, certificates, ports, service-account keys,
  service CIDR: computed by :mod:`.controlplane`) plus the flags the blade's k3s config sets, with every
  blade path (``/etc/...``, ``/var/lib/rancher/...``) mapped to the blade's files under ``STATE/hosts/<blade>``;
* :class:`Supervisor` (``python -m pytest_zengarden.lab.k3s_supervisor``): the lab process
  ``kube-apiserver-<blade>``.  It runs kube-apiserver as its child, records the argv in effect in
  ``/var/lib/rancher/k3s/server/.argv-in-effect.json`` (blade path) and serves a UNIX socket
  (``/var/lib/rancher/k3s/server/.supervisor/control.sock``) on which a restart request stops the child
  and starts it again from the files as they are now, answering once ``/readyz`` is 200 (``Type=notify``);
* :func:`systemctl_shim`: the ``systemctl`` a blade's SSH sessions see (bind-mounted over
  ``/usr/bin/systemctl`` in the blade's mount namespace, :mod:`.blades`): ``restart|start|stop|is-active|
  status k3s`` talk to the socket; on an agent blade ``k3s-agent`` is simulated (always active, a restart
  changes nothing); ``daemon-reload`` is a no-op; anything else is refused (it never reaches the host's
  systemd).

An API server that exits on its own ends the supervisor (the lab's status then shows it down); one that
fails to start after a restart request leaves the unit ``failed`` and the supervisor waiting for the
next request, as systemd would.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.client
import json
import os
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..facts.host import K3S_CONFIG

MODULE = "pytest_zengarden.lab.k3s_supervisor"
CONFIG_D = K3S_CONFIG + ".d"
SERVER_DIR = "/var/lib/rancher/k3s/server"
CONTROL_DIR = SERVER_DIR + "/.supervisor"
CONTROL_SOCKET = CONTROL_DIR + "/control.sock"
PID_FILE = CONTROL_DIR + "/supervisor.pid"
ARGV_IN_EFFECT = SERVER_DIR + "/.argv-in-effect.json"
ENCRYPTION_CONFIG = SERVER_DIR + "/cred/encryption-config.json"  # where k3s keeps it with secrets-encryption
OIDC_CLIENT_ID = "zengarden-lab"
BLADE_MOUNTS = ("/etc/", "/var/lib/rancher/")  # blade paths that are the blade's own files in the lab
JOURNAL_DIR = "/var/lib/rancher/.lab-journal"  # <unit>.log: what `journalctl -u UNIT` shows on a lab blade
JOURNALCTL = "/usr/bin/journalctl"  # where the blade's SSH sessions find the lab's journalctl
START_TIMEOUT_S = 90.0  # systemd's default TimeoutStartSec
STOP_GRACE_S = 4.0  # below the lab's 5 s grace when it stops the supervisor itself
SHIM_TIMEOUT_S = START_TIMEOUT_S + STOP_GRACE_S + 15


# ------------------------------------------------------------------------------------------ pure
def blade_path(root: Path, path: str) -> Path:
    """Where blade path ``path`` (as SSH sessions on the blade see it) lives in the lab's ``root``."""
    if any(path.startswith(m) for m in BLADE_MOUNTS):
        return root / path.lstrip("/")
    return Path(path)


def merge_config(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """k3s's merge of ``config.yaml`` then ``config.yaml.d/*.yaml``: a later key replaces, ``key+`` appends."""
    out: dict[str, Any] = {}
    for doc in docs:
        for key, value in doc.items():
            if key.endswith("+"):
                base = key[:-1]
                old = out.get(base)
                old_list = [] if old is None else old if isinstance(old, list) else [old]
                out[base] = old_list + (value if isinstance(value, list) else [value])
            else:
                out[key] = value
    return out


def _split(arg: str) -> tuple[str, str]:
    key, _, value = arg.lstrip("-").partition("=")
    return key, value


def build_argv(plumbing: Sequence[str], config: Mapping[str, Any], root: Path, *, oidc: bool = True) -> list[str]:
    """The kube-apiserver argv for a blade whose (merged) k3s config is ``config``.

    ``plumbing`` is the lab's argv (binary first, then ``--flag=value``).  As k3s does, a flag from
    ``kube-apiserver-arg`` replaces the default of the same name (repeated, it is passed repeatedly) and
    ``flag+=value`` appends to it; ``secrets-encryption: true`` adds the encryption provider config.  Values
    that are blade paths are mapped to ``root``.  Lab adaptations: OIDC flags get the lab's client id when
    the config names none (kube-apiserver refuses an issuer without one), and ``oidc=False`` drops them.
    """
    binary, *rest = plumbing
    flags: list[tuple[str, str]] = [_split(a) for a in rest]
    extra: list[str] = []
    if config.get("secrets-encryption") is True:
        extra.append(f"encryption-provider-config={ENCRYPTION_CONFIG}")
    args = config.get("kube-apiserver-arg") or []
    extra += [str(a) for a in (args if isinstance(args, list) else [args])]
    replaced: set[str] = set()
    for arg in extra:
        key, value = _split(arg)
        if value.startswith("/"):
            value = str(blade_path(root, value))
        if key.endswith("+"):
            key = key[:-1]
            at = next((i for i, (k, _) in enumerate(flags) if k == key), None)
            if at is None:
                flags.append((key, value))
            else:
                flags[at] = (key, f"{flags[at][1]},{value}" if flags[at][1] else value)
            continue
        if key not in replaced:
            flags = [(k, v) for k, v in flags if k != key]
            replaced.add(key)
        flags.append((key, value))
    keys = {k for k, _ in flags}
    if not oidc:
        flags = [(k, v) for k, v in flags if not k.startswith("oidc-")]
    elif "oidc-issuer-url" in keys and "oidc-client-id" not in keys:
        flags.append(("oidc-client-id", OIDC_CLIENT_ID))
    return [binary, *(f"--{k}={v}" for k, v in flags)]


def _is_file(path: Path) -> bool:
    # An overlay upper layer marks a file deleted through the blade with a character device (a whiteout).
    return path.is_file()


def read_config(root: Path) -> dict[str, Any]:
    """The blade's k3s config as k3s reads it: ``config.yaml`` and then ``config.yaml.d/*.yaml``; {} if none."""
    paths = [blade_path(root, K3S_CONFIG)]
    conf_d = blade_path(root, CONFIG_D)
    if conf_d.is_dir():
        paths += sorted(p for p in conf_d.iterdir() if p.suffix in (".yaml", ".yml"))
    docs = []
    for path in paths:
        if not _is_file(path):
            continue
        doc = yaml.safe_load(path.read_text())
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: a k3s config must be a mapping, not {type(doc).__name__}")
        docs.append(doc)
    return merge_config(docs)


def argv_in_effect(root: Path) -> list[str] | None:
    """The kube-apiserver argv the blade at ``root`` runs with now (None when none was started)."""
    path = blade_path(root, ARGV_IN_EFFECT)
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return [str(a) for a in data["argv"]]


def flags_of(argv: Sequence[str]) -> dict[str, str]:
    """``--flag=value`` arguments as a mapping (the last wins; the binary is skipped)."""
    return dict(_split(a) for a in argv[1:])


def kubelet_argv(config: Mapping[str, Any], node: str) -> list[str]:
    """The kubelet argv k3s starts on ``node`` from its (merged) config: k3s's defaults, then ``kubelet-arg``.

    The subset of k3s's ``pkg/daemons/agent`` defaults the checks may ask about; as for the API server, a
    ``kubelet-arg`` flag replaces the default of the same name.
    """
    flags: dict[str, str] = {
        "anonymous-auth": "false",
        "authentication-token-webhook": "true",
        "authorization-mode": "Webhook",
        "cgroup-driver": "systemd",
        "cluster-domain": "cluster.local",
        "eviction-hard": "imagefs.available<5%,nodefs.available<5%",
        "fail-swap-on": "false",
        "healthz-bind-address": "127.0.0.1",
        "hostname-override": node,
        "kubeconfig": "/var/lib/rancher/k3s/agent/kubelet.kubeconfig",
        "read-only-port": "0",
    }
    if config.get("node-ip"):
        flags["node-ip"] = str(config["node-ip"])
    if config.get("protect-kernel-defaults") is True:
        flags["protect-kernel-defaults"] = "true"
    args = config.get("kubelet-arg") or []
    for arg in args if isinstance(args, list) else [args]:
        key, value = _split(str(arg))
        flags.pop(key, None)
        flags[key] = value
    return ["kubelet", *(f"--{k}={v}" for k, v in flags.items())]


def journal_line(when: float, host: str, unit: str, pid: int, component: str, argv: Sequence[str]) -> str:
    """One start line as ``journalctl -o short-unix`` prints what k3s logs (logrus text format)."""
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    msg = f"Running {component} {' '.join(argv[1:])}".replace("\\", "\\\\").replace('"', '\\"')
    return f'{when:.6f} {host} {unit}[{pid}]: time="{iso}" level=info msg="{msg}"\n'


def as_blade_paths(root: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` with the lab's ``STATE/hosts/<blade>`` prefix taken off values: the paths the blade sees."""
    prefix = str(root).rstrip("/")
    return [a.replace(f"={prefix}/", "=/") for a in argv]


def log_start(root: Path, unit: str, host: str, pid: int, components: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Append the start lines of ``components`` (name, argv) to the blade's journal of ``unit``."""
    path = blade_path(root, f"{JOURNAL_DIR}/{unit}.log")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = time.time()
    with path.open("a", encoding="utf-8") as f:
        for component, argv in components:
            f.write(journal_line(now, host, unit, pid, component, as_blade_paths(root, argv)))


def agent_started(root: Path, node: str) -> None:
    """An agent's ``k3s-agent`` (re)started: log the kubelet it runs from the config as it is now."""
    log_start(root, "k3s-agent", node, os.getpid(), [("kubelet", kubelet_argv(read_config(root), node))])


_JOURNALCTL = r'''#!{python} -I
"""journalctl on a zengarden lab blade: the k3s units' own journal, as `-o short-unix` prints it."""
import sys

DIR = {journal_dir!r}


def main(argv):
    units = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-u", "--unit")]
    units += [a.split("=", 1)[1] for a in argv if a.startswith("--unit=")]
    output = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-o", "--output")), "short-unix")
    if not units:
        print("journalctl (zengarden lab): only `-u UNIT` is supported on a lab blade", file=sys.stderr)
        return 1
    for unit in units:
        unit = unit.removesuffix(".service")
        try:
            with open(f"{{DIR}}/{{unit}}.log", encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            continue  # a unit that never logged: journalctl prints nothing (with -q)
        if output == "cat":
            text = "".join(line.split(": ", 1)[1] + "\n" for line in text.splitlines() if ": " in line)
        sys.stdout.write(text)
    return 0


sys.exit(main(sys.argv[1:]))
'''


def journalctl_shim(python: str = sys.executable, journal_dir: str = JOURNAL_DIR) -> str:
    """The text of the ``journalctl`` a lab blade's SSH sessions run (stdlib only): ``-u UNIT``, the lab's journal."""
    return _JOURNALCTL.format(python=python, journal_dir=journal_dir)


# ------------------------------------------------------------------------------------- the shim
_SHIM = r'''#!{python} -I
"""systemctl on a zengarden lab blade: only the k3s unit exists (the lab's supervised API server)."""
import socket, sys

SOCKET = {socket!r}
TIMEOUT = {timeout!r}
AGENT = {agent!r}  # an agent blade: the lab simulates its kubelet (kwok), nothing there reads its k3s config
UNITS = ("k3s-agent", "k3s-agent.service") if AGENT else ("k3s", "k3s.service")
VERBS = ("restart", "try-restart", "reload-or-restart", "start", "stop", "is-active", "status")


def main(argv):
    words = [a for a in argv if not a.startswith("-")]
    quiet = "-q" in argv or "--quiet" in argv
    if not words:
        print("systemctl (zengarden lab): give a command", file=sys.stderr)
        return 1
    verb, units = words[0], words[1:]
    if verb == "daemon-reload":
        return 0
    if verb not in VERBS:
        print(f"systemctl (zengarden lab): {{verb!r}} is not supported on a lab blade", file=sys.stderr)
        return 1
    unknown = [u for u in units if u not in UNITS]
    if not units or unknown:
        if verb == "is-active":
            for _ in units or [""]:
                print("inactive")
            return 3
        print(f"Unit {{(unknown or ['(none)'])[0]}} not found.", file=sys.stderr)
        return 5 if verb != "status" else 4
    if verb in ("try-restart", "reload-or-restart"):
        verb = "restart"
    if AGENT:
        if verb in ("restart", "start"):
            import subprocess
            subprocess.run([{python!r}, "-I", "-m", {module!r}, "agent-started", "--node", {node!r}],
                           check=True, timeout=TIMEOUT)
        if verb == "status":
            print("k3s-agent.service - k3s agent, simulated by the zengarden lab\n   Active: active")
        elif verb == "is-active" and not quiet:
            print("active")
        return 0
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(SOCKET)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        if verb == "is-active":
            print("inactive")
            return 3
        if isinstance(exc, FileNotFoundError):
            print("Unit k3s.service not found.", file=sys.stderr)
            return 5 if verb != "status" else 4
        print(f"Job for k3s.service failed: the lab's k3s supervisor is not running.", file=sys.stderr)
        return 1
    try:
        s.sendall(verb.encode() + b"\n")
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except socket.timeout:
        print(f"Job for k3s.service timed out after {{TIMEOUT:g}}s.", file=sys.stderr)
        return 1
    finally:
        s.close()
    head, _, body = b"".join(chunks).decode(errors="replace").partition("\n")
    if verb == "is-active":
        if not quiet:
            print(head or "unknown")
        return 0 if head == "active" else 3
    if verb == "status":
        print(body, end="")
        return 0 if head == "active" else 3
    if head == "ok":
        return 0
    print(f"Job for k3s.service failed. {{body.strip() or head}}", file=sys.stderr)
    return 1


sys.exit(main(sys.argv[1:]))
'''


def systemctl_shim(
    python: str = sys.executable, control_socket: str = CONTROL_SOCKET, *, agent: bool = False, node: str = ""
) -> str:
    """The text of the ``systemctl`` a lab blade's SSH sessions run (stdlib only).

    A server blade has the unit ``k3s`` (its supervised API server); an ``agent`` blade has ``k3s-agent``,
    which the lab simulates: restarting it succeeds and changes nothing (no lab process reads its config).
    """
    return _SHIM.format(
        python=python, socket=control_socket, timeout=SHIM_TIMEOUT_S, agent=agent, module=MODULE, node=node
    )


# -------------------------------------------------------------------------------- the supervisor
def _say(msg: str) -> None:
    print(f"[k3s-supervisor] {msg}", flush=True)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the supervisor dies (a killed lab leaves no API server)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Supervisor:
    """kube-apiserver for one blade, restarted on request with the blade's files as they are then."""

    def __init__(
        self,
        root: Path,
        plumbing: Sequence[str],
        *,
        address: str,
        port: int,
        ca: Path,
        cert: Path,
        key: Path,
        oidc: bool = True,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        self.root, self.plumbing, self.oidc = root, list(plumbing), oidc
        self.address, self.port, self.start_timeout = address, port, start_timeout
        self.tls = ssl.create_default_context(cafile=str(ca))
        self.tls.load_cert_chain(str(cert), str(key))
        self.child: subprocess.Popen[bytes] | None = None
        self.pidfd = -1
        self.state = "inactive"  # systemd's words: activating, active, failed, inactive
        self.detail = ""
        self.terminating = False
        self.sel = selectors.DefaultSelector()
        self.signals_r, self.signals_w = socket.socketpair()

    # ---- readiness
    def _ready(self) -> bool:
        conn = http.client.HTTPSConnection(self.address, self.port, context=self.tls, timeout=2)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _record(self, argv: list[str] | None) -> None:
        path = blade_path(self.root, ARGV_IN_EFFECT)
        tmp = path.with_name(path.name + ".tmp")
        data = {"argv": argv, "pid": self.child.pid if self.child else None, "state": self.state,
                "since": time.time()}  # fmt: skip
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)

    # ---- the child
    def _signalled(self) -> bool:
        """Drain the signal pipe; True if a termination signal came."""
        with contextlib.suppress(BlockingIOError):
            if self.signals_r.recv(512):
                self.terminating = True
        return self.terminating

    def _wait_child(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the child to exit (its pidfd turns readable); True if it did."""
        if self.child is None:
            return True
        if self.child.poll() is not None:
            return True
        sel = selectors.DefaultSelector()
        sel.register(self.pidfd, selectors.EVENT_READ)
        try:
            sel.select(seconds)
        finally:
            sel.close()
        return self.child.poll() is not None

    def stop_child(self) -> None:
        if self.child is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(self.pidfd)
        if self.child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.child.send_signal(signal.SIGTERM)
            if not self._wait_child(STOP_GRACE_S):
                with contextlib.suppress(ProcessLookupError):
                    self.child.kill()
                self.child.wait(5)
        os.close(self.pidfd)
        self.child, self.pidfd = None, -1

    def _await_ready(self, argv: list[str]) -> str | None:
        """Wait until the child answers /readyz (None) or why it will not: it exited, time ran out, a signal."""
        assert self.child is not None
        wait = selectors.DefaultSelector()
        wait.register(self.pidfd, selectors.EVENT_READ)
        wait.register(self.signals_r, selectors.EVENT_READ)
        deadline = time.monotonic() + self.start_timeout
        try:
            while True:
                if self._ready():
                    self.state = "active"
                    self._record(argv)
                    self.sel.register(self.pidfd, selectors.EVENT_READ, "child")
                    _say(f"kube-apiserver (pid {self.child.pid}) is ready")
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return f"kube-apiserver did not answer /readyz within {self.start_timeout:g}s"
                # Woken early by the child's exit or a signal; otherwise probe again after half a second.
                for k, _ in wait.select(min(0.5, left)):
                    if k.fileobj is self.signals_r and self._signalled():
                        return "the supervisor is stopping"
                    if k.fd == self.pidfd and self.child.poll() is not None:
                        return f"kube-apiserver exited with status {self.child.returncode} (see the lab's log)"
        finally:
            wait.close()

    def start_child(self) -> tuple[bool, str]:
        """Start kube-apiserver from the blade's files now; wait (bounded) until /readyz is 200."""
        self.state, self.detail = "activating", ""
        try:
            argv = build_argv(self.plumbing, read_config(self.root), self.root, oidc=self.oidc)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            self.state, self.detail = "failed", f"cannot read the k3s config: {exc}"
            self._record(None)
            return False, self.detail
        _say(f"starting kube-apiserver with {len(argv) - 1} flags (see {ARGV_IN_EFFECT})")
        try:
            config = read_config(self.root)
            host = blade_path(self.root, "/etc/hostname").read_text().strip() or self.root.name
        except (OSError, ValueError, yaml.YAMLError):
            config, host = {}, self.root.name
        # As k3s does, before the components start: the journal says what this start runs with.
        components = [("kube-apiserver", argv), ("kubelet", kubelet_argv(config, host))]
        log_start(self.root, "k3s", host, os.getpid(), components)
        self.child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, cwd="/", preexec_fn=_die_with_parent)
        self.pidfd = os.pidfd_open(self.child.pid)
        self._record(argv)
        why = self._await_ready(argv)
        if why is None:
            return True, ""
        self.stop_child()
        self.state, self.detail = "failed", why
        self._record(argv)
        _say(f"start failed: {why}")
        return False, why

    # ---- requests
    def handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                verb = conn.recv(256).decode(errors="replace").strip()
            except OSError:
                return
            reply = self.command(verb)
            with contextlib.suppress(OSError):
                conn.settimeout(None)
                conn.sendall(reply.encode())

    def command(self, verb: str) -> str:
        if verb == "is-active":
            return self.state + "\n"
        if verb == "status":
            pid = self.child.pid if self.child else "-"
            body = f"k3s.service - zengarden lab k3s (kube-apiserver)\n   Active: {self.state}\n   Main PID: {pid}\n"
            return f"{self.state}\n{body}" + (f"   {self.detail}\n" if self.detail else "")
        if verb == "stop":
            self.stop_child()
            self.state, self.detail = "inactive", ""
            self._record(None)
            return "ok\n"
        if verb in ("restart", "start"):
            if verb == "start" and self.state == "active":
                return "ok\n"
            _say(f"{verb} requested")
            self.stop_child()
            ok, why = self.start_child()
            return "ok\n" if ok else f"failed\n{why}\n"
        return f"failed\nunknown request {verb!r}\n"

    # ---- main loop
    def run(self) -> int:
        control = blade_path(self.root, CONTROL_DIR)
        control.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chdir(control)  # bind by a relative name: the state path may exceed a socket path's 108 bytes
        sock_name = Path(CONTROL_SOCKET).name
        Path(sock_name).unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sock_name)
        listener.listen(8)
        Path(Path(PID_FILE).name).write_text(f"{os.getpid()}\n")
        self.signals_r.setblocking(False)
        self.signals_w.setblocking(False)
        signal.set_wakeup_fd(self.signals_w.fileno())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)  # delivered through the wakeup pipe
        self.sel.register(listener, selectors.EVENT_READ, "control")
        self.sel.register(self.signals_r, selectors.EVENT_READ, "signal")
        try:
            ok, why = self.start_child()
            if not ok:
                _say(f"exiting: {why}")
                return 0 if self.terminating else 1
            while not self.terminating:
                for k, _ in self.sel.select():
                    if k.data == "signal":
                        self._signalled()
                    elif k.data == "control":
                        conn, _ = listener.accept()
                        self.handle(conn)
                    elif k.data == "child" and self.child is not None and self.child.poll() is not None:
                        rc = self.child.returncode
                        _say(f"kube-apiserver exited on its own with status {rc}")
                        self.stop_child()
                        self.state = "failed"
                        self._record(None)
                        return rc or 1
            _say("stopping")
            return 0
        finally:
            self.stop_child()
            listener.close()
            Path(sock_name).unlink(missing_ok=True)
            Path(Path(PID_FILE).name).unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["agent-started"]:  # from an agent blade's systemctl, inside the blade's mount namespace
        p0 = argparse.ArgumentParser(prog=f"{MODULE} agent-started")
        p0.add_argument("--node", required=True)
        p0.add_argument("--root", type=Path, default=Path("/"))
        got = p0.parse_args(args[1:])
        agent_started(got.root, got.node)
        return 0
    p = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--root", type=Path, required=True, help="the blade's files: STATE/hosts/<blade>")
    p.add_argument("--address", required=True, help="where the API server serves (for /readyz)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", type=Path, required=True, help="CA of the API server's serving certificate")
    p.add_argument("--cert", type=Path, required=True, help="client certificate for /readyz")
    p.add_argument("--key", type=Path, required=True)
    p.add_argument("--no-oidc", action="store_true", help="leave out OIDC flags (the lab cannot reach the issuer)")
    p.add_argument("--start-timeout", type=float, default=START_TIMEOUT_S)
    p.add_argument("plumbing", nargs="+", help="-- then the lab's kube-apiserver argv")
    a = p.parse_args(args)
    sup = Supervisor(
        a.root, a.plumbing, address=a.address, port=a.port, ca=a.ca, cert=a.cert, key=a.key,
        oidc=not a.no_oidc, start_timeout=a.start_timeout,
    )  # fmt: skip
    return sup.run()


if __name__ == "__main__":
    sys.exit(main())
