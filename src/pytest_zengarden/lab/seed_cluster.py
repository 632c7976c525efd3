"""Register the blades as Nodes (run *inside* the lab's management namespace): the kubelets' job.

``python -m pytest_zengarden.lab.seed_cluster --site SITE --kubeconfig KUBECONFIG`` creates the Node
objects a k3s blade's kubelet would register (server-side apply, idempotent) and waits, bounded, until
kwok reports them Ready.  Everything the *site* implies in the cluster is the provisioner's
(:mod:`pytest_zengarden.provision`), not the lab's.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..desired.cluster import nodes
from ..site.loader import load_site

FIELD_MANAGER = "zengarden-lab-kubelet"


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

    p = argparse.ArgumentParser(prog="python -m pytest_zengarden.lab.seed_cluster")
    p.add_argument("--site", required=True)
    p.add_argument("--kubeconfig", required=True)
    args = p.parse_args(argv)
    site = load_site(args.site)
    api = config.new_client_from_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    dyn = DynamicClient(api)  # type: ignore[no-untyped-call]
    for node in nodes(site):
        _apply(dyn, node)
    core = client.CoreV1Api(api)
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
    print(f"registered {len(site.blades)} nodes; Ready: {sorted(ready)}", file=sys.stderr)
    if len(ready) != len(site.blades):
        print("not every node became Ready and schedulable within 60s (is kwok running?)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
