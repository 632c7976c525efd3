"""Lab benchmarks: up/down time, memory, API round trip (print of 1,000 rules), recompile+apply of 1,000 rules.

The first build of the control-plane binaries is measured by `benchmarks/run --first-build` (a cold
cache in a temporary directory; it takes minutes).

Needs root (network namespaces).  Traffic stays on loopback and inside namespaces this script makes.
Run with `benchmarks/run --lab`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from pytest_zengarden.lab.lifecycle import Lab  # noqa: E402
from pytest_zengarden.lab.nft_compile import compile_ruleset  # noqa: E402
from pytest_zengarden.lab.routeros import ConfigStore, EmulatorThread, Listener  # noqa: E402
from pytest_zengarden.site.loader import load_site  # noqa: E402

SITE = REPO / "fixtures" / "sites" / "zengarden.yaml"
N_RULES = 1000


def lab_memory_mib(namespaces: list[str]) -> float:
    """Resident memory of every process running in the lab's network namespaces (MiB)."""
    import os

    ids = set()
    for ns in namespaces:
        st = os.stat(f"/run/netns/{ns}")
        ids.add((st.st_dev, st.st_ino))
    total_kib = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            st = os.stat(f"/proc/{pid}/ns/net")
            if (st.st_dev, st.st_ino) not in ids:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def lab_up_down(runs: int = 3) -> tuple[float, float, float]:
    site = load_site(SITE)
    ups, downs, mem = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(site, SITE, Path(tmp) / "state", progress=lambda msg: None)
        for _ in range(runs):
            t0 = time.perf_counter()
            lab.up()
            t1 = time.perf_counter()
            time.sleep(5)  # let the control plane settle before measuring memory
            state = lab.state()
            assert state is not None
            mem.append(lab_memory_mib(state.namespaces))
            t2 = time.perf_counter()
            lab.down()
            t3 = time.perf_counter()
            ups.append(t1 - t0)
            downs.append(t3 - t2)
    return statistics.median(ups), statistics.median(downs), statistics.median(mem)


def big_store() -> ConfigStore:
    store = ConfigStore()
    for i in range(N_RULES):
        store.add("/ip/firewall/filter", {
            "chain": "forward", "action": "accept" if i % 3 else "drop", "protocol": "tcp",
            "src-address": f"10.{i // 250}.{i % 250}.0/24", "dst-port": f"{1000 + i}", "comment": f"bench {i}",
        })  # fmt: skip
    return store


def api_print_latency(store: ConfigStore, runs: int = 7) -> float:
    import librouteros

    with EmulatorThread(store, [Listener("api", "127.0.0.1", 0)]) as emu:
        host, port = emu.address("api")
        store.ensure_user("bench", "bench-password")
        api = librouteros.connect(host, "bench", "bench-password", port=port, timeout=30)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            rows = list(api.path("/ip/firewall/filter"))
            times.append(time.perf_counter() - t0)
            assert len(rows) == N_RULES
        api.close()
    return statistics.median(times)


def recompile_apply(store: ConfigStore, runs: int = 5) -> tuple[float, float]:
    ns = "zgbench-nft"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        compile_times, apply_times = [], []
        config = store.snapshot()
        for _ in range(runs):
            t0 = time.perf_counter()
            script = compile_ruleset(config)
            t1 = time.perf_counter()
            subprocess.run(
                ["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True, check=True, timeout=60
            )
            t2 = time.perf_counter()
            compile_times.append(t1 - t0)
            apply_times.append(t2 - t1)
        return statistics.median(compile_times), statistics.median(apply_times)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def main() -> None:
    up, down, mem = lab_up_down()
    print(f"lab up, warm cache (whole twin):        {up * 1000:8.0f} ms   (median of 3)")
    print(f"lab down:                               {down * 1000:8.0f} ms")
    print(f"lab memory (RSS of its processes):      {mem:8.0f} MiB")
    store = big_store()
    print(f"API round trip, print of {N_RULES} rules:    {api_print_latency(store) * 1000:8.1f} ms")
    comp, apply = recompile_apply(store)
    print(f"compile {N_RULES} rules to nftables:          {comp * 1000:8.1f} ms")
    print(f"apply {N_RULES} rules (nft -f, atomic):       {apply * 1000:8.1f} ms")
    print(f"recompile + apply {N_RULES} rules:            {(comp + apply) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
