"""Firewall benchmarks: exhaustive static analysis, and active probing concurrent vs one at a time.

Static (pure, no root):
* the design's rule set (the site's converged router configuration): every routed row of the flow
  matrix, every router-access pair and the inbound checks, judged exhaustively;
* 1,000 rules over 8 segments: every ordered segment pair x {tcp, udp, icmp} evaluated over all
  addresses of both segments and the whole port space.

Active (``--active``, needs root and a running lab; ``benchmarks/run --lab`` runs it inside the lab):
the full probe plan of the flow matrix sent concurrently (as the suite does), then the same flows one
connection at a time, with the same per-probe timeout; the ratio is the speed-up.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from pytest_zengarden.analysis.firewall_eval import Box, Context, Firewall, parse_addresses  # noqa: E402
from pytest_zengarden.analysis.flow_space import routed  # noqa: E402
from pytest_zengarden.analysis.intervals import Ints  # noqa: E402
from pytest_zengarden.checks import firewall as fw_checks  # noqa: E402
from pytest_zengarden.checks.site import flow_matrix  # noqa: E402
from pytest_zengarden.desired.router import desired_router  # noqa: E402
from pytest_zengarden.facts.router import RouterConfig  # noqa: E402
from pytest_zengarden.site.loader import load_site  # noqa: E402

SITE = REPO / "fixtures" / "sites" / "zengarden.yaml"
N_RULES = 1000
N_SEGMENTS = 8


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``fn`` in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def design_static() -> tuple[float, int]:
    site = load_site(SITE)
    config = RouterConfig.from_records(desired_router(site), "desired")
    rows = [r for r in flow_matrix(site).rows if routed(site, r.src, r.dst)]

    def run() -> int:
        fw = Firewall(config)
        findings = [fw_checks.flow(site, fw, r) for r in rows]
        findings += [fw_checks.router_access(site, fw, config, a, s) for a, s in fw_checks.accesses(site)]
        findings += [fw_checks.no_inbound(site, fw, seg) for seg, _ in fw_checks.protected_segments(site)]
        findings += fw_checks.wan_inbound(site, fw, config)
        assert all(f.ok for f in findings), [str(f) for f in findings if not f.ok]
        return len(findings)

    return timed(run), run()


def synthetic_config(seed: int = 7) -> tuple[RouterConfig, list[tuple[str, str]]]:
    """1,000 forward rules over 8 segments (/24s on their own interfaces), in the shapes real rule sets use."""
    rnd = random.Random(seed)
    segs = [(f"seg{i}", f"10.{i}.0.0/24") for i in range(N_SEGMENTS)]
    rules: list[dict[str, str]] = [
        {"chain": "forward", "action": "accept", "connection-state": "established,related"},
        {"chain": "forward", "action": "drop", "connection-state": "invalid"},
    ]
    for i in range(N_RULES - 3):
        (_, src), (_, dst) = rnd.sample(segs, 2)
        rule = {"chain": "forward", "action": rnd.choice(["accept", "accept", "drop", "reject"])}
        shape = rnd.random()
        if shape < 0.5:
            rule |= {"src-address": src, "dst-address": dst}
        elif shape < 0.7:
            host = src.replace("0.0/24", f"0.{rnd.randint(1, 254)}")
            rule |= {"src-address": host, "dst-address": dst}
        else:
            rule |= {
                "in-interface": f"if{rnd.randrange(N_SEGMENTS)}",
                "out-interface": f"if{rnd.randrange(N_SEGMENTS)}",
            }
        if rnd.random() < 0.8:
            rule["protocol"] = rnd.choice(["tcp", "udp"])
            lo = rnd.randint(1, 60000)
            rule["dst-port"] = rnd.choice([str(lo), f"{lo}-{lo + rnd.randint(1, 5000)}", f"{lo},{lo + 7},{lo + 100}"])
        rule["comment"] = f"synthetic {i}"
        rules.append(rule)
    rules.append({"chain": "forward", "action": "drop", "comment": "default"})
    return RouterConfig.from_records({"/ip/firewall/filter": rules}, "synthetic"), segs


def synthetic_static() -> tuple[float, int]:
    config, segs = synthetic_config()
    queries = []
    for i, (_, a) in enumerate(segs):
        for j, (_, b) in enumerate(segs):
            if i == j:
                continue
            for proto in (6, 17, 1):
                ctx = Context("forward", f"if{i}", f"if{j}", "new")
                queries.append((ctx, Box(parse_addresses(a), parse_addresses(b), Ints.point(proto))))
    regions = 0

    def run() -> None:
        nonlocal regions
        fw = Firewall(config)
        regions = sum(len(fw.evaluate(ctx, box)) for ctx, box in queries)

    return timed(run, repeat=3), regions


def active() -> None:
    from pytest_zengarden.probes.prober import observe
    from pytest_zengarden.targets.lab import LabTarget

    site = load_site(SITE)
    rows = flow_matrix(site).rows
    target = LabTarget(site)
    prober = target.prober()
    prober.timeout_s = 0.25  # the lab answers in milliseconds; silence this long is "filtered"
    start = time.perf_counter()
    observations = observe(site, rows, prober)
    concurrent = time.perf_counter() - start
    sent = [o for o in observations if o.result != "skipped"]
    print(f"active probing, full matrix, concurrent: {len(sent)} probes in {concurrent:.2f} s")
    prober.concurrency = 1
    original_run = prober.run

    def sequential(batches):  # type: ignore[no-untyped-def]
        out = {}
        for segment, probes in batches.items():  # one vantage after the other, one probe at a time
            out |= original_run({segment: probes})
        return out

    prober.run = sequential  # type: ignore[method-assign]
    start = time.perf_counter()
    again = observe(site, rows, prober)
    one_by_one = time.perf_counter() - start
    same = sum(a.result == b.result for a, b in zip(observations, again, strict=True))
    print(f"active probing, same flows, one connection at a time: {one_by_one:.2f} s")
    print(
        f"  speed-up concurrent vs sequential: {one_by_one / concurrent:.1f}x ({same}/{len(again)} results identical)"
    )
    target.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--active", action="store_true", help="only active probing (needs a running lab)")
    args = parser.parse_args()
    if args.active:
        active()
        return
    t, n = design_static()
    print(f"firewall static analysis, design rule set: {n} exhaustive findings in {t * 1000:.1f} ms")
    t, regions = synthetic_static()
    pairs = N_SEGMENTS * (N_SEGMENTS - 1)
    print(
        f"firewall static analysis, {N_RULES} rules x {N_SEGMENTS} segments: {pairs} pairs x 3 protocols "
        f"({regions} regions) in {t:.2f} s"
    )


if __name__ == "__main__":
    main()
