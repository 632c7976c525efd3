"""The lab's Kubernetes control plane: an etcd cluster and kube-apiservers inside the blade namespaces.

Three steps, so the caller (``zengarden lab up``) keeps control of processes and state:

* :func:`plan_control_plane` (pure): from the site, the argv of every etcd member and API server, the
  certificates to issue, the configuration files to render and where each file goes;
* :func:`write_control_plane_files`: issues a PKI under ``STATE/pki-k8s`` (openssl, one CA per trust
  domain as k3s has: etcd server, etcd peer, API serving, API clients) and lays the files out at the
  paths k3s uses on a server node, under ``STATE/hosts/<blade>/var/lib/rancher/k3s/server/...``, so the
  host checks read the lab's blades like real ones;
* :func:`start_control_plane`: starts the processes through the caller's ``spawn`` and waits (bounded)
  until etcd serves and every API server's ``/readyz`` answers 200, probing from inside the namespaces.

The binaries come from ``./scripts/build-k8s`` (see :func:`binaries_dir`).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, ip_address
from pathlib import Path
from typing import Any

import yaml

from ..desired.hosts import audit_policy as desired_audit_policy
from ..desired.hosts import psa_admission as desired_psa
from ..site.schema import Site
from .netns import LabError, run
from .pki import ensure_ca

DEFAULT_CACHE = Path("/var/cache/zengarden")
DEFAULT_K8S_VERSION = "v1.32.13"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
K3S_SERVER = Path("var/lib/rancher/k3s/server")  # relative to a blade's root in STATE/hosts/<blade>
OIDC_CLIENT_ID = "zengarden-lab"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"  # what k3s sets
ADMIN_CN, ADMIN_ORG = "zengarden-admin", "system:masters"
ETCD_METRICS = "http://127.0.0.1:2381"
# k3s runs its embedded etcd with these timings (ms) rather than etcd's 100/1000: they tolerate a loaded
# host, which a lab on two cores with three API servers starting at once certainly is.
ETCD_HEARTBEAT_MS, ETCD_ELECTION_MS = 500, 5000
Spawn = Callable[[str, str, list[str]], None]
"""``spawn(name, ns, argv)``: run ``argv`` in network namespace ``ns`` as the supervised process ``name``."""


def _cache_bin_dir() -> Path:
    cache = Path(os.environ.get("ZG_CACHE") or DEFAULT_CACHE)
    return cache / f"k8s-{os.environ.get('K8S_VERSION') or DEFAULT_K8S_VERSION}" / "bin"


def binaries_dir() -> Path:
    """Where the control-plane binaries are: ``$ZG_CACHE/k8s-$K8S_VERSION/bin``; raises if any is missing."""
    path = _cache_bin_dir()
    missing = [b for b in BINARIES if not os.access(path / b, os.X_OK)]
    if missing:
        raise LabError(
            f"the Kubernetes control-plane binaries {missing} are missing from {path}; "
            "build them with ./scripts/build-k8s (it honours $ZG_CACHE and $K8S_VERSION)"
        )
    return path


# --------------------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class CertSpec:
    """One certificate to issue into the PKI directory as ``<name>.crt``/``<name>.key``."""

    name: str
    ca: str  # the CA directory (under the PKI directory) that signs it
    cn: str
    org: str | None = None
    sans: tuple[str, ...] = ()
    usages: tuple[str, ...] = ("serverAuth",)  # extendedKeyUsage


@dataclass(frozen=True)
class ControlPlaneProcess:
    """A process to run: ``argv`` in namespace ``ns`` on ``blade`` (reachable at ``address``)."""

    name: str
    blade: str
    ns: str
    address: str
    argv: tuple[str, ...]
    # API servers: the lab's own flags alone (etcd, certificates, ports, service accounts, service CIDR, and
    # k3s's fixed defaults); ``argv`` is these plus what the site's k3s config adds on a converged blade.
    plumbing: tuple[str, ...] = ()


@dataclass
class ControlPlanePlan:
    """Everything the control plane needs, computed from the site; nothing here touches the machine."""

    state_dir: Path
    pki_dir: Path
    cas: dict[str, str]  # CA directory -> its common name
    certs: list[CertSpec]
    service_account_key: Path  # in the PKI; RSA, shared by every API server
    encryption_config: Path | None  # in the PKI; its random key is made once, then reused
    copies: dict[Path, Path]  # k3s path on a blade -> the PKI file it is a copy of
    files: dict[Path, str]  # rendered configuration files, by path
    data_dirs: list[Path]  # etcd data directories (mode 0700)
    etcd: list[ControlPlaneProcess]
    apiservers: list[ControlPlaneProcess]
    api_server_url: str  # the first control-plane blade's API, as the admin kubeconfig names it
    kubeconfig: Path
    admin_cert: Path
    admin_key: Path
    server_ca: Path  # signs the API servers' serving certificates
    etcd_endpoints: list[str]
    etcd_ca: Path
    etcd_cert: Path  # the API servers' etcd client certificate, also handed to `zengarden lab env`
    etcd_key: Path
    oidc: bool = False  # whether the API servers get the site's OIDC flags
    notes: list[str] = field(default_factory=list)
    # Each member's configuration file (``STATE/hosts/<blade>/var/lib/rancher/k3s/server/db/etcd/config``).
    etcd_configs: dict[Path, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """What `zengarden lab env` exports for clients of this control plane."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "ZG_ETCD_CACERT": str(self.etcd_ca),
            "ZG_ETCD_CERT": str(self.etcd_cert),
            "ZG_ETCD_KEY": str(self.etcd_key),
            "ZG_ETCD_ENDPOINTS": ",".join(self.etcd_endpoints),
        }

    def process(self, name: str) -> ControlPlaneProcess:
        """The etcd member or API server called ``name`` (``etcd-blade002``, ``kube-apiserver-blade001``)."""
        for proc in (*self.etcd, *self.apiservers):
            if proc.name == name:
                return proc
        raise LabError(f"no control-plane process {name!r}")


def _ca(pki: Path, name: str) -> tuple[Path, Path]:
    return pki / name / "ca.crt", pki / name / "ca.key"


def _cert(pki: Path, name: str) -> tuple[Path, Path]:
    return pki / f"{name}.crt", pki / f"{name}.key"


def plan_control_plane(
    site: Site, blade_ns: Mapping[str, str], state_dir: Path, *, oidc: bool = True
) -> ControlPlanePlan:
    """The control plane for ``site`` with blade ``b`` in namespace ``blade_ns[b]``, state under ``state_dir``.

    ``oidc=False`` leaves out the site's OIDC flags (an escape hatch: the lab cannot reach the issuer).
    """
    c = site.cluster
    pki = state_dir / "pki-k8s"
    bins = _cache_bin_dir()  # only located here; start_control_plane checks it exists
    hosts = state_dir / "hosts"
    missing = [b for b in (*c.etcd.members, *c.control_plane) if b not in blade_ns]
    if missing:
        raise LabError(f"no network namespace given for blades {sorted(set(missing))}")

    def tls(blade: str) -> Path:
        return hosts / blade / K3S_SERVER / "tls"

    def addr(blade: str) -> str:
        return str(site.blades[blade].address)

    svc_net = site.segments[c.service_network].cidr
    if svc_net is None:
        raise LabError(f"the service network {c.service_network!r} has no CIDR")
    svc_cidr: IPv4Network = svc_net
    first_service_ip = str(next(svc_cidr.hosts()))

    cas = {
        "etcd-server-ca": "zengarden-lab etcd-server-ca",
        "etcd-peer-ca": "zengarden-lab etcd-peer-ca",
        "server-ca": "zengarden-lab server-ca",
        "client-ca": "zengarden-lab client-ca",
    }
    certs: list[CertSpec] = []
    copies: dict[Path, Path] = {}
    files: dict[Path, str] = {}
    data_dirs: list[Path] = []
    etcd_configs: dict[Path, str] = {}

    # etcd: a server certificate (also a client one: etcd's own gateway dials itself) and a peer certificate.
    peer_urls = {m: f"https://{addr(m)}:{c.etcd.peer_port}" for m in c.etcd.members}
    etcd_endpoints = [f"https://{addr(m)}:{c.etcd.client_port}" for m in c.etcd.members]
    etcd: list[ControlPlaneProcess] = []
    for m in c.etcd.members:
        etcd_sans = (m, "localhost", addr(m), "127.0.0.1")
        certs.append(CertSpec(f"etcd-server-{m}", "etcd-server-ca", m, None, etcd_sans, ("serverAuth", "clientAuth")))
        certs.append(CertSpec(f"etcd-peer-{m}", "etcd-peer-ca", m, None, etcd_sans, ("serverAuth", "clientAuth")))
        t = tls(m) / "etcd"
        copies |= {
            t / "server-ca.crt": _ca(pki, "etcd-server-ca")[0],
            t / "server-client.crt": _cert(pki, f"etcd-server-{m}")[0],
            t / "server-client.key": _cert(pki, f"etcd-server-{m}")[1],
            t / "peer-ca.crt": _ca(pki, "etcd-peer-ca")[0],
            t / "peer-server-client.crt": _cert(pki, f"etcd-peer-{m}")[0],
            t / "peer-server-client.key": _cert(pki, f"etcd-peer-{m}")[1],
        }
        data = hosts / m / K3S_SERVER / "db" / "etcd"
        data_dirs.append(data)
        # As k3s does: the member's settings in a YAML file in its data directory, etcd started on that file
        # alone (so the etcd checks read what the member really runs with, over SSH, at k3s's path).
        config = {
            "name": m,
            "data-dir": str(data),
            "listen-client-urls": f"https://{addr(m)}:{c.etcd.client_port},https://127.0.0.1:{c.etcd.client_port}",
            "advertise-client-urls": f"https://{addr(m)}:{c.etcd.client_port}",
            "listen-peer-urls": peer_urls[m],
            "initial-advertise-peer-urls": peer_urls[m],
            "initial-cluster": ",".join(f"{n}={u}" for n, u in peer_urls.items()),
            "initial-cluster-state": "new",  # ignored by etcd once the data directory holds a member
            "initial-cluster-token": f"{site.name}-lab-etcd",
            # Also on the blade's address, so the lab's VictoriaMetrics can scrape it (k3s keeps it local).
            "listen-metrics-urls": f"{ETCD_METRICS},http://{addr(m)}:{ETCD_METRICS.rsplit(':', 1)[1]}",
            "client-transport-security": {
                "cert-file": str(t / "server-client.crt"),
                "key-file": str(t / "server-client.key"),
                "trusted-ca-file": str(t / "server-ca.crt"),
                "client-cert-auth": True,
            },
            "peer-transport-security": {
                "cert-file": str(t / "peer-server-client.crt"),
                "key-file": str(t / "peer-server-client.key"),
                "trusted-ca-file": str(t / "peer-ca.crt"),
                "client-cert-auth": True,
            },
            "heartbeat-interval": ETCD_HEARTBEAT_MS,
            "election-timeout": ETCD_ELECTION_MS,
        }
        etcd_configs[data / "config"] = yaml.safe_dump(config, sort_keys=False)
        argv = [str(bins / "etcd"), f"--config-file={data / 'config'}"]
        etcd.append(ControlPlaneProcess(f"etcd-{m}", m, blade_ns[m], addr(m), tuple(argv)))

    # The API servers' etcd client certificate (one for all of them, as k3s has per server).
    certs.append(CertSpec("etcd-client", "etcd-server-ca", "etcd-client", None, (), ("clientAuth",)))
    certs.append(CertSpec("admin", "client-ca", ADMIN_CN, ADMIN_ORG, (), ("clientAuth",)))
    sa_key = pki / "service.key"
    hard = c.apiserver
    enc = pki / "encryption-config.json" if hard.secrets_encryption else None
    use_oidc = oidc and hard.oidc_issuer is not None
    apiservers: list[ControlPlaneProcess] = []
    for b in c.control_plane:
        server = hosts / b / K3S_SERVER
        t = server / "tls"
        # The cluster names plus the blade's own: k3s adds its hostname, and its config lists the FQDN in tls-san.
        sans = (
            addr(b),
            c.api_endpoint,
            b,
            f"{b}.{site.domain}",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            first_service_ip,
            "127.0.0.1",
            "localhost",
        )
        certs.append(CertSpec(f"serving-kube-apiserver-{b}", "server-ca", "kube-apiserver", None, sans))
        copies |= {
            t / "etcd" / "server-ca.crt": _ca(pki, "etcd-server-ca")[0],
            t / "etcd" / "client.crt": _cert(pki, "etcd-client")[0],
            t / "etcd" / "client.key": _cert(pki, "etcd-client")[1],
            t / "serving-kube-apiserver.crt": _cert(pki, f"serving-kube-apiserver-{b}")[0],
            t / "serving-kube-apiserver.key": _cert(pki, f"serving-kube-apiserver-{b}")[1],
            t / "server-ca.crt": _ca(pki, "server-ca")[0],
            t / "client-ca.crt": _ca(pki, "client-ca")[0],
            t / "service.key": sa_key,
        }
        psa_path, audit_path = server / "psa.yaml", server / "audit.yaml"
        files[psa_path] = render_psa(site)
        plumbing = [
            str(bins / "kube-apiserver"),
            f"--advertise-address={addr(b)}",
            f"--bind-address={addr(b)}",
            f"--secure-port={c.api_port}",
            "--etcd-servers=" + ",".join(etcd_endpoints),
            f"--etcd-cafile={t / 'etcd' / 'server-ca.crt'}",
            f"--etcd-certfile={t / 'etcd' / 'client.crt'}",
            f"--etcd-keyfile={t / 'etcd' / 'client.key'}",
            f"--service-cluster-ip-range={svc_cidr}",
            f"--tls-cert-file={t / 'serving-kube-apiserver.crt'}",
            f"--tls-private-key-file={t / 'serving-kube-apiserver.key'}",
            f"--client-ca-file={t / 'client-ca.crt'}",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={t / 'service.key'}",
            f"--service-account-signing-key-file={t / 'service.key'}",
            "--authorization-mode=Node,RBAC",
            "--anonymous-auth=false",  # as k3s: every request names a user
            "--allow-privileged=true",  # k3s's defaults too
            "--profiling=false",
        ]
        # What the site's k3s config (desired.hosts.k3s_config) adds, at the paths the blade files are at.
        argv = [
            *plumbing,
            "--enable-admission-plugins=" + ",".join(hard.admission_plugins),
            f"--admission-control-config-file={psa_path}",
        ]
        if hard.audit_log:
            files[audit_path] = render_audit_policy(site)
            argv += [
                f"--audit-policy-file={audit_path}",
                f"--audit-log-path={server / 'logs' / 'audit.log'}",
                "--audit-log-maxage=30",
                "--audit-log-maxbackup=10",
                "--audit-log-maxsize=100",
            ]
        if enc is not None:
            enc_path = server / "cred" / "encryption-config.json"
            copies[enc_path] = enc
            argv.append(f"--encryption-provider-config={enc_path}")
        if use_oidc:
            # The issuer is on the internet, which the lab cannot reach: the API server fetches its discovery
            # document in the background, keeps retrying, and serves everything else meanwhile.
            argv += [
                f"--oidc-issuer-url={hard.oidc_issuer}",
                f"--oidc-client-id={OIDC_CLIENT_ID}",
                f"--oidc-username-claim={hard.oidc_username_claim}",
            ]
        apiservers.append(
            ControlPlaneProcess(f"kube-apiserver-{b}", b, blade_ns[b], addr(b), tuple(argv), tuple(plumbing))
        )

    notes = []
    if hard.oidc_issuer and not use_oidc:
        notes.append(f"OIDC flags for {hard.oidc_issuer} left out on request")
    admin_crt, admin_key = _cert(pki, "admin")
    etcd_crt, etcd_key = _cert(pki, "etcd-client")
    return ControlPlanePlan(
        state_dir=state_dir,
        pki_dir=pki,
        cas=cas,
        certs=certs,
        service_account_key=sa_key,
        encryption_config=enc,
        copies=copies,
        files=files,
        data_dirs=data_dirs,
        etcd=etcd,
        apiservers=apiservers,
        api_server_url=f"https://{addr(c.control_plane[0])}:{c.api_port}",
        kubeconfig=state_dir / "kubeconfig",
        admin_cert=admin_crt,
        admin_key=admin_key,
        server_ca=_ca(pki, "server-ca")[0],
        etcd_endpoints=etcd_endpoints,
        etcd_ca=_ca(pki, "etcd-server-ca")[0],
        etcd_cert=etcd_crt,
        etcd_key=etcd_key,
        oidc=use_oidc,
        notes=notes,
        etcd_configs=etcd_configs,
    )


def render_psa(site: Site) -> str:
    """The AdmissionConfiguration k3s reads from ``server/psa.yaml``: ``desired.hosts.psa_admission`` (one
    source for what a blade should hold, so the lab's API servers run on what the host checks judge)."""
    return yaml.safe_dump(desired_psa(site), sort_keys=False)


def render_audit_policy(site: Site) -> str:
    """The audit Policy k3s reads from ``server/audit.yaml`` (:func:`pytest_zengarden.desired.hosts.audit_policy`)."""
    return yaml.safe_dump(desired_audit_policy(site), sort_keys=False)


# ---------------------------------------------------------------------------------------------- files
def _openssl(*args: str) -> None:
    run(["openssl", *args])


def _issue(pki: Path, spec: CertSpec) -> tuple[Path, Path]:
    """Issue ``spec`` with its CA (once: an existing pair is kept, so a rerun does not break trust)."""
    crt, key = _cert(pki, spec.name)
    if crt.exists() and key.exists():
        return crt, key
    ca_crt, ca_key = _ca(pki, spec.ca)
    csr, ext = pki / f"{spec.name}.csr", pki / f"{spec.name}.ext"
    subj = f"/CN={spec.cn}" + (f"/O={spec.org}" if spec.org else "")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", subj,
    )  # fmt: skip
    key.chmod(0o600)
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        f"extendedKeyUsage={','.join(spec.usages)}",
    ]
    if spec.sans:
        alt = []
        for san in spec.sans:
            try:
                ip_address(san)
                alt.append(f"IP:{san}")
            except ValueError:
                alt.append(f"DNS:{san}")
        lines.append(f"subjectAltName={','.join(alt)}")
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(crt), "-days", "825", "-extfile", str(ext),
    )  # fmt: skip
    csr.unlink()
    ext.unlink()
    return crt, key


def _encryption_config() -> str:
    """An EncryptionConfiguration for secrets: aescbc with a fresh 32-byte key, identity to read old data."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    doc = {
        "kind": "EncryptionConfiguration",
        "apiVersion": "apiserver.config.k8s.io/v1",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [{"aescbc": {"keys": [{"name": "aescbckey", "secret": key}]}}, {"identity": {}}],
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def write_control_plane_files(plan: ControlPlanePlan, *, blade_files: bool = True) -> None:
    """Issue the PKI, render the configuration files and lay everything out at the blades' k3s paths.

    Idempotent: existing keys, certificates and the encryption key are kept (a restarted lab still reads
    its etcd data and trusts its clients); copies and rendered files are refreshed.  ``blade_files=False``
    (a bare lab: blades as a fresh k3s install) leaves out the site's PSA and audit files (``plan.files``).
    """
    plan.pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for ca, cn in plan.cas.items():
        ensure_ca(plan.pki_dir / ca, cn)
    for spec in plan.certs:
        _issue(plan.pki_dir, spec)
    if not plan.service_account_key.exists():
        _openssl(
            "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(plan.service_account_key)
        )
        plan.service_account_key.chmod(0o600)
    if plan.encryption_config is not None and not plan.encryption_config.exists():
        _write_private(plan.encryption_config, _encryption_config())
    for dst, src in plan.copies.items():
        dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(src, dst)
        # Keys and the encryption config are secrets; certificates are public.
        dst.chmod(0o644 if dst.suffix == ".crt" else 0o600)
    for path, text in plan.files.items() if blade_files else ():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(text)
    for d in plan.data_dirs:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        d.chmod(0o700)  # etcd warns about (and newer releases refuse) wider permissions
    for path, text in plan.etcd_configs.items():
        _write_private(path, text)
    _write_private(plan.kubeconfig, render_kubeconfig(plan))
    for proc in plan.apiservers:
        _write_private(blade_kubeconfig(plan, proc.blade), render_kubeconfig(plan, _url(plan, proc.address)))


def _url(plan: ControlPlanePlan, address: str) -> str:
    return f"https://{address}:{plan.api_server_url.rsplit(':', 1)[1]}"


def blade_kubeconfig(plan: ControlPlanePlan, blade: str) -> Path:
    """The kubeconfig of ``blade``'s own controllers: its own API server, as a k3s server's talk to theirs."""
    return plan.kubeconfig.with_name(f"kubeconfig-{blade}")


def render_kubeconfig(plan: ControlPlanePlan, server: str | None = None) -> str:
    """The admin kubeconfig: the first control-plane API (or ``server``), its CA and the admin client
    certificate embedded."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "zengarden-lab",
                "cluster": {"server": server or plan.api_server_url, "certificate-authority-data": b64(plan.server_ca)},
            }
        ],
        "users": [
            {
                "name": ADMIN_CN,
                "user": {"client-certificate-data": b64(plan.admin_cert), "client-key-data": b64(plan.admin_key)},
            }
        ],
        "contexts": [{"name": "zengarden-lab", "context": {"cluster": "zengarden-lab", "user": ADMIN_CN}}],
        "current-context": "zengarden-lab",
    }
    return yaml.safe_dump(doc, sort_keys=False)


# ---------------------------------------------------------------------------------------------- start
# Runs inside a namespace (the caller's process never has a route to the lab): one HTTPS request with a
# client certificate; prints {"status": N, "body": ...}, status 0 when no HTTP answer came.
_HTTPS_PROBE = """
import http.client, json, ssl, sys
a = json.loads(sys.argv[1])
try:
    ctx = ssl.create_default_context(cafile=a["ca"])
    if a["cert"]:
        ctx.load_cert_chain(a["cert"], a["key"])
    conn = http.client.HTTPSConnection(a["host"], a["port"], context=ctx, timeout=a["timeout"])
    body = a["body"].encode() if a["body"] is not None else None
    conn.request(a["method"], a["path"], body=body, headers={"Content-Type": "application/json", **a["headers"]})
    r = conn.getresponse()
    print(json.dumps({"status": r.status, "body": r.read().decode(errors="replace")}))
except Exception as exc:
    print(json.dumps({"status": 0, "body": f"{type(exc).__name__}: {exc}"}))
"""


def https_in_netns(
    ns: str,
    host: str,
    port: int,
    path: str,
    *,
    ca: Path,
    cert: Path | None = None,
    key: Path | None = None,
    method: str = "GET",
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, str]:
    """One HTTPS request made from inside namespace ``ns``; (status, body), status 0 if nothing answered.

    ``body`` (if not None) is sent as JSON.  The server certificate is verified against ``ca`` (and its
    name against ``host``); ``cert``/``key`` is the client certificate, if any.
    """
    args = {
        "host": host,
        "port": port,
        "path": path,
        "method": method,
        "ca": str(ca),
        "cert": str(cert) if cert else None,
        "key": str(key) if key else None,
        "body": json.dumps(body) if body is not None else None,
        "headers": dict(headers or {}),
        "timeout": timeout,
    }
    proc = run([sys.executable, "-I", "-c", _HTTPS_PROBE, json.dumps(args)], ns=ns, timeout=timeout + 10)
    out = json.loads(proc.stdout)
    return int(out["status"]), str(out["body"])


def etcd_request(plan: ControlPlanePlan, member: str, path: str, body: Any = None) -> tuple[int, str]:
    """POST ``body`` to an etcd member's v3 JSON gateway on its loopback (``/v3/maintenance/status`` ...)."""
    proc = plan.process(f"etcd-{member}")
    port = int(plan.etcd_endpoints[0].rsplit(":", 1)[1])
    return https_in_netns(
        proc.ns,
        "127.0.0.1",
        port,
        path,
        ca=plan.etcd_ca,
        cert=plan.etcd_cert,
        key=plan.etcd_key,
        method="POST",
        body=body if body is not None else {},
    )


def apiserver_request(plan: ControlPlanePlan, blade: str, path: str, *, token: str | None = None) -> tuple[int, str]:
    """GET ``path`` from the API server on ``blade`` from inside its namespace: as the admin (client
    certificate), or with ``token`` as a bearer token and no certificate."""
    proc = plan.process(f"kube-apiserver-{blade}")
    port = int(plan.api_server_url.rsplit(":", 1)[1])
    if token is not None:
        return https_in_netns(
            proc.ns, proc.address, port, path, ca=plan.server_ca, headers={"Authorization": f"Bearer {token}"}
        )
    return https_in_netns(
        proc.ns, proc.address, port, path, ca=plan.server_ca, cert=plan.admin_cert, key=plan.admin_key
    )


def _wait_for(
    check: Callable[[], tuple[int, str]],
    seconds: float,
    what: str,
    log_tail: Callable[[], str] | None,
    interval: float = 0.5,
) -> None:
    deadline = time.monotonic() + seconds
    last = (0, "")
    while time.monotonic() < deadline:
        last = check()
        if last[0] == 200:
            return
        time.sleep(interval)
    extra = log_tail() if log_tail else ""
    raise LabError(
        f"{what} within {seconds:g}s (last answer: {last[0] or 'none'} {last[1][:300]})"
        + (f"; log:\n{extra}" if extra else "")
    )


def wait_etcd(
    plan: ControlPlanePlan, member: str, seconds: float = 30, log_tail: Callable[[str], str] | None = None
) -> None:
    """Wait until etcd member ``member`` answers its status endpoint (it has joined a cluster with a leader)."""
    name = f"etcd-{member}"
    _wait_for(
        lambda: etcd_request(plan, member, "/v3/maintenance/status"),
        seconds,
        f"{name} did not serve",
        (lambda: log_tail(name)) if log_tail else None,
    )


def wait_apiserver(
    plan: ControlPlanePlan, blade: str, seconds: float = 90, log_tail: Callable[[str], str] | None = None
) -> None:
    """Wait until the API server on ``blade`` reports ``/readyz`` 200."""
    name = f"kube-apiserver-{blade}"
    _wait_for(
        lambda: apiserver_request(plan, blade, "/readyz"),
        seconds,
        f"{name} did not become ready",
        (lambda: log_tail(name)) if log_tail else None,
        interval=1.0,
    )


def supervisor_argv(plan: ControlPlanePlan, proc: ControlPlaneProcess, python: str = sys.executable) -> list[str]:
    """The argv of API server ``proc`` as the lab runs it: :mod:`.k3s_supervisor` on the blade's files.

    The supervisor adds to ``proc.plumbing`` what the blade's k3s config sets (nothing on a bare blade)
    and restarts the server on ``systemctl restart k3s`` over SSH.
    """
    from .k3s_supervisor import MODULE

    root = plan.state_dir / "hosts" / proc.blade
    port = plan.api_server_url.rsplit(":", 1)[1]
    return [
        python, "-m", MODULE, f"--root={root}", f"--address={proc.address}", f"--port={port}",
        f"--ca={plan.server_ca}", f"--cert={plan.admin_cert}", f"--key={plan.admin_key}",
        *([] if plan.oidc else ["--no-oidc"]), "--", *proc.plumbing,
    ]  # fmt: skip


def start_control_plane(
    plan: ControlPlanePlan,
    spawn: Spawn,
    *,
    etcd_timeout: float = 30,
    apiserver_timeout: float = 90,
    log_tail: Callable[[str], str] | None = None,
    supervised: bool = False,
) -> None:
    """Start every etcd member, wait until each serves, then start every API server and wait for readiness.

    ``log_tail(name)`` (optional) supplies a process's recent log for the error when a wait times out.
    ``supervised``: each API server runs under :mod:`.k3s_supervisor` (:func:`supervisor_argv`), with the
    flags of its blade's files; otherwise with ``proc.argv``, the flags the site implies.
    """
    binaries_dir()  # a clear "run ./scripts/build-k8s" beats a spawn failing on a missing file
    # All members first: a new member only serves once the cluster it names has formed.
    for proc in plan.etcd:
        spawn(proc.name, proc.ns, list(proc.argv))
    # One deadline per kind: the processes start in parallel, so the later ones have had the same time.
    deadline = time.monotonic() + etcd_timeout
    for proc in plan.etcd:
        wait_etcd(plan, proc.blade, max(1.0, deadline - time.monotonic()), log_tail)
    for proc in plan.apiservers:
        spawn(proc.name, proc.ns, supervisor_argv(plan, proc) if supervised else list(proc.argv))
    deadline = time.monotonic() + apiserver_timeout
    for proc in plan.apiservers:
        wait_apiserver(plan, proc.blade, max(1.0, deadline - time.monotonic()), log_tail)


def stop_order(plan: ControlPlanePlan) -> list[str]:
    """Process names in the order to stop them: API servers before the etcd they write to."""
    return [p.name for p in reversed(plan.apiservers)] + [p.name for p in reversed(plan.etcd)]
