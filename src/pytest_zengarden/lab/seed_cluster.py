"""Apply the site's cluster objects to the lab's API server (run *inside* the lab's management namespace).

``python -m pytest_zengarden.lab.seed_cluster --site SITE --kubeconfig KUBECONFIG`` creates what
:mod:`pytest_zengarden.desired.cluster` lists (server-side apply, idempotent), waits for the CRDs to
be served, and writes each ingress Service's LoadBalancer status (MetalLB's controller's job).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..desired.cluster import crds, load_balancer_status, nodes, objects
from ..site.loader import load_site

FIELD_MANAGER = "zengarden"


def _apply(dyn: Any, obj: dict[str, Any]) -> None:
    res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    meta = obj["metadata"]
    res.server_side_apply(
        body=obj,
        name=meta["name"],
        namespace=meta.get("namespace"),
        field_manager=FIELD_MANAGER,
        force_conflicts=True,
        _request_timeout=10,
    )


def main(argv: Sequence[str] | None = None) -> int:
    from kubernetes import client, config
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    p = argparse.ArgumentParser(prog="python -m pytest_zengarden.lab.seed_cluster")
    p.add_argument("--site", required=True)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--objects", help="JSON list of objects to apply (default: what the site implies)")
    args = p.parse_args(argv)
    site = load_site(args.site)
    api = config.new_client_from_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    dyn = DynamicClient(api)  # type: ignore[no-untyped-call]
    for crd in crds(site):
        _apply(dyn, crd)
    for node in nodes(site):
        _apply(dyn, node)
    deadline = time.monotonic() + 60
    wanted = json.loads(Path(args.objects).read_text()) if args.objects else objects(site)
    for obj in wanted:
        while True:
            try:
                _apply(dyn, obj)
                break
            except ResourceNotFoundError:
                if time.monotonic() > deadline:
                    raise
                # A fresh CRD takes a moment to be served, and discovery is cached: look again.
                dyn.resources.invalidate_cache()
                time.sleep(0.5)
    core = client.CoreV1Api(api)
    for ns, name, ip in load_balancer_status(site):
        core.patch_namespaced_service_status(
            name, ns, {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}, _request_timeout=10
        )
    # kwok marks the nodes Ready once it sees them; wait (bounded) so `lab up` returns a usable cluster.
    deadline = time.monotonic() + 60
    while True:
        # Schedulable: Ready, and the not-ready taint lifted by the node lifecycle controller.
        ready = [
            str(n.metadata.name)
            for n in core.list_node(_request_timeout=10).items
            if n.metadata is not None
            and n.status is not None
            and not (n.spec and n.spec.taints)
            and any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
        ]
        if len(ready) == len(site.blades) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(f"seeded {len(wanted)} objects; nodes Ready: {sorted(ready)}", file=sys.stderr)
    if len(ready) != len(site.blades):
        print("not every node became Ready and schedulable within 60s (is kwok running?)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
