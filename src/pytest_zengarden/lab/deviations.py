"""Named deviations: ways to bring the lab up *wrong*, so each check can be seen to fail (pure).

A deviation edits the router's seed configuration and/or the restrictive proxy's configuration before
the lab starts.  ``zengarden lab deviations`` lists them; ``zengarden lab up --deviate NAME`` applies one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Records = dict[str, list[dict[str, str]]]
ProxyConfig = dict[str, Any]
Objects = list[dict[str, Any]]


@dataclass(frozen=True)
class Deviation:
    """A named way the lab differs from the site, with the control it should make fail."""

    name: str
    description: str
    breaks: str  # the control id a check should report
    router: Callable[[Records], None] | None = None
    proxy: Callable[[ProxyConfig], None] | None = None
    cluster: Callable[[Objects], None] | None = None


def _home_ssh(records: Records) -> None:
    # The real homelab's rule: Home -> Homelab SSH, HTTP, HTTPS (the design allows only 80, 443).
    rules = records["/ip/firewall/filter"]
    first_allow = next(i for i, r in enumerate(rules) if r.get("comment", "").startswith("zg:FW-HOME-WEB"))
    rules.insert(
        first_allow,
        {
            "chain": "forward",
            "action": "accept",
            "src-address": "192.168.88.0/24",
            "dst-address": "192.168.77.0/24",
            "protocol": "tcp",
            "dst-port": "22",
            "comment": "Allow Home -> Homelab SSH",
        },
    )


def _wg_missing_allow(records: Records) -> None:
    rules = records["/ip/firewall/filter"]
    records["/ip/firewall/filter"] = [
        r for r in rules if not (r.get("comment", "").startswith("zg:FW-WG-CLUSTER") and "-> cluster" in r["comment"])
    ]


def _mgmt_inbound(records: Records) -> None:
    rules = records["/ip/firewall/filter"]
    first_deny = next(i for i, r in enumerate(rules) if r.get("comment", "").startswith("zg:FW-MGMT-NO-INBOUND"))
    rules.insert(
        first_deny,
        {
            "chain": "forward",
            "action": "accept",
            "src-address": "192.168.88.0/24",
            "dst-address": "192.168.100.0/24",
            "comment": "temporary: home printer to management",
        },
    )


def _stale_dns(records: Records) -> None:
    for rec in records["/ip/dns/static"]:
        if rec["name"].startswith("gitea."):
            rec["address"] = "192.168.77.205"
            return
    raise ValueError("stale-dns: the site has no gitea host record to make stale")


def _telnet_on(records: Records) -> None:
    for rec in records["/ip/service"]:
        if rec["name"] == "telnet":
            rec["disabled"] = "false"
            rec["address"] = ""


def _ingress_host_no_dns(records: Records) -> None:
    before = len(records["/ip/dns/static"])
    records["/ip/dns/static"] = [r for r in records["/ip/dns/static"] if not r["name"].startswith("argocd.")]
    if len(records["/ip/dns/static"]) == before:
        raise ValueError("ingress-host-no-dns: the site has no argocd host record to remove")


def ipv6_bypass_address(ipv4_gateway: str) -> str:
    """The IPv6 address ipv6-bypass gives a segment's gateway: ``192.168.77.1/24`` -> ``fd00:77::1/64`` (ULA)."""
    third = ipv4_gateway.split("/")[0].split(".")[2]
    return f"fd00:{third}::1/64"


def _ipv6_bypass(records: Records) -> None:
    # A router as many are left: IPv6 on and forwarding, a /64 on each segment (advertised by the default
    # ND entry), and no /ipv6 firewall at all -- the IPv4 matrix is then no barrier over IPv6.
    records["/ipv6/settings"] = [{"disable-ipv6": "false", "forward": "true"}]
    gateways = [r for r in records["/ip/address"] if r.get("comment", "").startswith("zg:")]
    if not gateways:
        raise ValueError("ipv6-bypass: the site's router has no segment gateway to give IPv6")
    records["/ipv6/address"] = [
        {"address": ipv6_bypass_address(r["address"]), "interface": r["interface"], "comment": "IPv6 for everyone"}
        for r in gateways
    ]
    records["/ipv6/firewall/filter"] = []


def _privileged_namespace(objects: Objects) -> None:
    objects.append({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "apps-dev-legacy", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
    })  # fmt: skip


def _proxy_delete_anything(cfg: ProxyConfig) -> None:
    for host in cfg["proxy"].values():
        host.setdefault("restrictions", {})["DELETE"] = ["/rest/**"]


def _proxy_watch(cfg: ProxyConfig) -> None:
    for host in cfg["proxy"].values():
        host["mode"] = "WATCH"


CATALOGUE: dict[str, Deviation] = {
    d.name: d
    for d in (
        Deviation(
            "home-ssh",
            "an extra allow rule home -> cluster tcp/22 (as in the real homelab; the design leaves 22 to the default)",
            "FW-DEFAULT-DENY",
            router=_home_ssh,
        ),
        Deviation(
            "wg-missing-allow",
            "the WireGuard -> cluster allow rule is missing",
            "FW-WG-CLUSTER",
            router=_wg_missing_allow,
        ),
        Deviation(
            "mgmt-inbound", "home may open connections into management", "FW-MGMT-NO-INBOUND", router=_mgmt_inbound
        ),
        Deviation(
            "stale-dns", "gitea's internal record points at a stale address", "DNS-INGRESS-RECORDS", router=_stale_dns
        ),
        Deviation("telnet-on", "telnet enabled and reachable from everywhere", "RTR-SERVICES", router=_telnet_on),
        Deviation(
            "ipv6-bypass",
            "IPv6 on and forwarding, a /64 on every segment and an empty /ipv6 firewall: the matrix is no barrier",
            "FW-DEFAULT-DENY",
            router=_ipv6_bypass,
        ),
        Deviation(
            "proxy-delete-anything",
            "the restrictive proxy lets DELETE reach any REST path",
            "DNS-PROXY-ALLOWLIST",
            proxy=_proxy_delete_anything,
        ),
        Deviation(
            "proxy-watch",
            "the restrictive proxy runs in WATCH mode (logs, never refuses)",
            "DNS-PROXY-ALLOWLIST",
            proxy=_proxy_watch,
        ),
        # Applied by the lab's ingress step (nginx's ssl_protocols), not by an edit of a config here.
        Deviation("tls12", "the ingress also accepts TLS 1.2", "EDGE-INGRESS-INTERNAL"),
        Deviation(
            "ingress-host-no-dns",
            "an internal ingress host (argocd) has no DNS record",
            "DNS-INGRESS-RECORDS",
            router=_ingress_host_no_dns,
        ),
        Deviation(
            "psa-privileged-namespace",
            "a namespace enforces 'privileged' without an exemption",
            "K8S-PSA-RESTRICTED",
            cluster=_privileged_namespace,
        ),
        # Applied by the lab after the control plane is up: the last etcd member is stopped.
        Deviation("etcd-member-stopped", "one etcd member is stopped (the cluster runs on 2 of 3)", "K8S-ETCD-QUORUM"),
    )
}


def apply_cluster(names: list[str], objects: Objects) -> None:
    """Apply the cluster part of the named deviations to the objects the lab will seed."""
    for name in names:
        dev = CATALOGUE[name]
        if dev.cluster is not None:
            dev.cluster(objects)


def apply(names: list[str], records: Records, proxy: ProxyConfig, objects: Objects | None = None) -> None:
    """Apply the named deviations in order; an unknown name is an error listing the catalogue."""
    for name in names:
        dev = CATALOGUE.get(name)
        if dev is None:
            raise KeyError(f"unknown deviation {name!r}; known: {', '.join(sorted(CATALOGUE))}")
        if dev.router is not None:
            dev.router(records)
        if dev.proxy is not None:
            dev.proxy(proxy)
        if dev.cluster is not None and objects is not None:
            dev.cluster(objects)
