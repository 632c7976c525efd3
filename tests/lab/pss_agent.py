"""Runs inside the lab's management namespace for tests/lab/test_pss_admission.py: one JSON request per
line on stdin, one JSON answer per line on stdout.  The test process itself never sends a packet from
the root namespace; this agent is its hands on the lab's API server.

Requests (``op`` and arguments):
* ``dry_run`` ``obj``: ``KubeClusterClient.dry_run_create`` -> ``[admitted, reason]``
* ``namespace`` ``name`` ``labels``: create (or relabel) a namespace and wait (bounded) for its default
  ServiceAccount, which the ServiceAccount admission plugin looks up before PodSecurity judges a pod
* ``create`` ``obj``: create an object for real
* ``list`` ``kinds``: the objects of each kind, as the plugin's reader lists them
* ``delete_namespace`` ``name``: delete it and wait (bounded) until it is gone
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from pytest_zengarden.clients.cluster import KubeClusterClient


def main() -> int:
    client = KubeClusterClient(Path(sys.argv[1]), timeout=10)
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    core = k8s.CoreV1Api(client.api_client)
    dyn = client._dynamic()

    def handle(req: dict[str, Any]) -> Any:
        op = req["op"]
        if op == "dry_run":
            return list(client.dry_run_create(req["obj"]))
        if op == "namespace":
            body = {"metadata": {"name": req["name"], "labels": req.get("labels") or {}}}
            try:
                core.create_namespace(body, _request_timeout=10)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                core.patch_namespace(req["name"], body, _request_timeout=10)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                listed = core.list_namespaced_service_account(req["name"], _request_timeout=10)
                names = [sa.metadata.name for sa in listed.items]
                if "default" in names:
                    return True
                time.sleep(0.2)
            raise RuntimeError(f"namespace {req['name']}: no default ServiceAccount after 30 s")
        if op == "create":
            obj = req["obj"]
            resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            resource.create(body=obj, namespace=obj["metadata"].get("namespace"), _request_timeout=10)
            return True
        if op == "list":
            return {kind: client.list(kind) for kind in req["kinds"]}
        if op == "delete_namespace":
            try:
                core.delete_namespace(req["name"], _request_timeout=10)
            except ApiException as exc:
                if exc.status != 404:
                    raise
            # Wait (bounded) until the namespace controller has removed it and everything in it.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    core.read_namespace(req["name"], _request_timeout=10)
                except ApiException as exc:
                    if exc.status == 404:
                        return True
                    raise
                time.sleep(0.3)
            raise RuntimeError(f"namespace {req['name']} still exists 60 s after its deletion")
        raise ValueError(f"unknown op {op!r}")

    try:
        for line in sys.stdin:
            try:
                answer = {"ok": handle(json.loads(line))}
            except Exception as exc:  # reported to the test, which fails with it
                answer = {"error": f"{type(exc).__name__}: {str(exc)[:2000]}"}
            print(json.dumps(answer, default=str), flush=True)
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
