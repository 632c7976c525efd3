"""Control-plane HA (pure): every server's API on its own address, its certificate, versions, leader leases.

Each function judges what was asked of one server (or of the cluster) and returns findings; a server that
did not answer is passed as :class:`Unanswered` and is a *finding* here (the HA check's to report), never an
outage of the other checks: the cluster reader asks the other servers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from ..facts.cluster import KubeObject, Unanswered
from ..site.schema import Site
from .findings import Finding, finding

# The leader-elected controllers of a k3s server, by the Lease they hold in kube-system.
LEADER_LEASES = ("kube-controller-manager", "kube-scheduler")


Reply = tuple[int, str] | Unanswered


def _checks_ok(body: str, name: str) -> bool:
    """``[+]name ok`` in a verbose /readyz or /livez body."""
    return re.search(rf"^\[\+\]{re.escape(name)} ok$", body, re.M) is not None


def _failed_checks(body: str) -> list[str]:
    return re.findall(r"^\[-\](\S+) failed", body, re.M)


def server_health(site: Site, blade: str, url: str, readyz: Reply, livez: Reply) -> Finding:
    """``blade``'s API server answers ``/readyz`` and ``/livez`` (verbose) with 200, etcd's check among them."""
    ha = site.cluster.high_availability
    subject = f"{blade} API {url}"
    parts, ok = [], True
    for path, reply in (("/readyz", readyz), ("/livez", livez)):
        if isinstance(reply, Unanswered):
            return finding(ha, subject, False, f"does not answer {path}: {reply.cause} (the other servers still serve)")
        status, body = reply
        failed = _failed_checks(body)
        etcd = _checks_ok(body, "etcd")
        if status != 200 or not etcd:
            ok = False
            why = f"failing: {', '.join(failed)}" if failed else ("no etcd check listed" if not etcd else "")
            parts.append(f"{path} {status}" + (f" ({why})" if why else ""))
        else:
            parts.append(f"{path} 200 (etcd ok)")
    return finding(ha, subject, ok, ", ".join(parts))


def serving_certificate(
    site: Site, blade: str, url: str, sans: Sequence[tuple[str, str]] | Unanswered, first_service_ip: str
) -> Finding:
    """``blade``'s serving certificate (verified against the cluster CA) names the API endpoint, the
    in-cluster service name and address, and the blade's own address."""
    ha = site.cluster.high_availability
    subject = f"{blade} API certificate"
    if isinstance(sans, Unanswered):
        return finding(ha, subject, False, f"no TLS handshake with {url}: {sans.cause}")
    have = {(kind, value.lower()) for kind, value in sans}
    want = [
        ("DNS", site.cluster.api_endpoint.lower()),
        ("DNS", "kubernetes.default.svc"),
        ("IP Address", first_service_ip),
        ("IP Address", str(site.blades[blade].address)),
    ]
    missing = [
        f"{'IP' if kind.startswith('IP') else 'DNS'}:{value}" for kind, value in want if (kind, value) not in have
    ]
    if missing:
        return finding(ha, subject, False, f"does not cover {', '.join(missing)}: add them to tls-san and restart k3s")
    return finding(ha, subject, True, f"covers {', '.join(v for _, v in want)}")


def versions(site: Site, found: dict[str, str | Unanswered], *, minor_only: bool = False) -> Finding:
    """Every server runs the site's Kubernetes version (its minor only, in the lab: upstream binaries).

    ``found``: blade -> ``gitVersion`` from its ``/version``.
    """
    ha = site.cluster.high_availability
    want = site.cluster.kubernetes_minor if minor_only else site.cluster.version
    answered = {b: v for b, v in found.items() if not isinstance(v, Unanswered)}
    if not answered:
        raise ValueError("no API server answered /version: nothing to judge")
    wrong = []
    for blade, version in answered.items():
        have = ".".join(version.lstrip("v").split(".")[:2]) if minor_only else version
        if have != want:
            wrong.append(f"{blade} runs {version}")
    silent = sorted(b for b in found if b not in answered)
    state = ", ".join(f"{b} {v}" for b, v in answered.items())
    what = f"Kubernetes {want}" + (" (minor)" if minor_only else "")
    if wrong:
        return finding(ha, "versions", False, f"{'; '.join(wrong)}, expected {what}")
    if len(set(answered.values())) > 1:
        return finding(ha, "versions", False, f"servers disagree ({state}): finish the upgrade on every server")
    tail = f" ({', '.join(silent)} did not answer: see its health check)" if silent else ""
    return finding(ha, "versions", True, f"{state}{tail}")


def _time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def leader_lease(site: Site, name: str, leases: list[KubeObject], now: float) -> Finding:
    """The Lease ``kube-system/name`` is held by a control-plane blade and was renewed within its duration."""
    ha = site.cluster.high_availability
    subject = f"lease kube-system/{name}"
    lease = next(
        (x for x in leases if (x.get("metadata") or {}).get("name") == name
         and (x.get("metadata") or {}).get("namespace") == "kube-system"), None,
    )  # fmt: skip
    if lease is None:
        return finding(
            ha, subject, False, f"does not exist: no {name} has ever led (is it running with --leader-elect?)"
        )
    spec = lease.get("spec") or {}
    holder = str(spec.get("holder_identity") or spec.get("holderIdentity") or "")
    renewed = _time(spec.get("renew_time") or spec.get("renewTime"))
    duration = float(spec.get("lease_duration_seconds") or spec.get("leaseDurationSeconds") or 15)
    if not holder:
        return finding(ha, subject, False, "held by nobody: no leader (every instance down or failing)")
    host = holder.split("_", 1)[0]
    servers = site.cluster.control_plane
    if host not in servers:
        return finding(ha, subject, False, f"held by {holder!r}, not by one of the servers ({', '.join(servers)})")
    if renewed is None:
        return finding(ha, subject, False, f"held by {host} but never renewed")
    age = now - renewed
    if age > duration + ha.lease_slack_s:
        return finding(ha, subject, False, f"held by {host} but last renewed {age:.0f}s ago (duration {duration:.0f}s)")
    return finding(ha, subject, True, f"held by {host}, renewed {max(age, 0):.0f}s ago (duration {duration:.0f}s)")
