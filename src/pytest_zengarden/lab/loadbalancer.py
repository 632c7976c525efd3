"""MetalLB's controller, as far as the lab needs it: give each LoadBalancer Service its requested address.

``python -m pytest_zengarden.lab.loadbalancer --kubeconfig KUBECONFIG`` watches Services and writes
``status.loadBalancer.ingress`` from the ``metallb.universe.tf/loadBalancerIPs`` annotation, as MetalLB's
controller does (keepalived holds the address on a blade; the lab has no MetalLB speaker).  Each watch
is bounded (``timeout_seconds``) and re-listed, so a restarted API server is picked up.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

ANNOTATION = "metallb.universe.tf/loadBalancerIPs"


def _want(svc: Any) -> str | None:
    if svc.spec is None or svc.spec.type != "LoadBalancer" or svc.metadata is None:
        return None
    ip = (svc.metadata.annotations or {}).get(ANNOTATION)
    return str(ip).split(",")[0].strip() if ip else None


def _has(svc: Any, ip: str) -> bool:
    ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
    return [i.ip for i in ingress] == [ip]


def main(argv: Sequence[str] | None = None) -> int:
    from kubernetes import client, config, watch

    p = argparse.ArgumentParser(prog="python -m pytest_zengarden.lab.loadbalancer")
    p.add_argument("--kubeconfig", required=True)
    args = p.parse_args(argv)
    api = config.new_client_from_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    core = client.CoreV1Api(api)
    while True:
        try:
            listing = core.list_service_for_all_namespaces(_request_timeout=10)
            version = listing.metadata.resource_version if listing.metadata else None
            for svc in listing.items:
                _reconcile(core, svc)
            w = watch.Watch()  # type: ignore[no-untyped-call]
            for event in w.stream(  # type: ignore[no-untyped-call]
                core.list_service_for_all_namespaces,
                resource_version=version,
                timeout_seconds=30,
                _request_timeout=40,
            ):
                if event["type"] in ("ADDED", "MODIFIED"):
                    _reconcile(core, event["object"])
        except Exception as exc:  # the API server restarts in the lab: wait a moment, list again
            print(f"loadbalancer: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr, flush=True)
            time.sleep(1)


def _reconcile(core: Any, svc: Any) -> None:
    ip = _want(svc)
    if ip is None or _has(svc, ip):
        return
    core.patch_namespaced_service_status(
        svc.metadata.name, svc.metadata.namespace, {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}},
        _request_timeout=10,
    )  # fmt: skip
    print(f"loadbalancer: {svc.metadata.namespace}/{svc.metadata.name} -> {ip}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
