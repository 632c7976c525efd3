"""The emulated router's factory state and the proxy's configuration, from the site (pure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..desired.router import Records
from ..facts.router import SERVICE_PORTS
from .topology import LabPlan

FACTORY_SERVICES = SERVICE_PORTS  # every service, on its factory port


def _interfaces(plan: LabPlan) -> list[dict[str, str]]:
    """The router's interfaces as RouterOS lists them (ports, bridges, WireGuard)."""
    out: list[dict[str, str]] = []
    for c in plan.cables:
        if c.a_ns == plan.router_ns:
            out.append({"name": c.a_if, "type": "ether", "default-name": c.a_if})
    for br in plan.bridges:
        if br.ns == plan.router_ns:
            out.append({"name": br.name, "type": "bridge"})
    for end in plan.wireguard:
        if end.ns == plan.router_ns:
            out.append({"name": end.iface, "type": "wg"})
    return sorted(out, key=lambda r: (r["type"] != "ether", r["name"]))


def router_seed(site: Any, plan: LabPlan, *, wireguard: Path | None = None) -> Records:
    """Records the emulator starts from: a router at its factory state, as it comes out of the box.

    Its ports, bridges and WireGuard interface exist (the lab's cabling and keys), every service is on
    and open, and the WAN port holds the address its uplink gives it (as a DHCP lease would): an entry
    the site does not make, so provisioning leaves it alone and reports it as unmanaged.  Everything
    else is the provisioner's (:mod:`pytest_zengarden.provision`).
    """
    interfaces = _interfaces(plan)
    wg: dict[str, Any] = json.loads(wireguard.read_text()) if wireguard and wireguard.exists() else {}
    wg_records: Records = {"/interface/wireguard": [], "/interface/wireguard/peers": []}
    for end in plan.wireguard:
        if end.ns == plan.router_ns and wg:
            # RouterOS derives the public key from the private one (it is read-only there).
            private = Path(wg["server"]["private_key_file"]).read_text().strip()
            wg_records["/interface/wireguard"].append(
                {"name": end.iface, "listen-port": str(end.listen_port), "private-key": private}
            )
            wg_records["/interface/wireguard/peers"].append(
                {
                    "interface": end.iface,
                    "public-key": wg["client"]["public_key"],
                    "allowed-address": ",".join(end.allowed_ips),
                    "comment": "lab VPN client",
                }
            )
    bridge_ports = [
        {"bridge": br.name, "interface": port} for br in plan.bridges if br.ns == plan.router_ns for port in br.ports
    ]
    bridges = [{"name": br.name} for br in plan.bridges if br.ns == plan.router_ns]
    wan = [
        a
        for a in plan.addresses
        if a.ns == plan.router_ns and all(str(a.address.ip) != str(s.router_address) for s in site.segments.values())
    ]
    return {
        "/interface": interfaces,
        "/interface/bridge": bridges,
        "/interface/bridge/port": bridge_ports,
        "/system/identity": [{"name": "MikroTik"}],
        "/ip/service": [
            {"name": n, "port": str(p), "disabled": "false", "address": ""} for n, p in FACTORY_SERVICES.items()
        ],
        "/ip/address": [{"address": str(a.address), "interface": a.iface, "comment": "lab WAN link"} for a in wan],
        **wg_records,
    }


def proxy_config(
    site: Any,
    *,
    proxy_password_env: str,
    router_password_env: str,
    router_user: str = "zengarden",
    proxy_user: str = "proxy-user",
) -> dict[str, Any]:
    """The restrictive proxy's YAML config (facts §2.2 format); passwords as ``${VAR}`` references."""
    p = site.dns.proxy
    restrictions: dict[str, list[str]] = {}
    for rule in p.allow:
        restrictions.setdefault(rule.method, []).append(rule.path)
    return {
        "proxy": {
            p.host: {
                "auth": {"username": proxy_user, "password": f"${{{proxy_password_env}}}"},
                "to": {"url": p.upstream, "username": router_user, "password": f"${{{router_password_env}}}"},
                "mode": p.mode,
                "restrictions": restrictions,
            }
        }
    }
