"""Apply the site's cluster objects to the lab's API server (run *inside* the lab's management namespace).

``python -m pytest_zengarden.lab.seed_cluster --site SITE --kubeconfig KUBECONFIG`` creates what
:mod:`pytest_zengarden.desired.cluster` lists (server-side apply, idempotent), waits for the CRDs to
be served, and writes each ingress Service's LoadBalancer status (MetalLB's controller's job).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..desired.cluster import crds, load_balancer_status, objects
from ..site import load_site

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
    args = p.parse_args(argv)
    site = load_site(args.site)
    api = config.new_client_from_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    dyn = DynamicClient(api)  # type: ignore[no-untyped-call]
    for crd in crds(site):
        _apply(dyn, crd)
    deadline = time.monotonic() + 60
    for obj in objects(site):
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
    print(f"seeded {len(objects(site))} objects", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
