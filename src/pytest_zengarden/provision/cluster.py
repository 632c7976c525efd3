"""Converge the cluster: plan (pure, from objects listed once per kind) and server-side apply.

Desired objects come from :mod:`pytest_zengarden.desired.cluster`.  Every object the plugin creates
carries the inventory label :data:`INVENTORY_LABEL` (kubectl ApplySet style); pruning deletes only
objects that carry it and the site no longer implies.  Namespaces the plugin did not create are never
created, labelled into the inventory or deleted: only their Pod Security labels are applied, with field
manager ``zengarden``, and the site's exempt namespaces are left untouched.  Every namespace outside the
network-policy exemptions, the plugin's or not, gets its default-deny NetworkPolicy (and the site's
allowances), in the inventory.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..clients.cluster import retrying_429
from ..desired.cluster import CONTROL_ANNOTATION, crds, network_policies, objects, psa_labels, secrets_objects
from ..errors import TargetError
from ..site.schema import Site
from .journal import Journal
from .plan import Change, Outcome, Plan

Obj = dict[str, Any]
FIELD_MANAGER = "zengarden"
INVENTORY_LABEL = "applyset.kubernetes.io/part-of"
CRD_API = "apiextensions.k8s.io/v1"


def applyset_id(site: Site) -> str:
    """The ApplySet id of the site's inventory (KEP-3659: base64url(sha256(name.namespace.kind.group)), v1)."""
    digest = hashlib.sha256(f"zengarden-{site.name}..Inventory.zengarden.dev".encode()).digest()
    return "applyset-" + base64.urlsafe_b64encode(digest).decode().rstrip("=") + "-v1"


def _key(obj: Obj) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"])


def _subject(obj: Obj) -> str:
    meta = obj["metadata"]
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {ns}{meta['name']}"


def contains(have: Any, want: Any) -> bool:
    """Whether ``have`` already says everything ``want`` says (maps by subset, lists and scalars by equality)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and contains(have[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(map(contains, have, want))
    return bool(have == want)


def _differing(have: Obj, want: Obj) -> list[str]:
    out = []
    for section, value in want.items():
        if section in ("apiVersion", "kind"):
            continue
        if section == "metadata":
            for key in ("labels", "annotations"):
                for k, v in (value.get(key) or {}).items():
                    if ((have.get("metadata") or {}).get(key) or {}).get(k) != v:
                        out.append(f"{key[:-1]} {k}={v}")
        elif not contains(have.get(section), value):
            out.append(section)
    return out


def desired_objects(site: Site) -> list[Obj]:
    """Everything the site implies, in apply order (CRDs first), each labelled into the inventory."""
    wanted = [*crds(site), *objects(site), *secrets_objects(site)]
    have_ns = {o["metadata"]["name"] for o in wanted if o["kind"] == "Namespace"}
    needed = [o["metadata"].get("namespace") for o in wanted] + [site.secrets.master.namespace]
    extra_ns = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        for ns in dict.fromkeys(needed)
        if ns and ns not in have_ns
    ]
    wanted = [*wanted[: len(crds(site))], *extra_ns, *wanted[len(crds(site)) :]]
    # Trust Boundary 3: each namespace the site implies gets its default-deny (and listed allowances).
    wanted += network_policies(site, [o["metadata"]["name"] for o in wanted if o["kind"] == "Namespace"])
    exempt = set(site.cluster.pod_security.exemptions.namespaces)
    inventory = applyset_id(site)
    out = []
    for obj in wanted:
        obj = {**obj, "metadata": {**obj["metadata"]}}
        labels = dict(obj["metadata"].get("labels") or {})
        labels[INVENTORY_LABEL] = inventory
        if obj["kind"] == "Namespace" and obj["metadata"]["name"] not in exempt:
            labels |= psa_labels(site)
        obj["metadata"]["labels"] = labels
        out.append(obj)
    return out


def _control(site: Site, obj: Obj) -> str:
    annotations = obj["metadata"].get("annotations") or {}
    if CONTROL_ANNOTATION in annotations:
        return str(annotations[CONTROL_ANNOTATION])
    if obj["kind"] == "Namespace":
        return site.cluster.pod_security.control
    if obj["kind"] == "CustomResourceDefinition":
        group = obj["spec"]["group"]
        return site.cluster.metallb.control if group == "metallb.io" else site.secrets.kdf.control
    return site.cluster.control


def kinds(site: Site) -> list[tuple[str, str]]:
    """(apiVersion, kind) of everything the plugin manages: each is listed once per run."""
    return list(dict.fromkeys((o["apiVersion"], o["kind"]) for o in desired_objects(site)))


def plan_cluster(site: Site, current: Mapping[tuple[str, str], list[Obj] | None]) -> Plan:
    """The changes turning ``current`` ((apiVersion, kind) -> objects, ``None``: kind not served yet) into the site."""
    plan = Plan("cluster")
    inventory = applyset_id(site)
    by_key: dict[tuple[str, str, str, str], Obj] = {}
    for (api, kind), items in current.items():
        for item in items or []:
            meta = item.get("metadata") or {}
            by_key[(api, kind, meta.get("namespace") or "", meta.get("name") or "")] = item
    wanted = desired_objects(site)
    wanted_keys = set()
    for obj in wanted:
        key = _key(obj)
        wanted_keys.add(key)
        have = by_key.get(key)
        if have is None:
            plan.changes.append(Change("cluster", "+", _subject(obj), _control(site, obj), "", ("apply", obj)))
            continue
        diff = _differing(have, obj)
        if diff:
            plan.changes.append(
                Change("cluster", "~", _subject(obj), _control(site, obj), ", ".join(diff), ("apply", obj))
            )
    # Namespaces the plugin did not create: only their Pod Security labels (exemptions untouched).
    exempt = set(site.cluster.pod_security.exemptions.namespaces)
    want_labels = psa_labels(site)
    for ns in current.get(("v1", "Namespace")) or []:
        name = ns["metadata"]["name"]
        if ("v1", "Namespace", "", name) in wanted_keys or name in exempt:
            continue
        have_labels = ns["metadata"].get("labels") or {}
        missing = {k: v for k, v in want_labels.items() if have_labels.get(k) != v}
        if missing:
            patch = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": want_labels}}
            shown = [f"{k}={v}" for k, v in missing.items() if not k.endswith("-version")] or [
                f"{k}={v}" for k, v in missing.items()
            ]
            versions = " (and their -version labels)" if len(shown) < len(missing) else ""
            detail = "label " + ", ".join(shown) + versions
            plan.changes.append(
                Change("cluster", "~", f"namespace {name}", site.cluster.pod_security.control, detail, ("apply", patch))
            )
    # ... and their default-deny NetworkPolicies (with the site's allowances), as for the site's own namespaces.
    others = [
        ns["metadata"]["name"]
        for ns in current.get(("v1", "Namespace")) or []
        if ("v1", "Namespace", "", ns["metadata"]["name"]) not in wanted_keys
        and not ns["metadata"].get("deletionTimestamp")
    ]
    for obj in network_policies(site, others):
        obj = {**obj, "metadata": {**obj["metadata"], "labels": {INVENTORY_LABEL: inventory}}}
        key = _key(obj)
        wanted_keys.add(key)
        have = by_key.get(key)
        if have is None or _differing(have, obj):
            op, detail = ("+", "") if have is None else ("~", ", ".join(_differing(have, obj)))
            plan.changes.append(Change("cluster", op, _subject(obj), _control(site, obj), detail, ("apply", obj)))
    # Prune: only what carries this inventory's label and the site no longer implies.
    for key, item in by_key.items():
        labels = (item.get("metadata") or {}).get("labels") or {}
        if labels.get(INVENTORY_LABEL) == inventory and key not in wanted_keys:
            api, kind, namespace, item_name = key
            gone: Obj = {
                "apiVersion": api,
                "kind": kind,
                "metadata": {"name": item_name, **({"namespace": namespace} if namespace else {})},
            }
            plan.changes.append(
                Change("cluster", "-", _subject(gone), site.cluster.control, "no longer in the site", ("delete", gone))
            )
    return plan


class ClusterWriter:
    """Lists kinds and server-side applies through the kubernetes dynamic client; counts its calls."""

    def __init__(self, api_client: Any, timeout: float, endpoint: str, cache_dir: Path):
        from kubernetes.dynamic import DynamicClient

        self.endpoint = endpoint
        self.timeout = timeout
        # Discovery cached per run (the library's default file in /tmp is shared by every process and
        # outlives the cluster it describes).
        self._dyn: Any = DynamicClient(  # type: ignore[no-untyped-call]
            api_client, cache_file=str(cache_dir / "discovery-provision.json")
        )
        self.reads = 0
        self.writes = 0

    def _resource(self, api_version: str, kind: str) -> Any:
        return self._retrying(lambda: self._dyn.resources.get(api_version=api_version, kind=kind))

    def _retrying(self, call: Callable[[], Any], budget: float = 60.0) -> Any:
        """``call()``, again after the server's Retry-After while it answers 429 (as client-go does), bounded."""
        return retrying_429(call, budget)

    def list(self, api_version: str, kind: str) -> list[Obj] | None:
        """Every object of a kind (one call), ``None`` if the API server does not serve the kind."""
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        try:
            resource = self._resource(api_version, kind)
        except (ResourceNotFoundError, NotFoundError):  # discovery of a group nobody serves (no CRD yet)
            return None
        self.reads += 1
        items: list[Obj] = (
            self._retrying(lambda: resource.get(_request_timeout=self.timeout)).to_dict().get("items", [])
        )
        return items

    def apply(self, obj: Obj, wait_served: float = 30.0) -> None:
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        deadline = time.monotonic() + wait_served
        while True:
            try:
                resource = self._resource(obj["apiVersion"], obj["kind"])
                break
            except (ResourceNotFoundError, NotFoundError):
                # A CRD created a moment ago is not served yet, and discovery is cached: look again.
                if time.monotonic() > deadline:
                    raise TargetError(
                        self.endpoint, f"{obj['kind']} is not served {wait_served:.0f}s after its CRD was applied"
                    ) from None
                self._dyn.resources.invalidate_cache()
                time.sleep(0.2)
        meta = obj["metadata"]
        self.writes += 1
        self._retrying(
            lambda: resource.server_side_apply(
                body=obj,
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
                _request_timeout=self.timeout,
            )
        )

    def delete(self, obj: Obj) -> None:
        meta = obj["metadata"]
        self.writes += 1
        resource = self._resource(obj["apiVersion"], obj["kind"])
        self._retrying(
            lambda: resource.delete(name=meta["name"], namespace=meta.get("namespace"), _request_timeout=self.timeout)
        )


def read_cluster(writer: ClusterWriter, site: Site) -> dict[tuple[str, str], list[Obj] | None]:
    return {(api, kind): writer.list(api, kind) for api, kind in kinds(site)}


def apply_cluster(
    writer: ClusterWriter, plan: Plan, journal: Journal, say: Callable[[str], None] = lambda _: None
) -> Outcome:
    outcome = Outcome(plan)
    start = time.monotonic()
    for change in plan.changes:
        verb, obj = change.action
        try:
            writer.apply(obj) if verb == "apply" else writer.delete(obj)
        except TargetError as exc:
            outcome.error = f"the cluster refused `{change.line().strip()}`: {exc.cause}"
            break
        except Exception as exc:
            outcome.error = f"the cluster refused `{change.line().strip()}`: {api_cause(exc)}"
            break
        outcome.applied.append(change)
    journal.record("cluster", "applied" if outcome.error is None else "failed",
                   [c.line() for c in outcome.applied], outcome.error or "")  # fmt: skip
    outcome.seconds = time.monotonic() - start
    outcome.writes = writer.writes
    return outcome


def api_cause(exc: BaseException) -> str:
    from kubernetes.client.exceptions import ApiException

    from ..redaction import redact

    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    return redact(str(exc).splitlines()[0][:200]) if str(exc) else type(exc).__name__
