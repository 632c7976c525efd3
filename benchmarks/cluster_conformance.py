"""Cluster + hosts conformance on the lab: run time of every cluster and blade check, with all servers up
and with one of three API servers stopped (the HA cluster reader's case).

Needs root; brings up the default lab (idempotent) and runs pytest from its management namespace::

    flock /tmp/zg/lab.lock .venv/bin/python benchmarks/cluster_conformance.py [--runs 3]

Anchor (issue 11): before the HA reader, one stopped API server made every cluster check wait out its
timeout against it -- about 60 s for six checks, each reported as failed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("ZG_LAB_STATE") or "/var/lib/zengarden/lab")
ANCHOR_ONE_DOWN_S = 60.0


def in_mgmt(*argv: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv/bin/zengarden"), "lab", "exec", "management", "--", *argv],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def run_suites(xml: Path) -> tuple[float, dict[str, int]]:
    start = time.monotonic()
    proc = in_mgmt(str(REPO / ".venv/bin/python"), "-m", "pytest", "-p", "no:cacheprovider", "-q", "suites",
                   "-m", "cluster or hosts", "--zg-target", "lab", f"--junitxml={xml}")  # fmt: skip
    took = time.monotonic() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"pytest failed to run:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    counts = {"passed": 0, "failed": 0, "error": 0}
    for case in ET.parse(xml).getroot().iter("testcase"):
        kind = "error" if case.find("error") is not None else "failed" if case.find("failure") is not None else "passed"
        counts[kind] += 1
    return took, counts


def systemctl(blade_address: str, verb: str) -> None:
    user = json.loads((STATE / "lab.json").read_text())["inventory"]["blades"]["user"]
    sudo = "" if user == "root" else "sudo "
    ssh = ["ssh", "-i", str(STATE / "secrets" / "ssh_key"), "-o", f"UserKnownHostsFile={STATE / 'known_hosts'}",
           "-o", "BatchMode=yes", f"{user}@{blade_address}"]  # fmt: skip
    proc = in_mgmt(*ssh, f"{sudo}systemctl {verb} k3s", timeout=120)
    if proc.returncode != 0:
        sys.exit(f"systemctl {verb} k3s on {blade_address} failed: {proc.stderr[-500:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    up = subprocess.run([str(REPO / ".venv/bin/zengarden"), "lab", "up"], cwd=REPO, capture_output=True, text=True,
                        timeout=900)  # fmt: skip
    if up.returncode != 0:
        sys.exit(f"lab up failed: {up.stderr[-2000:]}")
    with tempfile.TemporaryDirectory() as tmp:
        times, counts = [], {}
        for i in range(a.runs):
            took, counts = run_suites(Path(tmp) / f"all-{i}.xml")
            times.append(took)
        print(f"cluster+hosts conformance, all servers up ({sum(counts.values())} checks: {counts}), {a.runs} runs:")
        print(f"  min {min(times):.1f} s   median {statistics.median(times):.1f} s   max {max(times):.1f} s")
        from pytest_zengarden.site.loader import load_site

        site = load_site(REPO / "fixtures" / "sites" / "zengarden.yaml")
        first = str(site.blades[site.cluster.control_plane[0]].address)
        systemctl(first, "stop")
        try:
            took, counts = run_suites(Path(tmp) / "one-down.xml")
        finally:
            systemctl(first, "start")
        anchor = f"[anchor before the HA reader: ~{ANCHOR_ONE_DOWN_S:.0f} s for six checks, all failing]"
        print(f"one of three API servers stopped (the kubeconfig's): {took:.1f} s for {sum(counts.values())} checks "
              f"{counts}   {anchor}")  # fmt: skip


if __name__ == "__main__":
    main()
