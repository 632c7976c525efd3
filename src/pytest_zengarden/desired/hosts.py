"""The blade files a site implies (pure): ``/etc/rancher/k3s/config.yaml`` for servers and agents, sysctls.

Mirrors how the homelab's playbook writes them (homelab facts §4.2-4.3), with every value taken from
the site, so the host checks (:mod:`pytest_zengarden.checks.hosts`) pass on what this renders.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..facts.etcd import SNAPSHOT_DIR
from ..facts.host import AUDIT_POLICY, PSA_CONFIG
from ..site.schema import Role, Site

# The limits the recorded blades configure for EventRateLimit (only written when the site enables it).
EVENT_RATE_LIMITS = [
    {"type": "Server", "qps": 50, "burst": 100},
    {"type": "Namespace", "qps": 10, "burst": 20},
    {"type": "User", "qps": 20, "burst": 30},
]
K3S_SYSCTLS = {"vm.panic_on_oom": "0", "vm.overcommit_memory": "1", "kernel.panic": "10", "kernel.panic_on_oops": "1"}


def k3s_config(site: Site, blade: str) -> dict[str, Any]:
    """The k3s configuration of ``blade`` as data (server settings for control-plane blades)."""
    b = site.blades[blade]
    c = site.cluster
    address = str(b.address)
    if Role.CONTROL_PLANE not in b.roles:
        first = site.blades[c.control_plane[0]].address
        return {
            "server": f"https://{first}:{c.api_port}",
            "node-external-ip": address,
            "protect-kernel-defaults": True,
            "kubelet-arg": ["pod-max-pids=1000", f"node-ip={address}", *kubelet_reserved_args(site)],
        }
    hard = c.apiserver
    pods = site.segments[c.pod_network].cidr
    services = site.segments[c.service_network].cidr
    assert pods is not None and services is not None
    first_service_ip = str(services.network_address + 1)
    apiserver_args = [
        f"enable-admission-plugins={','.join(hard.admission_plugins)}",
        f"admission-control-config-file={PSA_CONFIG}",
    ]
    if hard.audit_log:
        apiserver_args += [
            "audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log",
            f"audit-policy-file={AUDIT_POLICY}",
            "audit-log-maxage=30",
            "audit-log-maxbackup=10",
            "audit-log-maxsize=100",
        ]
    if hard.oidc_issuer:
        apiserver_args += [f"oidc-issuer-url={hard.oidc_issuer}", f"oidc-username-claim={hard.oidc_username_claim}"]
    cfg: dict[str, Any] = {
        "data-dir": "/var/lib/rancher/k3s",
        "write-kubeconfig-mode": "600",
    }
    if c.cni.name != "flannel":
        cfg |= {"flannel-backend": "none", "disable-network-policy": True}
    cfg |= {
        "disable": ["servicelb", "traefik"],
        "cluster-cidr": str(pods),
        "service-cidr": str(services),
        "tls-san": [address, blade, f"{blade}.{site.domain}", first_service_ip, "127.0.0.1", "localhost",
                    "kubernetes", "kubernetes.default", "kubernetes.default.svc", c.api_endpoint],
        "node-external-ip": address,
        "protect-kernel-defaults": True,
        "secrets-encryption": hard.secrets_encryption,
        "kube-apiserver-arg": apiserver_args,
        "kubelet-arg": ["streaming-connection-idle-timeout=5m", "pod-max-pids=1000", f"node-ip={address}",
                        *kubelet_reserved_args(site)],
    }  # fmt: skip
    if b.bootstrap:
        cfg["cluster-init"] = True
    snaps = c.etcd.snapshots
    if snaps is not None and blade in c.etcd.members:
        # The site's snapshot schedule (k3s's own defaults otherwise: every 12 h, 5 kept).
        cfg["etcd-snapshot-schedule-cron"] = snaps.schedule
        cfg["etcd-snapshot-retention"] = snaps.retention
        if snaps.dir != SNAPSHOT_DIR:
            cfg["etcd-snapshot-dir"] = snaps.dir
    return cfg


def k3s_config_text(site: Site, blade: str) -> str:
    """``/etc/rancher/k3s/config.yaml`` for ``blade``."""
    return yaml.safe_dump(k3s_config(site, blade), sort_keys=False)


def sysctl_text(site: Site | None = None) -> str:
    """``/etc/sysctl.d/90-kubelet.conf`` as the homelab's playbook writes it (the site's values, if given)."""
    values = site.cluster.node_hardening.kernel.sysctls if site is not None else K3S_SYSCTLS
    return "".join(f"{k}={v}\n" for k, v in values.items())


def kubelet_reserved_args(site: Site) -> list[str]:
    """``kubelet-arg`` entries for the site's reserved resources and hard eviction thresholds."""
    r = site.cluster.node_hardening.reserved
    out = []
    for flag, values, sep in (
        ("system-reserved", r.system_reserved, "="),
        ("kube-reserved", r.kube_reserved, "="),
        ("eviction-hard", r.eviction_hard, "<"),
    ):
        if values:
            out.append(f"{flag}={','.join(f'{k}{sep}{v}' for k, v in values.items())}")
    return out


def sshd_dropin_text(site: Site) -> str:
    """The sshd drop-in with the site's settings (sshd keeps the first value it reads: include it first)."""
    s = site.cluster.node_hardening.sshd
    yes_no = {True: "yes", False: "no"}
    return (
        f"# zengarden: {s.control} ({s.section})\n"
        f"PasswordAuthentication {yes_no[s.password_authentication]}\n"
        f"KbdInteractiveAuthentication {yes_no[s.kbd_interactive_authentication]}\n"
        f"PermitRootLogin {s.permit_root_login}\n"
        f"PubkeyAuthentication {yes_no[s.pubkey_authentication]}\n"
    )


def psa_admission(site: Site) -> dict[str, Any]:
    """The API server's AdmissionConfiguration: PodSecurity defaults and exemptions from the site, and the
    EventRateLimit limits when the site enables that plugin (kube-apiserver 1.32 dereferences a missing
    configuration and panics at start-up)."""
    psa = site.cluster.pod_security
    defaults: dict[str, str] = {}
    for mode in ("enforce", "audit", "warn"):
        defaults[mode] = getattr(psa, mode)
        defaults[f"{mode}-version"] = psa.version
    doc: dict[str, Any] = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [{
            "name": "PodSecurity",
            "configuration": {
                "apiVersion": "pod-security.admission.config.k8s.io/v1",
                "kind": "PodSecurityConfiguration",
                "defaults": defaults,
                "exemptions": {
                    "usernames": list(psa.exemptions.usernames),
                    "runtimeClasses": list(psa.exemptions.runtime_classes),
                    "namespaces": list(psa.exemptions.namespaces),
                },
            },
        }],
    }  # fmt: skip
    if "EventRateLimit" in site.cluster.apiserver.admission_plugins:
        doc["plugins"].append({
            "name": "EventRateLimit",
            "configuration": {
                "apiVersion": "eventratelimit.admission.k8s.io/v1alpha1", "kind": "Configuration",
                "limits": EVENT_RATE_LIMITS,
            },
        })  # fmt: skip
    return doc


def audit_policy(site: Site) -> dict[str, Any]:
    """The audit Policy: one catch-all rule at the site's level."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "rules": [{"level": site.cluster.apiserver.audit_policy_level}],
    }


def server_files(site: Site) -> dict[str, str]:
    """Files a control-plane blade holds besides its k3s config: absolute path -> content."""
    files = {PSA_CONFIG: yaml.safe_dump(psa_admission(site), sort_keys=False)}
    if site.cluster.apiserver.audit_log:
        files[AUDIT_POLICY] = yaml.safe_dump(audit_policy(site), sort_keys=False)
    return files
