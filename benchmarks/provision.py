"""Provisioning figures: zengarden's router provisioner beside Ansible's api_modify, then the whole lab site.

Router, side by side (needs root; a private network namespace of its own, as ``ansible_routeros.py``):
the same RouterOS emulator (nftables applied on every change, as in the lab), the same six menus from
the site, the same factory start; for each tool: converge from bare, the same run again (no-op), and
after hand-made drift -- wall time, write calls (from the router's own command log), and whether a
management session opened before the run still answers::

    scripts/bench-setup && flock /tmp/zg/lab.lock .venv/bin/python benchmarks/provision.py

Whole site (``--lab``): a bare lab (``zengarden lab up --bare``), then ``python -m
pytest_zengarden.provision`` from the management namespace: router, blades and cluster from bare, then
a run that changes nothing (wall time, reads, writes per target).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ansible_routeros as ar

REPO = ar.REPO
# What the issue measured Ansible at on this machine (converge the bare lab router's six menus; no-op).
ANCHOR = {"converge from bare": 5.4, "again (no-op)": 4.3}


def _ours(
    host: str, port: int, user: str, password: str, menus: dict[str, Any], client_ns: str, ownership: Any
) -> dict[str, Any]:
    from pytest_zengarden.clients.router import RouterApiClient
    from pytest_zengarden.provision.journal import Journal
    from pytest_zengarden.provision.router_apply import CountingClient, apply_router, read_menus
    from pytest_zengarden.provision.router_plan import plan_router

    def connect() -> RouterApiClient:
        with ar._in_netns(client_ns):
            return RouterApiClient(host, user, password, port=port, timeout=10)

    start = time.monotonic()
    client = CountingClient(connect())
    try:
        plan = plan_router(menus, read_menus(client, menus), owned=ownership.entries)
        out = apply_router(client, plan, connect=connect, journal=Journal(None), ownership=ownership)
    finally:
        client.close()
    return {
        "seconds": time.monotonic() - start,
        "ok": out.error is None,
        "changes": len(plan.changes),
        "reads": client.reads,
        "error": out.error,
    }


def router_side_by_side(args: argparse.Namespace, host: str, port: int, client_ns: str) -> int:
    import librouteros

    from pytest_zengarden.desired.router import desired_router
    from pytest_zengarden.lab.router_daemon import Applier, seed_store
    from pytest_zengarden.lab.routeros import ConfigStore, EmulatorThread, Listener, StoreOptions
    from pytest_zengarden.provision.ownership import Ownership
    from pytest_zengarden.site.loader import load_site

    site = load_site(args.site)
    desired = desired_router(site)
    menus = {m: desired[m] for m in ar.MENUS}
    seed, ports = ar.bare_router(site)
    user, password = "zengarden", secrets.token_urlsafe(24)
    log_buf, release_log = ar.capture_emulator_log()
    entries = sum(len(v) for v in menus.values())
    print(f"router: {entries} entries in {len(menus)} menus; nftables applied on every change: {args.apply}")
    print(f"{'scenario':<22} {'tool':<10} {'seconds':>8} {'writes':>7} {'anchor':>8}  management session")
    rows = []
    for tool in ("ansible", "zengarden"):
        work = Path(tempfile.mkdtemp(prefix=f"zg-bench-{tool}-"))
        # What the provisioner created, kept between runs as its ownership file keeps it.
        ownership = Ownership(None, "bench")
        store = ConfigStore(None, options=StoreOptions(interfaces=ports), users={user: password})
        seed_store(store, seed)
        if args.apply and shutil.which("nft"):
            store.on_change = Applier(work, None)
        try:
            with EmulatorThread(store, [Listener("api", host, port)], apply_at_start=store.on_change is not None):
                for label in ("converge from bare", "again (no-op)", "after drift"):
                    if label == "after drift":
                        ar.drift(store)
                    with ar._in_netns(client_ns):
                        watcher = librouteros.connect(host=host, username=user, password=password, port=port)
                    log_buf.seek(0)
                    log_buf.truncate()
                    if tool == "ansible":
                        res = ar.run_ansible(
                            host, port, user, password, menus, workdir=work / re.sub(r"\W+", "-", label),
                            prefix=["nsenter", f"--net={client_ns}"],
                        )  # fmt: skip
                        seconds, ok = res.seconds, res.ok
                    else:
                        got = _ours(host, port, user, password, menus, client_ns, ownership)
                        seconds, ok = got["seconds"], got["ok"]
                        if not ok:
                            print(f"  zengarden error: {got['error']}")
                    writes = ar.count_writes(log_buf.getvalue())["total"]
                    survived = ar.session_answers(watcher)
                    with contextlib.suppress(Exception):
                        watcher.close()
                    in_order = ar._same_rules(
                        [ar._strip(r) for r in store.print("/ip/firewall/filter")], menus["/ip/firewall/filter"]
                    )
                    anchor = f"{ANCHOR[label]:.1f}" if tool == "ansible" and label in ANCHOR else ""
                    note = "survived" if survived else "LOST"
                    print(
                        f"{label:<22} {tool:<10} {seconds:>8.3f} {writes:>7} {anchor:>8}  {note}"
                        f"{'' if ok else '  (run failed)'}{'' if in_order else '  (filter not as desired)'}"
                    )
                    rows.append((label, tool, seconds, writes))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    release_log()
    by = {(label, tool): (s, w) for label, tool, s, w in rows}
    for label in ("converge from bare", "again (no-op)", "after drift"):
        (a, aw), (z, zw) = by[(label, "ansible")], by[(label, "zengarden")]
        print(f"{label}: zengarden {a / z:.0f}x faster than ansible ({z:.3f} s vs {a:.2f} s), writes {zw} vs {aw}")
    return 0


def whole_site(args: argparse.Namespace) -> int:
    zg = str(REPO / ".venv" / "bin" / "zengarden")
    subprocess.run([zg, "lab", "up", "--bare"], check=True, timeout=600)
    data = json.loads((Path(os.environ.get("ZG_LAB_STATE", "/var/lib/zengarden/lab")) / "lab.json").read_text())
    argv = ["ip", "netns", "exec", data["management_netns"], sys.executable, "-m", "pytest_zengarden.provision",
            "--site", str(args.site), "--target", "lab"]  # fmt: skip
    for label in ("whole site from bare", "whole site again (no-op)"):
        start = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=REPO)
        seconds = time.monotonic() - start
        summary = [line for line in proc.stderr.splitlines() if re.match(r"^\S+: ", line) and "reads" in line]
        print(f"{label}: {seconds:.2f} s wall (goal: from bare under 10 s), exit {proc.returncode}")
        for line in summary:
            print(f"  {line}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--site", type=Path, default=ar.SITE)
    p.add_argument("--no-apply", dest="apply", action="store_false", help="no nftables apply per change")
    p.add_argument("--lab", action="store_true", help="the whole site on a bare lab instead")
    p.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    if args.lab:
        return whole_site(args)
    return ar.in_own_netns(args, argv, __file__, lambda a: ar.with_management_client(a, router_side_by_side))


if __name__ == "__main__":
    sys.exit(main())
