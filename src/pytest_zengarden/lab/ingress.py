"""The lab's ingress: nginx on the worker blades serving each ingress class on its MetalLB VIP.

* TLS as the class says (the design: TLS 1.3 only), certificates from the lab CA for the class's hosts;
* the external class behind ModSecurity with the OWASP CRS (Debian's packages) and a rate limit;
* the VIPs held by keepalived (VRRP) — the stand-in for MetalLB's L2 speaker — on one blade at a time,
  moving to the other when that blade's keepalived stops.

Backends are a tiny in-nginx upstream answering ``<class> <host>`` so requests cross the whole chain
(ModSecurity inspects proxied requests, not ``return``-ed ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..site.schema import Role, Site
from .pki import issue

MODSEC_MODULE = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so"
# Debian's owasp-crs.load uses IncludeOptional, which libmodsecurity3 (nginx) does not know: include
# the same files directly.
CRS_INCLUDES = (
    "/etc/modsecurity/crs/crs-setup.conf",
    "/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf",
    "/usr/share/modsecurity-crs/rules/*.conf",
    "/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf",
)
BACKEND_PORT = 8081


@dataclass(frozen=True)
class IngressPlan:
    """The blades that serve ingress and the processes to start on each."""

    blades: list[str]
    processes: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # name -> (blade, argv)
    vips: dict[str, str] = field(default_factory=dict)  # class -> VIP


def _tls_protocols(min_v: str, max_v: str) -> str:
    versions = [v for v in ("1.2", "1.3") if min_v <= v <= max_v]
    return " ".join(f"TLSv{v}" for v in versions)


def plan_ingress(site: Site, state_dir: Path, pki: Path, tls_override: str | None = None) -> IngressPlan:
    """Write nginx, ModSecurity and keepalived configs; ``tls_override`` (e.g. ``"1.2"``) is a deviation."""
    workers = [b for b, s in site.blades.items() if Role.CONTROL_PLANE not in s.roles]
    blades = (workers or list(site.blades))[:2]
    plan = IngressPlan(blades)
    root = state_dir / "ingress"
    for rank, blade in enumerate(blades):
        d = root / blade
        for sub in ("tmp", "logs"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        servers = []
        for name, cls in site.ingress.items():
            crt, key = issue(pki, f"ingress-{name}", [*cls.hosts, str(cls.vip)] if cls.hosts else [str(cls.vip)])
            protocols = (
                _tls_protocols("1.2", "1.3")
                if tls_override
                else _tls_protocols(cls.tls.min_version, cls.tls.max_version)
            )
            extra = []
            if cls.waf is not None:
                modsec = d / f"modsec-{name}.conf"
                modsec.write_text("\n".join([
                    f"SecRuleEngine {cls.waf.mode}",
                    "SecRequestBodyAccess On",
                    "SecRequestBodyLimitAction Reject",
                    'SecAction "id:900200,phase:1,nolog,pass,t:none,'
                    "setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'\"",
                    *(f"Include {path}" for path in CRS_INCLUDES),
                    "SecAuditEngine RelevantOnly",
                    f"SecAuditLog {d / 'logs' / f'modsec-{name}.log'}",
                    "",
                ]))  # fmt: skip
                extra += ["modsecurity on;", f"modsecurity_rules_file {modsec};"]
            if cls.rate_limit is not None:
                extra += [f"limit_req zone=rl_{name} burst={cls.rate_limit.burst} nodelay;", "limit_req_status 429;"]
            servers.append("\n".join([
                "  server {",
                f"    listen {cls.vip}:443 ssl;",
                f"    server_name {' '.join(cls.hosts) or '_'};",
                f"    ssl_certificate {crt}; ssl_certificate_key {key};",
                f"    ssl_protocols {protocols};",
                *(f"    {e}" for e in extra),
                "    location / { proxy_set_header Host $host;",
                f"      proxy_pass http://127.0.0.1:{BACKEND_PORT}/{name}/; }}",
                "  }",
            ]))  # fmt: skip
        zones = [
            f"  limit_req_zone $binary_remote_addr zone=rl_{n}:1m rate={c.rate_limit.requests_per_second}r/s;"
            for n, c in site.ingress.items() if c.rate_limit is not None
        ]  # fmt: skip
        conf = d / "nginx.conf"
        conf.write_text("\n".join([
            f"load_module {MODSEC_MODULE};",
            "worker_processes 1;",
            f"pid {d / 'nginx.pid'};",
            f"error_log {d / 'logs' / 'error.log'} warn;",
            "daemon off;",
            "events { worker_connections 256; }",
            "http {",
            f"  access_log {d / 'logs' / 'access.log'};",
            *(f"  {k} {d / 'tmp' / k};" for k in ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path",
                                                  "uwsgi_temp_path", "scgi_temp_path")),
            *zones,
            f"  server {{ listen 127.0.0.1:{BACKEND_PORT}; default_type text/plain;",
            "    location ~ ^/([^/]+)/ { return 200 \"$1 $host\\n\"; } }",
            *servers,
            "}",
            "",
        ]))  # fmt: skip
        plan.processes[f"nginx-{blade}"] = (blade, ["nginx", "-c", str(conf), "-p", str(d)])
        vrrp = []
        for i, (name, cls) in enumerate(site.ingress.items()):
            plan.vips[name] = str(cls.vip)
            seg = site.segments[site.blades[blade].segment]
            assert seg.cidr is not None
            vrrp.append("\n".join([
                f"vrrp_instance zg_{name} {{",
                "  state BACKUP",
                "  interface eth0",
                f"  virtual_router_id {51 + i}",
                f"  priority {150 - 50 * rank}",
                "  advert_int 1",
                f"  virtual_ipaddress {{ {cls.vip}/{seg.cidr.prefixlen} dev eth0 }}",
                "}",
            ]))  # fmt: skip
        ka = d / "keepalived.conf"
        ka.write_text(
            "global_defs {\n  router_id " + blade + "\n  enable_script_security\n}\n" + "\n".join(vrrp) + "\n"
        )
        plan.processes[f"keepalived-{blade}"] = (blade, [
            "keepalived", "-n", "-l", "-D", "-f", str(ka), "-p", str(d / "keepalived.pid"),
            "-r", str(d / "vrrp.pid"), "--no-syslog",
        ])  # fmt: skip
    return plan
