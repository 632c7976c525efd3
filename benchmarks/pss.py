"""Pod Security Standards evaluator: throughput and memory on 10,000 generated pods.

The goal (issue 11): at least 20,000 pods/s and under 200 MB for 10,000 pods, where kubescape needs
gigabytes for a thousand.  Measured three ways:

* the evaluator alone (``analysis.pod_security.evaluate``) over pods already in memory, each level, best
  of three runs; tracemalloc's peak of what the evaluation itself allocates;
* the process's peak RSS holding the 10,000 pods and their violations (``resource.getrusage``);
* end to end: ``zengarden pss FILE --level restricted`` on the same pods written as one multi-document
  YAML file, in a fresh process (wall time, its peak RSS).

Pods are generated with a fixed seed: 1-3 containers, an init container for some, securityContexts from
hardened to careless, volumes, ports, annotations (the output says how many violate each level).
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from pytest_zengarden.analysis.pod_security import evaluate  # noqa: E402

GOAL_RATE = 20_000  # pods/s
GOAL_MB = 200


def _container(rng: random.Random, name: str) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": f"registry.example/{name}:1.{rng.randint(0, 9)}"}
    roll = rng.random()
    if roll < 0.6:  # hardened
        c["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], **({"add": ["NET_BIND_SERVICE"]} if rng.random() < 0.2 else {})},
        }
    elif roll < 0.8:  # careless
        c["securityContext"] = {"capabilities": {"add": [rng.choice(["NET_RAW", "SYS_ADMIN", "CHOWN"])]}}
        if rng.random() < 0.3:
            c["securityContext"]["privileged"] = True
    if rng.random() < 0.5:
        c["ports"] = [{"containerPort": 8080, **({"hostPort": 8080} if rng.random() < 0.05 else {})}]
    c["env"] = [{"name": f"VAR{i}", "value": str(i)} for i in range(rng.randint(0, 6))]
    c["resources"] = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}
    return c


def generate(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pods = []
    for i in range(n):
        spec: dict[str, Any] = {
            "containers": [_container(rng, f"c{j}") for j in range(rng.randint(1, 3))],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
            if rng.random() < 0.8
            else {"runAsUser": 0},
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "tmp", "emptyDir": {}}]
            + ([{"name": "host", "hostPath": {"path": "/var/log"}}] if rng.random() < 0.03 else []),
        }
        if rng.random() < 0.3:
            spec["initContainers"] = [_container(rng, "init")]
        if rng.random() < 0.02:
            spec["hostNetwork"] = True
        meta: dict[str, Any] = {
            "name": f"pod-{i}",
            "namespace": f"ns-{i % 50}",
            "labels": {"app": f"app-{i % 300}", "pod-template-hash": f"{rng.getrandbits(32):08x}"},
        }
        if rng.random() < 0.05:
            meta["annotations"] = {"container.apparmor.security.beta.kubernetes.io/c0": "unconfined"}
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    return pods


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="pods (default 10,000)")
    args = parser.parse_args()
    pods = generate(args.n)
    rows = []
    for level in ("restricted", "baseline"):
        best = float("inf")
        violating = 0
        for _ in range(3):
            start = time.perf_counter()
            judged = [evaluate(p, level) for p in pods]
            best = min(best, time.perf_counter() - start)
            violating = sum(1 for v in judged if v)
        rows.append((level, args.n / best, best, violating))
    tracemalloc.start()
    kept = [evaluate(p, "restricted") for p in pods]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pods.yaml"
        path.write_text(yaml.dump_all(pods, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
        size_mb = path.stat().st_size / 2**20
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest_zengarden.cli", "pss", str(path), "--level", "restricted"],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=REPO,
        )
        wall = time.perf_counter() - start
        child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"Pod Security Standards evaluator (Kubernetes v1.32), {args.n:,} generated pods\n")
    print(f"{'measure':<44} {'zengarden':>16}   goal")
    for level, rate, secs, violating in rows:
        ok = "met" if rate >= GOAL_RATE else "NOT met"
        print(f"{'evaluator, ' + level + ' (best of 3)':<44} {rate:>10,.0f} pods/s   >= {GOAL_RATE:,} pods/s ({ok})")
        print(f"{'  time / violating pods':<44} {secs * 1000:>13.0f} ms   ({violating:,} violate {level})")
    print(f"{'evaluator allocations, peak (tracemalloc)':<44} {peak / 2**20:>13.1f} MB")
    ok = "met" if rss_mb < GOAL_MB else "NOT met"
    print(f"{'process peak RSS, pods + violations held':<44} {rss_mb:>13.0f} MB   < {GOAL_MB} MB ({ok})")
    e2e = args.n / wall
    print(
        f"{'zengarden pss, ' + f'{size_mb:.0f} MB YAML, end to end':<44} {e2e:>10,.0f} pods/s   "
        f"(wall {wall:.2f} s, exit {proc.returncode}, one process)"
    )
    ok = "met" if child_mb < GOAL_MB else "NOT met"
    print(f"{'zengarden pss peak RSS':<44} {child_mb:>13.0f} MB   < {GOAL_MB} MB ({ok})")
    print("\nkubescape (issue 11's anchor): gigabytes of memory for 1,000 pods")
    del kept
    return 0


if __name__ == "__main__":
    sys.exit(main())
