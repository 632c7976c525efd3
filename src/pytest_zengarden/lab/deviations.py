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
BladeRead = Callable[[str, str], str | None]
BladeFiles = dict[str, dict[str, str]]

# Blade deviations: what an operator (or an old image) leaves behind after the provisioner ran.
LEGACY_SSHD_DROP_IN = "/etc/ssh/sshd_config.d/10-legacy-passwords.conf"
RESERVED_FLAGS = ("system-reserved=", "kube-reserved=", "eviction-hard=")


def _sshd_password_auth(read: BladeRead) -> BladeFiles:
    # An earlier drop-in (sshd keeps the first value it reads) turns passwords back on for blade002.
    return {"blade002": {LEGACY_SSHD_DROP_IN: "# left by an old image\nPasswordAuthentication yes\n"}}


def _kubelet_no_reserve(read: BladeRead) -> BladeFiles:
    # blade005's k3s config loses the reserved-resources kubelet args (a hand edit), and k3s-agent restarts.
    import yaml

    config = "/etc/rancher/k3s/config.yaml"
    text = read("blade005", config)
    if text is None:
        raise ValueError("kubelet-no-reserve: blade005 has no k3s config to edit")
    doc = yaml.safe_load(text) or {}
    doc["kubelet-arg"] = [a for a in doc.get("kubelet-arg") or [] if not str(a).startswith(RESERVED_FLAGS)]
    return {"blade005": {config: yaml.safe_dump(doc, sort_keys=False)}}


STALE_SNAPSHOT_SECONDS = 3 * 86400  # etcd-snapshots-stale: older than any daily schedule's margin


@dataclass(frozen=True)
class Deviation:
    """A named way the lab differs from the site, with the control it should make fail."""

    name: str
    description: str
    breaks: str  # the control id a check should report
    router: Callable[[Records], None] | None = None
    proxy: Callable[[ProxyConfig], None] | None = None
    cluster: Callable[[Objects], None] | None = None
    # After provisioning: blade -> blade path -> new text, given a reader of the blades' files (blade, path).
    blades: Callable[[BladeRead], BladeFiles] | None = None


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
    objects.append(_default_deny("apps-dev-legacy"))  # isolated as designed: only Pod Security deviates


def _default_deny(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }  # fmt: skip


RESTRICTED = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}


def _namespace_without_default_deny(objects: Objects) -> None:
    # Created after provisioning (as `kubectl create namespace` would be), Pod Security labelled as designed:
    # nothing gave it a default-deny NetworkPolicy.
    objects.append({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps-dev-unguarded", "labels": RESTRICTED},
    })  # fmt: skip


def _unlabelled_namespace(objects: Objects) -> None:
    # `kubectl create namespace`, no Pod Security label; isolated as designed (only Pod Security deviates).  The
    # lab also removes the servers' admission defaults (lifecycle): nothing makes the namespace restricted.
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps-dev-unlabelled"}})
    objects.append(_default_deny("apps-dev-unlabelled"))


def _cluster_admin_binding(objects: Objects) -> None:
    objects.append({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "ci-deployer-cluster-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci-deployer", "namespace": "default"}],
    })  # fmt: skip


def _privileged_workload(objects: Objects) -> None:
    # The API admits a Deployment whose pod template breaks the enforced level (PodSecurity only warns on
    # workloads); its ReplicaSet's pods are then refused one by one.  Only the observed check sees it.  Hardened
    # otherwise (non-root, seccomp, capabilities dropped, read-only root): privileged, and so able to escalate.
    labels = {"app.kubernetes.io/name": "legacy-agent"}
    objects.append({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "legacy-agent", "namespace": "default", "labels": labels},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "agent", "image": "registry.k8s.io/pause:3.10",
                    "securityContext": {"privileged": True, "capabilities": {"drop": ["ALL"]},
                                        "readOnlyRootFilesystem": True},
                }],
            }},
        },
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
            "psa-unlabelled-no-default",
            "a namespace without Pod Security labels (apps-dev-unlabelled) while the servers' admission "
            "configuration sets no defaults: Kubernetes' built-in privileged applies",
            "K8S-PSA-RESTRICTED",
            cluster=_unlabelled_namespace,
        ),
        Deviation(
            "psa-privileged-namespace",
            "a namespace enforces 'privileged' without an exemption",
            "K8S-PSA-RESTRICTED",
            cluster=_privileged_namespace,
        ),
        Deviation(
            "privileged-workload",
            "a Deployment in a non-exempt namespace (default/legacy-agent) runs a privileged container",
            "K8S-PSA-RESTRICTED",
            cluster=_privileged_workload,
        ),
        # Applied by the lab at the end of `up` (stopped_processes): the last etcd member(s) are stopped.
        Deviation("etcd-member-stopped", "one etcd member is stopped (the cluster runs on 2 of 3)", "K8S-ETCD-HEALTH"),
        Deviation(
            "etcd-two-members-stopped",
            "two of three etcd members are stopped: quorum lost, the API cannot write",
            "K8S-ETCD-QUORUM",
        ),
        # Applied by the lab after it took the servers' snapshots (lab/etcd_snapshots.make_stale).
        Deviation(
            "etcd-snapshots-stale",
            f"every server's newest etcd snapshot is {STALE_SNAPSHOT_SECONDS // 86400} days old (the schedule stopped)",
            "K8S-ETCD-SNAPSHOTS",
        ),
        Deviation(
            "namespace-without-default-deny",
            "a namespace created after provisioning (apps-dev-unguarded) has no default-deny NetworkPolicy",
            "K8S-NETPOL-DEFAULT-DENY",
            cluster=_namespace_without_default_deny,
        ),
        Deviation(
            "cluster-admin-binding",
            "ClusterRoleBinding ci-deployer-cluster-admin gives cluster-admin to ServiceAccount default/ci-deployer",
            "K8S-RBAC",
            cluster=_cluster_admin_binding,
        ),
        # Applied by the lab after provisioning, over SSH: the second server's k3s config gets
        # kube-apiserver-arg anonymous-auth=true and k3s is restarted (the next --provision rewrites it).
        Deviation(
            "anonymous-auth",
            "the second server's kube-apiserver accepts anonymous requests (anonymous-auth=true in its k3s config)",
            "K8S-APISERVER-HARDENING",
        ),
        # Applied by the lab after provisioning (files written on the blade, its service reloaded).
        Deviation(
            "sshd-password-auth",
            "blade002's sshd accepts passwords (an earlier drop-in, 10-legacy-passwords.conf, turns them back on)",
            "HOST-SSHD",
            blades=_sshd_password_auth,
        ),
        Deviation(
            "kubelet-no-reserve",
            "blade005's kubelet runs without system/kube reservations or the designed eviction thresholds",
            "HOST-RESERVED",
            blades=_kubelet_no_reserve,
        ),
    )
}


def stopped_processes(names: list[str], etcd_members: list[str]) -> list[str]:
    """The lab processes the named deviations stop at the end of `up` (expected down while they apply)."""
    count = 2 if "etcd-two-members-stopped" in names else 1 if "etcd-member-stopped" in names else 0
    return [f"etcd-{m}" for m in reversed(etcd_members)][:count]


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
