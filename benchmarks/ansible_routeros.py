"""Ansible's ``community.routeros.api_modify`` converging a router, for the provisioning benchmark.

Reusable part (imported by ``benchmarks/provision.py``):

* :func:`run_ansible` writes a playbook with one ``api_modify`` task per menu and runs
  ``ansible-playbook`` from ``.venv-bench`` (made by ``scripts/bench-setup``); it returns an
  :class:`AnsibleResult` (wall time, success, changed);
* :func:`count_writes` counts the write commands in the emulator's API log.

Run as a script it measures Ansible alone on the project's RouterOS emulator, in a private network
namespace of its own (it re-executes itself under ``unshare -n``; needs root): a bare router
converged to the site's six menus, then the same run again (nothing to change)::

    scripts/bench-setup && flock /tmp/zg/lab.lock .venv/bin/python benchmarks/ansible_routeros.py

The password reaches Ansible in an extra-vars file of mode 0600 in ``workdir`` (deleted after the
run), never on a command line, and is scrubbed from the output this module returns.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH_VENV = REPO / ".venv-bench"
SITE = REPO / "fixtures" / "sites" / "zengarden.yaml"

# The six menus the benchmark converges, in dependency order: lists before their members and before
# the rules naming them; /ip/service last, because it narrows who may open a new API session.
MENUS = (
    "/interface/list",
    "/interface/list/member",
    "/ip/firewall/filter",
    "/ip/firewall/nat",
    "/ip/dns/static",
    "/ip/service",
)
ORDERED = frozenset({"ip firewall filter", "ip firewall nat", "ip firewall mangle", "ip firewall raw"})
# Menus whose entries RouterOS fixes (api_modify refuses handle_absent_entries=remove and ensure_order there).
FIXED = frozenset({"ip service"})
WRITE_VERBS = ("add", "set", "unset", "remove", "move")


@dataclass(frozen=True)
class AnsibleResult:
    seconds: float  # wall time of ansible-playbook, start to exit
    ok: bool  # exit status 0 and no failed/unreachable task
    changed: bool  # some task reported a change
    output_tail: str  # the last lines of ansible's output (password scrubbed)
    changed_tasks: int = 0  # how many api_modify tasks reported a change (from the play recap)
    returncode: int | None = None  # None: killed by the timeout


def api_path(menu: str) -> str:
    """``/ip/firewall/filter`` or ``ip firewall filter`` -> ``ip firewall filter`` (api_modify's form)."""
    return " ".join(part for part in re.split(r"[/ ]+", menu) if part)


def _yaml_value(value: str) -> str | bool:
    """``"true"``/``"false"`` as YAML booleans, as a playbook's author writes them (``disabled: false``).

    librouteros reads RouterOS's booleans as Python booleans, so api_modify compares a string
    ``"false"`` with ``False``, finds them different and sets the field again on every run.
    """
    return {"true": True, "false": False}.get(value, value)


def task_for(menu: str, entries: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """One ``api_modify`` task converging ``menu`` to exactly ``entries``."""
    path = api_path(menu)
    args: dict[str, Any] = {"path": path, "data": [{k: _yaml_value(v) for k, v in e.items()} for e in entries]}
    if path in FIXED:
        # Fixed entries cannot be removed or reordered: set the named ones, leave the others alone.
        args["handle_absent_entries"] = "ignore"
    else:
        args["handle_absent_entries"] = "remove"
        if path in ORDERED:
            args["ensure_order"] = True
    args["handle_entries_content"] = "remove_as_much_as_possible"
    return {"name": f"converge /{path.replace(' ', '/')}", "community.routeros.api_modify": args}


def playbook(host: str, port: int, menus: Mapping[str, Sequence[Mapping[str, str]]], timeout: int) -> list[Any]:
    """The playbook (as data; JSON is valid YAML): connection settings once, then one task per menu."""
    return [
        {
            "name": "converge RouterOS with community.routeros.api_modify",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "module_defaults": {
                "group/community.routeros.api": {
                    "hostname": host,
                    "port": port,
                    "username": "{{ routeros_user }}",
                    "password": "{{ routeros_password }}",
                    "tls": False,
                    "timeout": timeout,
                }
            },
            "tasks": [task_for(menu, entries) for menu, entries in menus.items()],
        }
    ]


_RECAP = re.compile(r"^\S+\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def _tail(text: str, password: str, lines: int = 40) -> str:
    if password:
        text = text.replace(password, "********")
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run_ansible(
    host: str,
    port: int,
    user: str,
    password: str,
    menus: Mapping[str, Sequence[Mapping[str, str]]],
    *,
    workdir: str | os.PathLike[str],
    timeout: float = 300.0,
    connect_timeout: int = 10,
    venv: Path = BENCH_VENV,
    prefix: Sequence[str] = (),
) -> AnsibleResult:
    """Converge ``menus`` (``{"/ip/firewall/filter": [{...}, ...], ...}``, applied in dict order) with Ansible.

    Each menu becomes one ``community.routeros.api_modify`` task (a fresh API session each) with
    ``handle_absent_entries: remove`` (``ignore`` for fixed menus such as ``/ip/service``),
    ``handle_entries_content: remove_as_much_as_possible`` and ``ensure_order`` for the ordered
    firewall menus.  ``timeout`` bounds the whole run (the process is killed after it), and
    ``connect_timeout`` each API connection.  ``prefix`` is put before the ``ansible-playbook``
    command line, to run it elsewhere (``nsenter --net=...``, ``zengarden lab exec management --``).
    """
    playbook_bin = venv / "bin" / "ansible-playbook"
    if not playbook_bin.exists():
        raise FileNotFoundError(f"{playbook_bin} is missing: run scripts/bench-setup")
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    book = work / "playbook.yml"
    book.write_text(json.dumps(playbook(host, port, menus, connect_timeout), indent=1))
    secret = work / "credentials.json"
    secret.unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="zg-ansible-"))
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(work),
        "LANG": "C.UTF-8",
        # Ansible puts its temp path into shell commands unquoted: keep it free of odd characters.
        "ANSIBLE_LOCAL_TEMP": str(scratch),
        "ANSIBLE_REMOTE_TEMP": str(scratch),
        "ANSIBLE_PYTHON_INTERPRETER": str(venv / "bin" / "python"),  # the one with librouteros
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PYTHONWARNINGS": "ignore",
    }
    argv = [*prefix, str(playbook_bin), "-i", "localhost,", "-e", f"@{secret}", str(book)]
    start = time.monotonic()
    try:
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"routeros_user": user, "routeros_password": password}, fh)
        start = time.monotonic()
        proc = subprocess.run(argv, env=env, cwd=work, capture_output=True, text=True, timeout=timeout, check=False)
        out, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        raw = (exc.stdout or b"") + (exc.stderr or b"")
        out = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        out += f"\n(killed after {timeout:g} s)"
        code = None
    finally:
        seconds = time.monotonic() - start
        secret.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
    recap = _RECAP.search(out)
    changed_tasks = int(recap.group(2)) if recap else 0
    ok = code == 0 and recap is not None and recap.group(3) == "0" and recap.group(4) == "0"
    return AnsibleResult(seconds, ok, changed_tasks > 0, _tail(out, password), changed_tasks, code)


# A logger's prefix (time, name) may stand before the line; never a line break (one match per line).
_COMMAND = re.compile(r"^(?:[^\n]*?[ \t])?api(?:-ssl)? \S+ \S+: (/\S*)", re.M)


def capture_emulator_log() -> tuple[io.StringIO, Any]:
    """The emulator's command log (one INFO line per API command) into a buffer; returns it and its release."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("pytest_zengarden.lab.routeros")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.propagate = False
    return buf, lambda: log.removeHandler(handler)


def count_writes(log_text: str) -> dict[str, int]:
    """Write commands in the emulator's API log (one INFO line per command), by verb, plus ``total``.

    A line reads ``api 127.0.0.1:40000 admin: /ip/firewall/filter/add action chain``; logins,
    ``/quit`` and prints are not writes.
    """
    counts = dict.fromkeys(WRITE_VERBS, 0)
    for match in _COMMAND.finditer(log_text):
        verb = match.group(1).rsplit("/", 1)[-1]
        if verb in counts:
            counts[verb] += 1
    counts["total"] = sum(counts.values())
    return counts


# ------------------------------------------------------------------------------------ measurement


def in_private_netns() -> bool:
    """True when this network namespace has no interface but ``lo`` (a fresh ``unshare -n``)."""
    try:
        lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    except OSError:
        return False
    return [line.split(":", 1)[0].strip() for line in lines] == ["lo"]


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, timeout=15, capture_output=True)


def bare_router(site: Any) -> tuple[dict[str, list[dict[str, str]]], tuple[str, ...]]:
    """The lab router's factory-like seed (with its WireGuard interface) and its physical ports."""
    sys.path.insert(0, str(REPO / "src"))
    from pytest_zengarden.lab.router_seed import router_seed
    from pytest_zengarden.lab.topology import plan_lab

    plan = plan_lab(site)
    # Older trees choose factory state with bare=True; newer ones always seed it.
    bare: dict[str, Any] = {"bare": True} if "bare" in inspect.signature(router_seed).parameters else {}
    seed = router_seed(site, plan, **bare)
    if not seed.get("/interface/wireguard"):
        # The lab makes the key files first; here the emulator generates the key pair itself.
        seed["/interface/wireguard"] = [
            {"name": end.iface, "listen-port": str(end.listen_port)}
            for end in plan.wireguard
            if end.ns == plan.router_ns and end.listen_port is not None
        ]
    ports = tuple(r["name"] for r in seed.get("/interface", []) if r.get("type") == "ether")
    return seed, ports


def session_answers(api: Any) -> bool:
    try:
        return bool(list(api.path("system", "identity")))
    except Exception:  # any failure means the session is gone
        return False


def with_management_client(args: argparse.Namespace, body: Any) -> int:
    """Wire this (private) namespace as the router's and a second one as a management client; run ``body``.

    ``body(args, host, port, client_ns)``: the router answers on ``host:port`` here; ``client_ns`` is
    the path of the client's network namespace (behind a veth whose router end is the management port,
    so the converged firewall and /ip/service judge the client as on the lab's management network).
    """
    sys.path.insert(0, str(REPO / "src"))
    from pytest_zengarden.site.loader import load_site

    site = load_site(args.site)
    host, port = str(site.router.address), site.router.api.port
    mgmt_seg = site.segments["management"]
    assert mgmt_seg.cidr is not None and mgmt_seg.router_interface
    client_ip = next(str(h) for h in mgmt_seg.cidr.hosts() if str(h) != host)
    _sh("ip", "link", "set", "lo", "up")
    _sh("ip", "link", "add", mgmt_seg.router_interface, "type", "veth", "peer", "name", "mgmt0")
    _sh("ip", "addr", "add", f"{host}/{mgmt_seg.cidr.prefixlen}", "dev", mgmt_seg.router_interface)
    _sh("ip", "link", "set", mgmt_seg.router_interface, "up")
    holder = subprocess.Popen(
        ["unshare", "--net", "--", "sh", "-c", "echo ready; exec cat >/dev/null"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        client_ns = f"/proc/{holder.pid}/ns/net"
        _sh("ip", "link", "set", "mgmt0", "netns", str(holder.pid))
        enter = ["nsenter", f"--net={client_ns}"]
        _sh(*enter, "ip", "link", "set", "lo", "up")
        _sh(*enter, "ip", "addr", "add", f"{client_ip}/{mgmt_seg.cidr.prefixlen}", "dev", "mgmt0")
        _sh(*enter, "ip", "link", "set", "mgmt0", "up")
        result: int = body(args, host, port, client_ns)
        return result
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(10)


def measure(args: argparse.Namespace) -> int:
    import librouteros

    from pytest_zengarden.site.loader import load_site

    def body(args: argparse.Namespace, host: str, port: int, client_ns: str) -> int:
        return _measure(args, load_site(args.site), host, port, client_ns, librouteros)

    return with_management_client(args, body)


def _in_netns(path: str) -> Any:
    """A context manager: this thread in network namespace ``path`` (sockets made there stay there)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    @contextlib.contextmanager
    def switch() -> Any:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(path, os.O_RDONLY)
        try:
            if libc.setns(target, 0x40000000) != 0:  # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), "setns")
            try:
                yield
            finally:
                if libc.setns(home, 0x40000000) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(home)
            os.close(target)

    return switch()


def _measure(args: argparse.Namespace, site: Any, host: str, port: int, client_ns: str, librouteros: Any) -> int:
    from pytest_zengarden.desired.router import desired_router
    from pytest_zengarden.lab.router_daemon import Applier, seed_store
    from pytest_zengarden.lab.routeros import ConfigStore, EmulatorThread, Listener, StoreOptions

    def connect() -> Any:
        with _in_netns(client_ns):
            return librouteros.connect(host=host, username=user, password=password, port=port, timeout=10)

    desired = desired_router(site)
    menus = {m: desired[m] for m in MENUS}
    seed, ports = bare_router(site)
    user, password = "zengarden", secrets.token_urlsafe(24)
    work = Path(tempfile.mkdtemp(prefix="zg-ansible-bench-"))
    log_buf, release_log = capture_emulator_log()
    store = ConfigStore(None, options=StoreOptions(interfaces=ports), users={user: password})
    seed_store(store, seed)
    if args.apply and shutil.which("nft"):
        store.on_change = Applier(work, None)  # nftables + hosts, as the lab router applies every change
    print(
        f"site {args.site.name}: {sum(len(v) for v in menus.values())} desired entries in {len(menus)} menus "
        + ", ".join(f"{m} {len(v)}" for m, v in menus.items())
    )
    print(f"apply on every change: {'nftables' if store.on_change else 'off'}; ansible from {BENCH_VENV.name}")
    status = 0
    try:
        with EmulatorThread(store, [Listener("api", host, port)], apply_at_start=store.on_change is not None):
            for label in ("converge from bare", "again (no-op)", "after drift"):
                if label == "after drift":
                    print(f"drift: {drift(store)}")
                mgmt_api = connect()
                log_buf.seek(0)
                log_buf.truncate()
                result = run_ansible(
                    host,
                    port,
                    user,
                    password,
                    menus,
                    workdir=work / re.sub(r"\W+", "-", label).strip("-"),
                    prefix=["nsenter", f"--net={client_ns}"],
                )
                writes = count_writes(log_buf.getvalue())
                survived = session_answers(mgmt_api)
                with contextlib.suppress(Exception):
                    mgmt_api.close()
                try:
                    fresh = connect()
                    new_ok = session_answers(fresh)
                    fresh.close()
                except Exception:
                    new_ok = False
                have = {m: [_strip(r) for r in store.print(m)] for m in MENUS}
                print(
                    f"{label}: {result.seconds:.2f} s, ok={result.ok}, changed={result.changed} "
                    f"({result.changed_tasks}/{len(menus)} tasks), writes {writes['total']} "
                    f"({', '.join(f'{v} {n}' for v, n in writes.items() if v != 'total' and n)}), "
                    f"management session survived={survived}, new session={new_ok}"
                )
                in_order = _same_rules(have["/ip/firewall/filter"], menus["/ip/firewall/filter"])
                print(
                    "  after: "
                    + ", ".join(f"{m} {len(v)}" for m, v in have.items())
                    + f"; filter as desired, in order: {in_order}"
                )
                if args.log is not None:
                    with args.log.open("a", encoding="utf-8") as fh:
                        fh.write(f"=== {label}\n{log_buf.getvalue()}=== ansible\n{result.output_tail}\n")
                if not result.ok:
                    status = 1
                    print("  ansible output (tail):\n    " + result.output_tail.replace("\n", "\n    "))
    finally:
        release_log()
        shutil.rmtree(work, ignore_errors=True)
    return status


def _strip(rec: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in rec.items() if not k.startswith(".")}


def _same_rules(have: Sequence[Mapping[str, str]], want: Sequence[Mapping[str, str]]) -> bool:
    if len(have) != len(want):
        return False
    return all(all(h.get(k) == v for k, v in w.items()) for h, w in zip(have, want, strict=True))


def drift(store: Any) -> str:
    """Hand-made drift, written to the store directly (not through the API, so not counted)."""
    rules = store.print("/ip/firewall/filter")
    store.move("/ip/firewall/filter", [rules[-1][".id"]], rules[0][".id"])  # last rule to the top
    store.set("/ip/firewall/filter", [rules[5][".id"]], {"comment": "edited by hand"})
    dns = store.print("/ip/dns/static")
    store.remove("/ip/dns/static", [dns[0][".id"]])
    store.add("/ip/dns/static", {"name": "stray.example", "address": "192.0.2.1"})
    return "filter: last rule moved to the top, one comment edited; dns static: one removed, one stray added"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Ansible api_modify on the RouterOS emulator: converge, then no-op.")
    p.add_argument("--site", type=Path, default=SITE)
    p.add_argument("--no-apply", dest="apply", action="store_false", help="no nftables apply per change")
    p.add_argument("--log", type=Path, help="append the emulator's API log and ansible's output tail here")
    p.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return in_own_netns(args, argv, __file__, measure)


def in_own_netns(args: argparse.Namespace, argv: Sequence[str] | None, script: str, body: Any) -> int:
    """Run ``body(args)`` in a fresh private network namespace: re-executes ``script`` there (needs root).

    Never configures an address in the machine's own namespace; refuses to run in one with interfaces.
    """
    if args.in_netns:
        if not in_private_netns():
            print("not in a private network namespace (interfaces other than lo): refusing", file=sys.stderr)
            return 2
        result: int = body(args)
        return result
    if os.geteuid() != 0:
        print("needs root (a private network namespace)", file=sys.stderr)
        return 2
    cmd = ["unshare", "--net", "--", sys.executable, str(Path(script).resolve()), "--in-netns", *(argv or sys.argv[1:])]
    return subprocess.run(cmd, check=False, timeout=900).returncode


if __name__ == "__main__":
    sys.exit(main())
