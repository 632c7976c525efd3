"""The site file schema (version 1): the architecture design as data.

Every element that encodes a design statement is :class:`Traced`: it carries a stable ``control`` id and
the design ``section`` it comes from, and every check built from it reports both.  Unknown keys are
errors everywhere (``extra="forbid"``).  Cross-references (segment, blade and ingress names) are
checked by :mod:`pytest_zengarden.site.validate`, which also reports where in the file they are.

``zengarden site schema`` prints the JSON Schema generated from these models.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .design_sections import check_section

SCHEMA_VERSION = 1

_CONTROL_RE = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _control_id(value: str) -> str:
    if not _CONTROL_RE.match(value):
        raise ValueError(f"control id {value!r} must look like 'NET-SEG-01' (upper-case words joined by '-')")
    return value


def _dns_label(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a DNS label (lower-case letters, digits, '-', at most 63)")
    return value


def _hostname(value: str) -> str:
    if not _HOST_RE.match(value):
        raise ValueError(f"{value!r} is not a lower-case DNS name")
    return value


def _not_bool(value: object) -> object:
    """YAML ``true`` is not the number 1: refuse booleans where numbers are expected."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


def _as_list(value: object) -> object:
    """Let a single reference be written without brackets: ``from: home`` means ``from: [home]``."""
    return [value] if isinstance(value, str) else value


ControlId = Annotated[str, AfterValidator(_control_id)]
Section = Annotated[str, AfterValidator(check_section)]
Name = Annotated[str, AfterValidator(_dns_label)]
Hostname = Annotated[str, AfterValidator(_hostname)]
RefList = Annotated[list[str], BeforeValidator(_as_list)]
Port = Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=65535)]


class Model(BaseModel):
    """Base of every site-file object: immutable, unknown keys rejected."""

    # hide_input_in_errors: a literal credential written by mistake must not be echoed in an error.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True)


class Traced(Model):
    """A design statement: ``control`` is its stable id, ``section`` the design section it comes from."""

    control: ControlId = Field(description="Stable control id, e.g. NET-SEG-CLUSTER; unique in the site.")
    section: Section = Field(
        description="Design section this statement comes from, e.g. 'Layer 1 / Firewall Strategy'."
    )


# --------------------------------------------------------------------------------------------- network
class SegmentKind(StrEnum):
    """What a segment is: a router-attached LAN, a VPN, the internet side, or a cluster overlay."""

    LAN = "lan"
    VPN = "vpn"
    WAN = "wan"
    OVERLAY = "overlay"


class WireGuard(Model):
    """The router's WireGuard server for a VPN segment."""

    listen_port: Port = 51820
    mtu: int = Field(default=1420, ge=1280, le=9000)


class Segment(Traced):
    """A network segment from the design's segmentation table (or the internet, or a pod/service CIDR).

    For the WAN segment ``router_interface`` is the port the uplink is cabled to (``ether1``), whatever
    the provider runs over it.  The interface the router really reaches the internet through is read from
    the router's configuration, not stated here: a PPPoE client over the port (``pppoe-out1``), a VLAN on
    it, or the bridge it is a port of; with several, the one holding the default route.  The checks then
    expect *that* interface in the WAN interface list, as the masquerade's out-interface, and as the
    in/out-interface of internet traffic.  An LTE uplink is a port of its own: name it (``lte1``).
    """

    kind: SegmentKind
    cidr: IPv4Network | None = Field(
        default=None,
        description="The segment's subnet; the WAN segment may omit it (it is 'everything else').",
    )
    purpose: str = ""
    router_interface: str | None = Field(
        default=None,
        description=(
            "Router interface facing the segment (bridge, ether, wireguard); none for overlays. For the WAN: "
            "the port the uplink is cabled to; a PPPoE client, VLAN or bridge on it is read from the router."
        ),
    )
    router_address: IPv4Address | None = Field(
        default=None, description="The router's own address in the segment (the gateway)."
    )
    ports: list[str] = Field(default_factory=list, description="Physical router ports joined to the interface.")
    routed_via: str | None = Field(
        default=None, description="Overlay only: the segment whose hosts carry this CIDR (pods via cluster)."
    )
    wireguard: WireGuard | None = None

    @model_validator(mode="after")
    def _shape(self) -> Segment:
        if self.kind is not SegmentKind.WAN and self.cidr is None:
            raise ValueError(f"a {self.kind.value} segment needs a cidr")
        if self.kind is SegmentKind.OVERLAY:
            if self.routed_via is None:
                raise ValueError("an overlay segment needs routed_via (the segment whose hosts carry it)")
            if self.router_interface is not None:
                raise ValueError("an overlay segment has no router_interface")
        elif self.router_interface is None:
            raise ValueError(f"a {self.kind.value} segment needs router_interface")
        if self.wireguard is not None and self.kind is not SegmentKind.VPN:
            raise ValueError("wireguard settings belong to a vpn segment")
        return self


class Protocol(StrEnum):
    """Protocols the flow matrix distinguishes; ``any`` in a statement means all of them."""

    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"
    ANY = "any"


PortSpec = Annotated[
    int | str, BeforeValidator(_not_bool), Field(description="A port (443) or an inclusive range ('1000-2000').")
]


class FlowStatement(Traced):
    """One line of the firewall strategy: traffic from some segments to others, optionally narrowed."""

    from_: RefList = Field(alias="from", description="Source segment names, or '*' for every segment.")
    to: RefList = Field(description="Destination segment names, or '*' for every segment.")
    protocol: Protocol = Protocol.ANY
    ports: list[PortSpec] = Field(default_factory=list, description="Empty = every port (tcp/udp only).")
    description: str = ""

    @model_validator(mode="after")
    def _ports_need_protocol(self) -> FlowStatement:
        if self.ports and self.protocol not in (Protocol.TCP, Protocol.UDP):
            raise ValueError("ports can only be given with protocol tcp or udp")
        return self


class DefaultPolicy(Traced):
    """What happens to a flow no statement names (the design: default deny)."""

    verdict: Literal["deny", "allow"] = "deny"


class Firewall(Model):
    """The firewall *policy*: a default plus allow and deny statements; expanded into the flow matrix."""

    default: DefaultPolicy
    allow: list[FlowStatement] = Field(default_factory=list)
    deny: list[FlowStatement] = Field(
        default_factory=list,
        description="Flows the design forbids explicitly (e.g. no inbound to management); may not overlap an allow.",
    )


# ---------------------------------------------------------------------------------------------- router
class ApiEndpoint(Model):
    """The RouterOS API service the plugin talks to."""

    port: Port = 8728
    ssl_port: Port = 8729


class RestEndpoint(Model):
    """The RouterOS 7 REST API (``www``/``www-ssl`` service)."""

    scheme: Literal["http", "https"] = "https"
    port: Port = 443


class RouterService(Model):
    """Expected state of one ``/ip/service`` entry."""

    enabled: bool
    port: Port | None = None
    allowed_from: RefList = Field(
        default_factory=list,
        description=(
            "The segments whose hosts may reach the service, and no others: the service admits exactly their "
            "CIDRs (/ip/service address=) and the input chain lets them through. '*' means every segment, the "
            "internet included (address= left empty). [] (the default) means no segment, so an enabled service "
            "must name at least one: RouterOS cannot express 'nobody' (an empty address= admits everyone)."
        ),
    )

    @model_validator(mode="after")
    def _reachable_from_somewhere(self) -> RouterService:
        if self.enabled and not self.allowed_from:
            raise ValueError(
                "an enabled service needs allowed_from: the segments that may reach it ('*' for every segment); "
                "to have no segment reach it, set enabled: false"
            )
        return self

    def reachable_from(self, segments: Iterable[str]) -> list[str]:
        """The segments ``allowed_from`` names, ``*`` expanded to ``segments`` (the site's, in order)."""
        return list(segments) if "*" in self.allowed_from else list(self.allowed_from)


# The /ip/service entries every RouterOS 7 router has (all but www-ssl enabled at the factory).
ROUTEROS_SERVICES = ("telnet", "ftp", "www", "ssh", "www-ssl", "api", "winbox", "api-ssl")


class Hardening(Traced):
    """Which router services are on, on which port, and from where."""

    services: dict[str, RouterService] = Field(
        description=(
            "Expected state of /ip/service entries. A RouterOS service the site does not name is expected "
            "disabled (the design disables what it does not use), and is judged so: leaving it out never "
            "leaves it unchecked."
        )
    )

    @model_validator(mode="after")
    def _unnamed_services_are_off(self) -> Hardening:
        for name in ROUTEROS_SERVICES:
            self.services.setdefault(name, RouterService(enabled=False))
        return self

    # The certificate the TLS services (api-ssl, www-ssl) present; without one RouterOS falls back to
    # anonymous TLS, which authenticates nobody.
    certificate: str | None = None


class Nat(Traced):
    """Source NAT: masquerade only towards these segments (the WAN)."""

    masquerade_to: RefList


class RouterDns(Traced):
    """The router's resolver: upstream servers and whether it answers LAN clients."""

    servers: list[IPv4Address]
    allow_remote_requests: bool = True


class Router(Traced):
    """The MikroTik router: identity, management address, API/REST endpoints and expected settings."""

    identity: str
    model: str = ""
    routeros: str = Field(default="7", description="RouterOS major version.")
    address: IPv4Address = Field(description="Address the plugin reaches the router on.")
    api: ApiEndpoint = Field(default_factory=ApiEndpoint)
    rest: RestEndpoint = Field(default_factory=RestEndpoint)
    interface_lists: dict[str, RefList] = Field(
        description="RouterOS interface lists (LAN, WAN) as the segments whose interfaces are members."
    )
    hardening: Hardening
    nat: Nat
    dns: RouterDns
    remove_unmanaged: dict[Literal["filter", "nat"], list[str]] = Field(
        default_factory=dict,
        description=(
            "Per table, the chains whose entries zengarden did not create are removed by --provision "
            "(e.g. filter: [forward]). Opt-in: by default the operator's own entries are left alone and "
            "reported as unmanaged."
        ),
    )


# ---------------------------------------------------------------------------------------------- blades
class Role(StrEnum):
    """What a blade does in the cluster."""

    CONTROL_PLANE = "control-plane"
    ETCD = "etcd"
    WORKER = "worker"


class Blade(Traced):
    """One Raspberry Pi blade."""

    address: IPv4Address
    segment: str = "cluster"
    roles: list[Role] = Field(min_length=1)
    bootstrap: bool = Field(default=False, description="The server that ran --cluster-init.")
    router_port: str | None = Field(
        default=None,
        description="Router port the blade is cabled to directly (unset: the segment's switch on its first port).",
    )
    hardware: str = ""


# --------------------------------------------------------------------------------------------- cluster
class EtcdHealth(Traced):
    """What the running etcd must show besides its membership: one leader, close raft indexes, room to grow."""

    max_raft_index_spread: int = Field(
        default=1000, ge=0, description="Largest difference of raft index between members (a lagging member)."
    )
    max_db_size_mib: int = Field(default=1024, gt=0, description="Largest database file (dbSize) of a member.")
    min_quota_free_percent: float = Field(
        default=20, ge=0, lt=100, description="Room left below the backend quota (--quota-backend-bytes)."
    )
    heartbeat_ms: int | None = Field(default=None, gt=0, description="heartbeat-interval in effect (None: report).")
    election_timeout_ms: int | None = Field(default=None, gt=0, description="election-timeout in effect.")


class EtcdSnapshots(Traced):
    """k3s's scheduled etcd snapshots (``etcd-snapshot-*`` in the k3s config) and how fresh the newest must be."""

    schedule: str = Field(default="0 */12 * * *", description="etcd-snapshot-schedule-cron (k3s default).")
    retention: int = Field(default=5, ge=1, description="etcd-snapshot-retention (k3s default 5).")
    dir: str = Field(default="/var/lib/rancher/k3s/server/db/snapshots", description="etcd-snapshot-dir.")
    max_age_hours: float = Field(default=26, gt=0, description="The newest snapshot on each server is younger.")


class Etcd(Traced):
    """The etcd control-plane store: members and quorum."""

    members: list[str] = Field(min_length=1)
    quorum: int = Field(ge=1)
    client_port: Port = 2379
    peer_port: Port = 2380
    health: EtcdHealth | None = Field(default=None, description="Health limits (default: these defaults).")
    snapshots: EtcdSnapshots | None = Field(default=None, description="Snapshots (default: k3s's defaults).")


class Cni(Traced):
    """The CNI (Cilium replaces flannel)."""

    name: str
    version: str


PsaLevel = Literal["privileged", "baseline", "restricted"]


class PsaExemptions(Model):
    """Pod Security Admission exemptions (AdmissionConfiguration ``exemptions``)."""

    namespaces: list[Name] = Field(default_factory=list)
    usernames: list[str] = Field(default_factory=list)
    runtime_classes: list[str] = Field(default_factory=list)


class PodSecurity(Traced):
    """Pod Security Admission defaults for the cluster."""

    enforce: PsaLevel
    audit: PsaLevel
    warn: PsaLevel
    version: str = "latest"
    exemptions: PsaExemptions = Field(default_factory=PsaExemptions)


class MetalLB(Traced):
    """MetalLB's address pool (the ingress VIPs come from it)."""

    pool: str = "default-pool"
    first: IPv4Address
    last: IPv4Address
    l2_advertisement: str = "default-advertisement"

    @model_validator(mode="after")
    def _ordered(self) -> MetalLB:
        if self.first > self.last:
            raise ValueError(f"pool range is empty: first {self.first} is after last {self.last}")
        return self


class ApiServerHardening(Traced):
    """API-server settings the design asks for (Defense in Depth / Kubernetes and Audit)."""

    secrets_encryption: bool = True
    audit_log: bool = True
    audit_policy_level: Literal["None", "Metadata", "Request", "RequestResponse"] = "Metadata"
    admission_plugins: list[str] = Field(default_factory=lambda: ["NodeRestriction"])
    oidc_issuer: str | None = None
    oidc_username_claim: str = "email"
    oidc_groups_claim: str | None = Field(
        default=None, description="The OIDC claim groups come from (kube-apiserver --oidc-groups-claim); none: unset."
    )


class NetpolDefaultDeny(Model):
    """Which directions every non-exempt namespace denies by default (a policy selecting every pod, no rules)."""

    ingress: bool = True
    egress: bool = False


class NetpolAllow(Model):
    """One NetworkPolicy a namespace may hold besides its default-deny: what it lets through, to which pods.

    Peers are pods of ``namespaces`` (``"*"``: every namespace) and addresses in ``cidrs``; with neither,
    the rule admits every source (or, for egress, every destination).  No ``ports``: every port.
    """

    name: Name
    description: str = ""
    direction: Literal["ingress", "egress"] = "ingress"
    pod_selector: dict[str, str] = Field(default_factory=dict, description="matchLabels of the pods it applies to")
    namespaces: list[str] = Field(default_factory=list)
    cidrs: list[IPv4Network] = Field(default_factory=list)
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    ports: list[Port] = Field(default_factory=list)


class NetworkPolicies(Traced):
    """Trust Boundary 3: namespace isolation by default-deny NetworkPolicies, and only the listed allowances.

    ``exempt_namespaces`` left unset means the Pod Security exemptions (the system namespaces trusted to
    run privileged components are the ones left without isolation); list them to decide otherwise.
    """

    control: ControlId = "K8S-NETPOL-DEFAULT-DENY"
    section: Section = "Security / Trust Boundary 3: Network Policies"
    default_deny: NetpolDefaultDeny = Field(default_factory=NetpolDefaultDeny)
    exempt_namespaces: list[Name] | None = None
    allow: dict[Name, list[NetpolAllow]] = Field(default_factory=dict)


class RbacSubject(Model):
    """A subject of a (Cluster)RoleBinding: ``User``, ``Group`` or ``ServiceAccount`` (with its namespace)."""

    kind: Literal["User", "Group", "ServiceAccount"]
    name: str = Field(min_length=1)
    namespace: Name | None = None

    @model_validator(mode="after")
    def _sa_namespace(self) -> RbacSubject:
        if self.kind == "ServiceAccount" and self.namespace is None:
            raise ValueError(f"ServiceAccount {self.name!r} needs its namespace")
        return self


def _builtin_cluster_admins() -> list[RbacSubject]:
    # kube-apiserver's RBAC bootstrap (re)creates ClusterRoleBinding cluster-admin -> Group system:masters.
    return [RbacSubject(kind="Group", name="system:masters")]


class Rbac(Traced):
    """Least privilege: who may hold cluster-admin, and where wildcard roles may be bound to service accounts.

    ``cluster_admins`` is the whole list: the default is Kubernetes' own binding (Group system:masters, which
    kube-apiserver recreates at every start); a site listing its own admins keeps that entry.
    """

    control: ControlId = "K8S-RBAC"
    section: Section = "Security / Defense in Depth: Kubernetes"
    cluster_admins: list[RbacSubject] = Field(default_factory=_builtin_cluster_admins)
    wildcard_exempt_namespaces: list[Name] = Field(default_factory=lambda: ["kube-system"])


class ControlPlaneHa(Traced):
    """Every server's API answers on its own address (with etcd), its certificate covers the cluster's names,
    all run the site's version, and the controllers' leader leases are held and fresh."""

    control: ControlId = "K8S-CONTROL-PLANE-HA"
    section: Section = "Scalability / High Availability"
    lease_slack_s: float = Field(default=10.0, ge=0, description="Grace past a lease's duration before stale.")


# --------------------------------------------------------------------------------- blade hardening
HOST_SECTION = "Layer 2 / Node Roles"


class SshdHardening(Traced):
    """What ``sshd -T`` on every blade must report (keys only, no passwords, no root login)."""

    password_authentication: bool = False
    kbd_interactive_authentication: bool = False
    permit_root_login: Literal["no", "prohibit-password", "forced-commands-only", "yes"] = "no"
    pubkey_authentication: bool = True
    drop_in: str = Field(
        default="/etc/ssh/sshd_config.d/50-zengarden.conf",
        description="Where --provision writes these settings (sshd keeps the first value it reads: the "
        "drop-in must be included before the main file sets them, as Debian's Include line does).",
    )


class EtcdDisk(Traced):
    """The etcd data directory is on a dedicated, non-rotational mount of at least ``min_size_gib``."""

    path: str = Field(default="/var/lib/rancher/k3s/server/db", pattern=r"^/")
    min_size_gib: float = Field(default=10, gt=0)
    non_rotational: bool = True


def _kv(value: object) -> object:
    """``cpu=250m,memory=512Mi`` may be written as that string or as a mapping."""
    if isinstance(value, str):
        pairs = [p.strip() for p in value.split(",") if p.strip()]
        return dict(p.split("=", 1) if "=" in p else p.split("<", 1) for p in pairs)
    return value


KubeletMap = Annotated[dict[str, str], BeforeValidator(_kv)]


class ReservedResources(Traced):
    """kubelet reservations in effect (design: Resource Allocation, 'System: 1GB RAM per node')."""

    system_reserved: KubeletMap = Field(default_factory=lambda: {"cpu": "250m", "memory": "512Mi"})
    kube_reserved: KubeletMap = Field(default_factory=lambda: {"cpu": "250m", "memory": "512Mi"})
    eviction_hard: KubeletMap = Field(
        default_factory=lambda: {"memory.available": "200Mi", "nodefs.available": "10%"},
        description="signal -> threshold (kubelet --eviction-hard=signal<threshold,...).",
    )


class KernelDefaults(Traced):
    """kubelet runs with --protect-kernel-defaults and the kernel has the values it then requires."""

    protect_kernel_defaults: bool = True
    sysctls: dict[str, str] = Field(
        default_factory=lambda: {
            "vm.panic_on_oom": "0", "vm.overcommit_memory": "1", "kernel.panic": "10", "kernel.panic_on_oops": "1",
        }
    )  # fmt: skip
    file: str = Field(default="/etc/sysctl.d/90-kubelet.conf", pattern=r"^/")


class TimeSync(Traced):
    """The blade's clock is synchronised (NTP) and within ``max_offset_s`` of the checking host's."""

    max_offset_s: float = Field(default=1.0, gt=0)


class AppArmorPolicy(Traced):
    """AppArmor is enabled in the blade's kernel with at least ``min_profiles`` profiles loaded."""

    min_profiles: int = Field(default=1, ge=0)


class K3sInEffect(Traced):
    """What the running k3s was started with (components disabled, kubelet flags) beyond the other statements."""

    disable: list[str] = Field(default_factory=lambda: ["servicelb", "traefik"])


def _host(cls: type[Traced], control: str, section: str = HOST_SECTION) -> object:
    return Field(default_factory=lambda: cls(control=control, section=section))


class NodeHardening(Model):
    """Blade hardening the site states (every part optional: defaults follow the design and homelab)."""

    k3s: K3sInEffect = _host(K3sInEffect, "HOST-K3S-EFFECT", "Layer 2 / Kubernetes Configuration")  # type: ignore[assignment]
    etcd_disk: EtcdDisk = _host(EtcdDisk, "HOST-ETCD-DISK", "Layer 2 / Kubernetes Configuration")  # type: ignore[assignment]
    reserved: ReservedResources = _host(ReservedResources, "HOST-RESERVED")  # type: ignore[assignment]
    kernel: KernelDefaults = _host(KernelDefaults, "HOST-KERNEL", "Security / Defense in Depth: Kubernetes")  # type: ignore[assignment]
    sshd: SshdHardening = _host(SshdHardening, "HOST-SSHD", "Security / Defense in Depth: Network")  # type: ignore[assignment]
    time: TimeSync = _host(TimeSync, "HOST-TIME", "Scalability / High Availability")  # type: ignore[assignment]
    apparmor: AppArmorPolicy = _host(AppArmorPolicy, "HOST-APPARMOR", "Security / Defense in Depth: Application")  # type: ignore[assignment]


class Cluster(Traced):
    """The k3s cluster."""

    distribution: Literal["k3s"] = "k3s"
    version: Annotated[str, Field(pattern=r"^v1\.\d+\.\d+\+k3s\d+$")]
    api_port: Port = 6443
    api_endpoint: Hostname
    control_plane: list[str] = Field(min_length=1)
    etcd: Etcd
    pod_network: str = Field(description="The overlay segment holding pod addresses.")
    service_network: str = Field(description="The overlay segment holding service addresses.")
    cni: Cni
    pod_security: PodSecurity
    metallb: MetalLB
    apiserver: ApiServerHardening
    node_hardening: NodeHardening = Field(
        default_factory=NodeHardening, description="Blade hardening checked over SSH (sshd, etcd disk, kubelet)."
    )
    network_policies: NetworkPolicies = Field(default_factory=NetworkPolicies)
    rbac: Rbac = Field(default_factory=Rbac)
    high_availability: ControlPlaneHa = Field(default_factory=ControlPlaneHa)

    @property
    def netpol_exempt(self) -> list[str]:
        """Namespaces left without default-deny: ``network_policies.exempt_namespaces``, else the PSA exemptions."""
        listed = self.network_policies.exempt_namespaces
        return list(self.pod_security.exemptions.namespaces if listed is None else listed)

    @property
    def kubernetes_minor(self) -> str:
        """``1.32`` for ``v1.32.4+k3s1``."""
        major, minor = self.version[1:].split(".")[:2]
        return f"{major}.{minor}"


# --------------------------------------------------------------------------------------------- ingress
class TlsPolicy(Model):
    """TLS versions an ingress may negotiate."""

    min_version: Literal["1.2", "1.3"] = "1.3"
    max_version: Literal["1.2", "1.3"] = "1.3"


class Waf(Model):
    """The web application firewall in front of an ingress class."""

    engine: Literal["modsecurity"] = "modsecurity"
    ruleset: Literal["owasp-crs"] = "owasp-crs"
    mode: Literal["On", "DetectionOnly"] = "On"


class RateLimit(Model):
    """Per-client request rate limit at the ingress."""

    requests_per_second: int = Field(ge=1)
    burst: int = Field(default=0, ge=0)


class IngressClass(Traced):
    """An ingress class (internal or external) with its address and edge policy."""

    controller: str = Field(description="IngressClass spec.controller, e.g. k8s.io/ingress-nginx-internal.")
    namespace: Name
    service: Name
    vip: IPv4Address = Field(description="Its MetalLB address.")
    exposure: Literal["lan", "cloudflare-tunnel"] = "lan"
    tls: TlsPolicy = Field(default_factory=TlsPolicy)
    waf: Waf | None = None
    rate_limit: RateLimit | None = None
    hosts: list[Hostname] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------------- dns
class Zone(Traced):
    """A DNS zone with who is authoritative and who writes it."""

    name: Hostname
    visibility: Literal["public", "internal"]
    authority: Literal["cloudflare", "router"]
    writer: Literal["external-dns", "cloudflared", "manual"]
    via_proxy: bool = Field(default=False, description="external-dns writes through the restrictive proxy.")


class ProxyRule(Model):
    """One allowed call through the restrictive proxy: a method and a minimatch path glob."""

    method: Literal["GET", "PUT", "POST", "PATCH", "DELETE"]
    path: str = Field(pattern=r"^/")


class RestrictiveProxy(Traced):
    """The proxy between external-dns and the router's REST API."""

    host: Hostname = Field(description="Host header the proxy serves.")
    blades: list[str] = Field(min_length=1, description="Blades the proxy runs on.")
    port: Port = 5555
    mode: Literal["RESTRICT", "WATCH"] = "RESTRICT"
    upstream: str = Field(pattern=r"^https?://", description="Router REST base URL the proxy forwards to.")
    allow: list[ProxyRule] = Field(min_length=1)


class HostRecords(Traced):
    """Static A records the router serves for every blade: ``<blade>.<zone>``."""

    zone: Hostname


class Dns(Model):
    """DNS zones, the blade records and the writer path of the internal zone."""

    zones: list[Zone] = Field(min_length=1)
    blade_records: HostRecords
    ingress_records: Traced = Field(description="Every internal ingress host resolves to its class VIP.")
    proxy: RestrictiveProxy


# --------------------------------------------------------------------------------------------- secrets
class Kdf(Traced):
    """The key-derivation function of the DerivedSecrets operator."""

    algorithm: Literal["argon2id"] = "argon2id"
    version: Literal[19] = 19
    time_cost: int = Field(ge=1)
    memory_kib: int = Field(ge=8)
    parallelism: int = Field(ge=1)
    hash_len: int = Field(default=32, ge=16)


class MasterPasswordRef(Model):
    """Where the master password lives in the cluster (never its value)."""

    namespace: Name
    secret: Name
    key: str = "masterPassword"


class DerivedKey(Model):
    """One key of a DerivedSecret."""

    type: Literal["password", "encryption-key", "custom"]
    length: int | None = Field(default=None, ge=22, le=256)


class DerivedSecret(Traced):
    """A DerivedSecret the cluster must hold."""

    namespace: Name
    name: Name
    keys: dict[str, DerivedKey] = Field(min_length=1)


class Secrets(Model):
    """Derived secrets: the KDF, where the master password is, and the secrets derived from it."""

    kdf: Kdf
    master: MasterPasswordRef
    derived: list[DerivedSecret] = Field(default_factory=list)


# ------------------------------------------------------------------------------- observability, drills
class Observability(Traced):
    """Metrics and alerting endpoints."""

    metrics: Literal["victoria-metrics"] = "victoria-metrics"
    node_exporter_port: Port = 9100
    alertmanager: bool = True
    alert_receiver: str = "gotify"


class Drill(Traced):
    """A failover drill: what to break, what must stay true meanwhile, and how long it may take."""

    kind: Literal["etcd-member-loss", "blade-loss", "vip-move"]
    target: str = Field(description="A blade name (etcd-member-loss, blade-loss) or ingress class (vip-move).")
    steady_state: list[str] = Field(min_length=1, description="Checks that must hold during and after the drill.")
    max_duration_s: int = Field(default=120, ge=1, le=900)


# ------------------------------------------------------------------------------------------- inventory
class SecretRef(Model):
    """Where a credential comes from: an environment variable or a file.  Never the credential itself."""

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env: VARIABLE or file: PATH")
        return self


def _no_literal_secret(value: object) -> object:
    if isinstance(value, str | int):
        raise ValueError("credentials never live in the site file; write {env: VARIABLE} or {file: PATH} instead")
    return value


SecretSource = Annotated[SecretRef, BeforeValidator(_no_literal_secret)]


class RouterAccess(Model):
    """How to log in to the router."""

    username: str = "admin"
    password: SecretSource
    transport: Literal["api-ssl", "api", "rest"] = "api-ssl"
    ca_file: Path | None = Field(default=None, description="CA bundle for API-SSL/HTTPS; system store if unset.")
    verify_tls: bool = True
    timeout_s: float = Field(default=5.0, gt=0, le=120)


class SshAccess(Model):
    """How to reach the blades over SSH (key authentication)."""

    user: str
    key_file: Path
    known_hosts: Path | None = Field(default=None, description="known_hosts file to verify blades against.")
    port: Port = 22
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class KubeAccess(Model):
    """Which kubeconfig (and context) reaches the cluster."""

    kubeconfig: Path
    context: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class EtcdAccess(Model):
    """Client certificate files for etcd."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    timeout_s: float = Field(default=5.0, gt=0, le=120)


class ProbeVantage(Model):
    """A host of one segment that active probes start from (and listen on), reached over SSH."""

    host: IPv4Address = Field(description="The host's address in its segment (probes to the segment target it).")
    user: str | None = Field(default=None, description="SSH user (default: inventory.blades.user).")
    key_file: Path | None = Field(default=None, description="SSH key (default: inventory.blades.key_file).")
    port: Port = 22


class Inventory(Model):
    """Where each target's credentials come from on a live site."""

    router: RouterAccess | None = None
    blades: SshAccess | None = None
    cluster: KubeAccess | None = None
    etcd: EtcdAccess | None = None
    probes: dict[str, ProbeVantage] | None = Field(
        default=None, description="Active firewall probes: a vantage host per segment (segment name -> host)."
    )
    router_wan: list[IPv4Address] | None = Field(
        default=None, description="The router's WAN address(es), so probes know what goes through it."
    )


# ------------------------------------------------------------------------------------------------ site
class Site(Model):
    """A site file: the whole design of one homelab."""

    version: Literal[1] = Field(description="Schema version; this plugin reads version 1.")
    name: Name
    domain: Hostname
    design: str = Field(default="", description="The design document this site states.")
    segments: dict[Name, Segment] = Field(min_length=2)
    firewall: Firewall
    router: Router
    blades: dict[Name, Blade] = Field(min_length=1)
    cluster: Cluster
    ingress: dict[Name, IngressClass] = Field(default_factory=dict)
    dns: Dns
    secrets: Secrets
    observability: Observability
    drills: dict[Name, Drill] = Field(default_factory=dict)
    inventory: Inventory = Field(default_factory=Inventory)

    def blades_with(self, role: Role | str) -> list[str]:
        """Names of the blades that have ``role``, in site order."""
        wanted = Role(role)
        return [name for name, blade in self.blades.items() if wanted in blade.roles]
