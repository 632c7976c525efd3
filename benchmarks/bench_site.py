"""Benchmarks for the pure core: site loading, flow-matrix expansion, .rsc parsing, an offline run.

Run with `benchmarks/run`; prints one figure per line (median of several runs).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from pytest_zengarden.analysis.matrix import expand  # noqa: E402
from pytest_zengarden.offline.rsc import parse_rsc  # noqa: E402
from pytest_zengarden.site.loader import load_site  # noqa: E402

SITE = REPO / "fixtures" / "sites" / "zengarden.yaml"


def median_ms(fn: Callable[[], object], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def big_rsc(rules: int) -> str:
    lines = ["/ip firewall filter"]
    for i in range(rules):
        lines.append(
            f"add action=accept chain=forward src-address=10.{i // 250}.{i % 250}.0/24 protocol=tcp "
            f'dst-port={1000 + i} comment="rule \\E2\\86\\92 {i}"'
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    site = load_site(SITE)
    print(f"site load (zengarden.yaml):            {median_ms(lambda: load_site(SITE)):8.2f} ms")
    segments = list(site.segments)
    matrix = expand(site.firewall, segments)
    expand_ms = median_ms(lambda: expand(site.firewall, segments))
    print(f"flow matrix expansion ({len(matrix.rows)} rows):   {expand_ms:8.2f} ms")
    text = big_rsc(1000)
    print(f"parse .rsc with 1,000 filter rules:    {median_ms(lambda: parse_rsc(text), runs=5):8.2f} ms")
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "suites",
            "features",
            "--zg-target",
            "offline=fixtures/recorded",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wall = time.perf_counter() - start
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]
    print(f"offline conformance run (wall):        {wall * 1000:8.0f} ms   ({summary})")


if __name__ == "__main__":
    main()
