"""`zengarden lab up|down|status|logs`: build the network twin from the site, and take it away again.

State lives in one directory (default ``/var/lib/zengarden/lab``, ``$ZG_LAB_STATE``): ``state.json``
records every namespace and process *before* it is created, so ``down`` removes exactly what ``up``
made, also after a crash.  ``lab.json`` tells the plugin how to reach the lab (an inventory).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..site.schema import Site
from . import deviations as deviation_catalogue
from .controlplane import ControlPlanePlan, plan_control_plane, write_control_plane_files
from .netns import LabError, ip, list_namespaces, run
from .pki import ensure_ca, issue
from .state import default_lab_state
from .topology import LabPlan, plan_lab

PREFIX = "zg"
WG_SOCKETS = Path("/var/run/wireguard")
LAB_USER = "zengarden"
PROXY_PORT_DEFAULT = 5555


@dataclass
class ProcessRecord:
    name: str
    ns: str
    argv: list[str]
    pid: int
    log: str
    match: str = ""  # program name the running process has (when it differs from argv[0], e.g. after unshare)


ALL_PARTS = ("router", "blades", "cluster")  # what `up` provisions by default


@dataclass
class LabState:
    """What exists: recorded before creation, removed after deletion."""

    prefix: str = PREFIX
    site: str = ""
    mode: str = "converged"
    deviations: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=lambda: list(ALL_PARTS))  # what the provisioner converged
    namespaces: list[str] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)
    created_dirs: list[str] = field(default_factory=list)  # host mount points the lab had to create
    started: float = 0.0

    @classmethod
    def load(cls, path: Path) -> LabState:
        data = json.loads(path.read_text(encoding="utf-8"))
        procs = [ProcessRecord(**p) for p in data.pop("processes", [])]
        return cls(**data, processes=procs)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(path)


def _say(msg: str) -> None:
    print(f"[lab] {msg}", file=sys.stderr, flush=True)


class Lab:
    """The embedded lab for one site, managed through its state directory."""

    def __init__(
        self,
        site: Site,
        site_path: Path,
        state_dir: Path | None = None,
        progress: Callable[[str], None] = _say,
        parts: Sequence[str] = ALL_PARTS,
    ):
        """``parts``: what `up` provisions (all by default; a network-only test converges just the router)."""
        self.parts = list(parts)
        self.site = site
        self.site_path = site_path
        self.dir = state_dir or default_lab_state()
        self.say = progress
        self.plan: LabPlan = plan_lab(site, PREFIX)
        self.observability_urls: dict[str, str] = {}
        self.cluster_env: dict[str, str] = {}
        self.cluster_access: dict[str, dict[str, object]] = {}

    # ------------------------------------------------------------------ state
    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    def state(self) -> LabState | None:
        return LabState.load(self.state_file) if self.state_file.exists() else None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / "lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LabError(f"another `zengarden lab` command is running on {self.dir}") from None
            yield

    # --------------------------------------------------------------------- up
    def up(self, bare: bool = False, deviate: list[str] | None = None) -> None:
        """Bring the lab up (idempotent: a running lab in the same mode is left as it is)."""
        deviate = list(deviate or [])
        for name in deviate:
            if name not in deviation_catalogue.CATALOGUE:
                raise LabError(f"unknown deviation {name!r}; see `zengarden lab deviations`")
        mode = "bare" if bare else "converged"
        with self._locked():
            current = self.state()
            if current is not None:
                same = current.mode == mode and current.deviations == deviate and current.parts == self.parts
                if same and not self._problems(current):
                    self.say(f"lab already up ({mode}{', ' + ','.join(deviate) if deviate else ''}); nothing to do")
                    return
                self.say("lab is up in another mode or unhealthy: taking it down first")
                self._down(current)
            self._check_no_leftovers()
            start = time.monotonic()
            state = LabState(
                site=str(self.site_path), mode=mode, deviations=deviate, parts=self.parts, started=time.time()
            )
            state.save(self.state_file)
            try:
                self._build(state, bare, deviate)
            except BaseException:
                self.say("lab up failed: removing what was created")
                self._down(state)
                raise
            self.say(f"lab up ({mode}) in {time.monotonic() - start:.1f}s; state in {self.dir}")

    def _check_no_leftovers(self) -> None:
        stale = [n for n in list_namespaces() if n in {ns.name for ns in self.plan.namespaces}]
        if stale:
            raise LabError(
                f"network namespaces {stale} exist but no lab state records them; remove them with "
                f"`ip netns del` (they were not made by this lab's state in {self.dir})"
            )

    def _build(self, state: LabState, bare: bool, deviate: list[str]) -> None:
        plan = self.plan
        self.say(f"creating {len(plan.namespaces)} namespaces")
        for ns in plan.namespaces:
            state.namespaces.append(ns.name)
            state.save(self.state_file)
            ip("netns", "add", ns.name)
            ip("link", "set", "lo", "up", ns=ns.name)
        for name in plan.forwarding:
            run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], ns=name)
        self.say(f"wiring {len(plan.cables)} cables, {len(plan.bridges)} bridges")
        for c in plan.cables:
            # Both ends are created directly inside their namespaces: nothing ever appears in the root namespace.
            ip("link", "add", c.a_if, "netns", c.a_ns, "type", "veth", "peer", "name", c.b_if, "netns", c.b_ns)
        for br in plan.bridges:
            ip("link", "add", br.name, "type", "bridge", ns=br.ns)
            for port in br.ports:
                ip("link", "set", port, "master", br.name, ns=br.ns)
        for ns_name in sorted({br.ns for br in plan.bridges}):
            # A RouterOS bridge does not pass frames through /ip firewall (unless use-ip-firewall=yes);
            # with br_netfilter loaded, Linux would, so switch that off where the lab bridges.
            if Path("/proc/sys/net/bridge").exists():
                for key in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables"):
                    run(["sysctl", "-qw", f"net.bridge.{key}=0"], ns=ns_name)
        for ns in plan.namespaces:
            out = ip("-o", "link", "show", ns=ns.name).stdout
            for line in out.splitlines():
                ifname = line.split(":")[1].strip().split("@")[0]
                if ifname != "lo":
                    ip("link", "set", ifname, "up", ns=ns.name)
        for a in plan.addresses:
            ip("addr", "add", str(a.address), "dev", a.iface, ns=a.ns)
        for r in plan.routes:
            ip("route", "replace", r.dst, "via", str(r.via), ns=r.ns)
        secrets_dir = self.dir / "secrets"
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        self._wireguard(state, secrets_dir)
        self._router(state, secrets_dir, bare, deviate)
        self._blades(state, secrets_dir)
        # Planned and written once, before observability: VictoriaMetrics reads the scrape certificates
        # when it starts, and the control plane itself starts after the ingress.
        cp = plan_control_plane(self.site, {b: self.plan.ns(b) for b in self.site.blades}, self.dir)
        # The blades' own files (k3s config, admission, audit) are the provisioner's, never the lab's.
        write_control_plane_files(cp, blade_files=False)
        self._observability(state, cp)
        vips_held = self._ingress(state)
        # keepalived elects its VRRP master (a few seconds) while the control plane starts.
        self._control_plane(state, bare, cp)
        vips_held()
        self._write_lab_json(secrets_dir)
        if not bare:
            self._provision(state)
            self._etcd_snapshots(state, cp)
        stopped = deviation_catalogue.stopped_processes(state.deviations, self.site.cluster.etcd.members)
        for name in stopped:
            _stop(next(p for p in state.processes if p.name == name))
        if stopped:
            from .etcd_members import wait_settled

            wait_settled(cp, [p.blade for p in cp.etcd if p.name not in stopped])

    # ---------------------------------------------------------------- wireguard
    def _wireguard(self, state: LabState, secrets_dir: Path) -> None:
        ends = self.plan.wireguard
        if not ends:
            return
        self.say("starting WireGuard (wireguard-go) server and client")
        keys = {}
        for end in ends:
            priv = run(["wg", "genkey"]).stdout.strip()
            pub = run(["wg", "pubkey"], input=priv).stdout.strip()
            key_file = secrets_dir / f"wg-{end.iface}.key"
            # Created 0600: the key is never readable by others, not even for a moment.
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(priv + "\n")
            keys[end.iface] = (key_file, pub)
        server, client = ends[0], ends[1]
        for end in ends:
            sock = WG_SOCKETS / f"{end.iface}.sock"
            # A killed wireguard-go leaves its socket behind; `wg` would then fail on the dead one.
            sock.unlink(missing_ok=True)
            self._spawn(state, f"wireguard-go-{end.iface}", end.ns, ["wireguard-go", end.iface])
            _wait(functools.partial(_accepts, sock), 10, f"wireguard-go did not serve {sock}")
        run(
            [
                "wg",
                "set",
                server.iface,
                "private-key",
                str(keys[server.iface][0]),
                "listen-port",
                str(server.listen_port),
                "peer",
                keys[client.iface][1],
                "allowed-ips",
                ",".join(server.allowed_ips),
            ],
            ns=server.ns,
        )
        run(
            [
                "wg",
                "set",
                client.iface,
                "private-key",
                str(keys[client.iface][0]),
                "peer",
                keys[server.iface][1],
                "endpoint",
                str(client.endpoint),
                "allowed-ips",
                ",".join(client.allowed_ips),
                "persistent-keepalive",
                "5",
            ],
            ns=client.ns,
        )
        for end in ends:
            ip("addr", "add", str(end.address), "dev", end.iface, ns=end.ns)
            ip("link", "set", end.iface, "up", ns=end.ns)
        for cidr in client.allowed_ips:
            ip("route", "replace", cidr, "dev", client.iface, ns=client.ns)
        (self.dir / "wireguard.json").write_text(
            json.dumps(
                {
                    "server": {
                        "iface": server.iface,
                        "public_key": keys[server.iface][1],
                        "private_key_file": str(keys[server.iface][0]),
                    },
                    "client": {
                        "iface": client.iface,
                        "public_key": keys[client.iface][1],
                        "address": str(client.address),
                    },
                },
                indent=2,
            )
        )

    # ------------------------------------------------------------------- router
    def _router(self, state: LabState, secrets_dir: Path, bare: bool, deviate: list[str]) -> None:
        from ..desired.router import desired_router
        from .router_seed import proxy_config, router_seed

        pki = self.dir / "pki"
        ensure_ca(pki)
        sans = sorted(
            {str(s.router_address) for s in self.site.segments.values() if s.router_address}
            | {str(self.site.router.address)}
        )
        cert, key = issue(pki, "router", [self.site.router.identity, *sans])
        _secret(secrets_dir / "router-password")
        _secret(secrets_dir / "proxy-password")
        # The router starts at its factory state; `--provision` (run by `_provision`) converges it.
        records = router_seed(self.site, self.plan, wireguard=self.dir / "wireguard.json")
        proxy = proxy_config(
            self.site, proxy_password_env="ZG_PROXY_PASSWORD", router_password_env="ZG_ROUTER_PASSWORD"
        )
        # Deviations change what the lab converges to (and the proxy's configuration), on top of the site.
        deviated = desired_router(self.site)
        deviation_catalogue.apply(deviate, deviated, proxy)
        if deviate:
            (self.dir / "router-desired.json").write_text(json.dumps(deviated, indent=2))
        else:
            (self.dir / "router-desired.json").unlink(missing_ok=True)
        router_dir = self.dir / "router"
        router_dir.mkdir(exist_ok=True)
        (router_dir / "seed.json").write_text(json.dumps(records, indent=2))
        self.say("starting dnsmasq and the RouterOS emulator in the router namespace")
        (router_dir / "hosts").touch()
        listen = ",".join(str(a.address.ip) for a in self.plan.addresses if a.ns == self.plan.router_ns)
        dnsmasq = [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            f"--addn-hosts={router_dir / 'hosts'}", f"--pid-file={router_dir / 'dnsmasq.pid'}",
            f"--listen-address={listen}", "--bind-interfaces", "--user=root", "--log-facility=-",
        ]  # fmt: skip
        self._spawn(state, "dnsmasq", self.plan.router_ns, dnsmasq)
        ready = router_dir / "ready"
        ready.unlink(missing_ok=True)
        emulator_argv = [
            sys.executable, "-m", "pytest_zengarden.lab.router_daemon", "--dir", str(router_dir),
            "--user", f"{LAB_USER}:{secrets_dir / 'router-password'}", "--cert", str(cert), "--key", str(key),
            "--ready-file", str(ready), "--dnsmasq-pid", str(router_dir / "dnsmasq.pid"),
            "--api-port", str(self.site.router.api.port), "--api-ssl-port", str(self.site.router.api.ssl_port),
        ]  # fmt: skip
        self._spawn(state, "routeros", self.plan.router_ns, emulator_argv)
        self._wait_emulator(state.processes[-1])
        if self.site.dns.proxy.blades:
            import yaml

            (self.dir / "proxy.yaml").write_text(yaml.safe_dump(proxy, sort_keys=False))
            for blade in self.site.dns.proxy.blades:
                argv = [sys.executable, "-m", "pytest_zengarden.lab.proxy", "--config", str(self.dir / "proxy.yaml"),
                        "--listen", f"0.0.0.0:{self.site.dns.proxy.port}"]  # fmt: skip
                self._spawn(state, f"proxy-{blade}", self.plan.ns(blade), argv)
            for blade in self.site.dns.proxy.blades:
                self._wait_listening(self.plan.ns(blade), self.site.dns.proxy.port, f"proxy-{blade}")

    def _wait_emulator(self, emulator: ProcessRecord) -> None:
        ready = self.dir / "router" / "ready"
        # Ready, or dead: a crash at start-up should fail now with its log, not after the timeout.
        _wait(lambda: ready.exists() or not _alive(emulator), 20, "the RouterOS emulator did not start")
        if not ready.exists() and _alive(emulator):
            _wait(ready.exists, 20, "the RouterOS emulator did not become ready", self._log_tail("routeros"))
        if not ready.exists():
            raise LabError(f"the RouterOS emulator exited at start-up; log:\n{self._log_tail('routeros')()}")

    def _wait_listening(self, ns: str, port: int, name: str) -> None:
        def listening() -> bool:
            return bool(run(["ss", "-Hltn", f"sport = :{port}"], ns=ns, check=False).stdout.strip())

        _wait(listening, 15, f"{name} did not listen on port {port}", self._log_tail(name))

    def _env(self, name: str) -> dict[str, str]:
        """Secrets a process gets through its environment (never recorded in the state file)."""
        if name.startswith("wireguard-go-"):
            return {"WG_PROCESS_FOREGROUND": "1"}  # so the recorded pid is the daemon itself
        if name.startswith("proxy-"):
            secrets_dir = self.dir / "secrets"
            return {
                "ZG_PROXY_PASSWORD": (secrets_dir / "proxy-password").read_text().strip(),
                "ZG_ROUTER_PASSWORD": (secrets_dir / "router-password").read_text().strip(),
            }
        return {}

    def restart(self, name: str) -> None:
        """Stop and start one lab process (its configuration, e.g. the emulator's, persists)."""
        with self._locked():
            state = self.state()
            if state is None:
                raise LabError("the lab is not running")
            proc = next((p for p in state.processes if p.name == name), None)
            if proc is None:
                raise LabError(f"no lab process {name!r}; see `zengarden lab status`")
            _stop(proc)
            state.processes.remove(proc)
            if name == "routeros":
                (self.dir / "router" / "ready").unlink(missing_ok=True)
            self._spawn(state, name, proc.ns, proc.argv, proc.match)
            if name == "routeros":
                self._wait_emulator(state.processes[-1])

    def reset_router(self) -> None:
        """Put the emulated router back to its factory state, as a reset does: stop, drop its configuration, start."""
        with self._locked():
            state = self.state()
            if state is None:
                raise LabError("the lab is not running")
            proc = next((p for p in state.processes if p.name == "routeros"), None)
            if proc is None:
                raise LabError("the lab has no RouterOS emulator process")
            _stop(proc)
            state.processes.remove(proc)
            (self.dir / "router" / "config.json").unlink(missing_ok=True)
            (self.dir / "router" / "ready").unlink(missing_ok=True)
            self._spawn(state, "routeros", proc.ns, proc.argv, proc.match)
            self._wait_emulator(state.processes[-1])

    def _blades(self, state: LabState, secrets_dir: Path) -> None:
        from .blades import RANCHER_MOUNTPOINT, mount_etcd_disks, prepare_blades, ssh_keypair

        key = ssh_keypair(secrets_dir)
        mount_etcd_disks(self.site, self.dir)  # before the blades' namespaces bind /var/lib/rancher, and etcd starts
        ns_of = {b: self.plan.ns(b) for b in self.site.blades}
        hosts = prepare_blades(
            self.site, ns_of, self.dir, key, self.site.observability.node_exporter_port,
            with_site_files=False,  # fresh k3s installs; `_provision` writes the site's files over SSH
        )  # fmt: skip
        for mountpoint in (RANCHER_MOUNTPOINT, Path("/run/sshd")):
            if not mountpoint.exists():
                state.created_dirs.append(str(mountpoint))
                state.save(self.state_file)
                mountpoint.mkdir(parents=True)
        self.say(f"starting sshd and node_exporter on {len(hosts)} blades")
        for h in hosts:
            self._spawn(state, f"sshd-{h.name}", h.ns, h.sshd_argv, match="sshd")
            self._spawn(state, f"node-exporter-{h.name}", h.ns, h.node_exporter_argv)
        for h in hosts:
            self._wait_listening(h.ns, 22, f"sshd-{h.name}")
            self._wait_listening(h.ns, self.site.observability.node_exporter_port, f"node-exporter-{h.name}")

    def _observability(self, state: LabState, cp: ControlPlanePlan) -> None:
        from .observability import AM_PORT, SINK_PORT, VM_PORT, plan_observability

        members = [str(self.site.blades[m].address) for m in self.site.cluster.etcd.members]
        servers = [str(self.site.blades[b].address) for b in self.site.cluster.control_plane]
        extra: list[dict[str, object]] = [
            {"job_name": "etcd", "static_configs": [{"targets": [f"{a}:2381" for a in members]}]},
            {"job_name": "apiserver", "scheme": "https",
             "tls_config": {"ca_file": str(cp.server_ca), "cert_file": str(cp.admin_cert),
                            "key_file": str(cp.admin_key)},
             "static_configs": [{"targets": [f"{a}:{self.site.cluster.api_port}" for a in servers]}]},
        ]  # fmt: skip
        obs = plan_observability(self.site, self.dir, extra_scrapes=extra)
        ns = self.plan.ns(obs.blade)
        self.say(f"starting VictoriaMetrics, vmalert, Alertmanager and the Gotify sink on {obs.blade}")
        for name, argv in obs.processes.items():
            self._spawn(state, name, ns, argv)
        for name, port in (("victoria-metrics", VM_PORT), ("alertmanager", AM_PORT), ("webhook-sink", SINK_PORT)):
            self._wait_listening(ns, port, name)
        self.observability_urls = obs.urls

    def _ingress(self, state: LabState) -> Callable[[], None]:
        """Start nginx and keepalived; returns the wait for the VIPs (so other work can overlap it)."""
        from .ingress import plan_ingress

        if not self.site.ingress:
            return lambda: None
        plan = plan_ingress(
            self.site, self.dir, self.dir / "pki", tls_override="1.2" if "tls12" in state.deviations else None
        )
        self.say(f"starting nginx (TLS, ModSecurity CRS) and keepalived VIPs on {', '.join(plan.blades)}")
        for blade in plan.blades:
            # nginx listens on the VIPs before keepalived has put them on this blade.
            run(["sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"], ns=self.plan.ns(blade))
        for name, (blade, argv) in plan.processes.items():
            self._spawn(state, name, self.plan.ns(blade), argv)
        for blade in plan.blades:
            self._wait_listening(self.plan.ns(blade), 443, f"nginx-{blade}")

        def vips_held() -> bool:
            held = "".join(ip("-4", "-o", "addr", "show", ns=self.plan.ns(b), check=False).stdout for b in plan.blades)
            return all(f" {vip}/" in held for vip in plan.vips.values())

        # VRRP elects a master after a few advertisement intervals: wait, so `up` returns a serving ingress.
        return functools.partial(
            _wait, vips_held, 15, f"keepalived did not place the ingress VIPs {sorted(plan.vips.values())}"
        )

    def _control_plane(self, state: LabState, bare: bool, plan: ControlPlanePlan) -> None:
        from .controlplane import start_control_plane

        self.say(f"starting etcd ({len(plan.etcd)} members) and kube-apiserver ({len(plan.apiservers)} replicas)")

        from .k3s_supervisor import MODULE as SUPERVISOR

        def spawn(name: str, ns: str, argv: list[str]) -> None:
            # An API server runs under its blade's k3s supervisor (flags from the blade's files).
            self._spawn(state, name, ns, argv, match=SUPERVISOR if name.startswith("kube-apiserver-") else "")

        start_control_plane(plan, spawn, log_tail=lambda name: self._log_tail(name)(), supervised=True)
        from .cluster_agents import agent_processes, program

        for name, ns, argv in agent_processes(self.site, plan, {b: self.plan.ns(b) for b in self.site.blades}):
            self._spawn(state, name, ns, argv, match=program(argv))
        self.cluster_env = plan.env()
        self.cluster_access = {
            "cluster": {"kubeconfig": str(plan.kubeconfig), "timeout_s": 10},
            "etcd": {"ca_file": str(plan.etcd_ca), "cert_file": str(plan.etcd_cert), "key_file": str(plan.etcd_key)},
        }
        # The kubelets' part: the blades register as Nodes (the site's objects are the provisioner's).
        mgmt = self.plan.probes[self._mgmt_segment()][0]
        run([sys.executable, "-m", "pytest_zengarden.lab.seed_cluster", "--site", str(self.site_path),
             "--kubeconfig", str(plan.kubeconfig)], ns=mgmt, timeout=120)  # fmt: skip
        self.etcd_last = plan.etcd[-1].name

    def _provision(self, state: LabState) -> None:
        """Converge the bare lab with the product's own provisioner (`--provision`), deviations on top."""
        self.say("provisioning the lab from the site file (router, blades, cluster)")
        mgmt = self.plan.probes[self._mgmt_segment()][0]
        argv = [sys.executable, "-m", "pytest_zengarden.provision", "--site", str(self.site_path), "--target", "lab",
                "--parts", ",".join(self.parts)]  # fmt: skip
        if (self.dir / "router-desired.json").exists():
            argv += ["--router-desired", str(self.dir / "router-desired.json")]
        extra: list[dict[str, object]] = []
        deviation_catalogue.apply_cluster(state.deviations, extra)
        if extra:
            (self.dir / "cluster-extra.json").write_text(json.dumps(extra, indent=2))
            argv += ["--cluster-extra", str(self.dir / "cluster-extra.json")]
        env = {**os.environ, "ZG_LAB_STATE": str(self.dir)}
        proc = run(argv, ns=mgmt, timeout=300, check=False, env=env)
        if proc.returncode != 0:
            raise LabError(f"provisioning the lab failed:\n{(proc.stderr or proc.stdout)[-3000:]}")
        if "anonymous-auth" in state.deviations:
            self._anonymous_auth(mgmt)
        if "psa-unlabelled-no-default" in state.deviations:
            self._psa_without_defaults(mgmt)
        for name in state.deviations:
            blade_edit = deviation_catalogue.CATALOGUE[name].blades
            if blade_edit is not None:
                from .blades import apply_blade_deviation

                apply_blade_deviation(self.site, self.dir, blade_edit)

    def _etcd_snapshots(self, state: LabState, cp: ControlPlanePlan) -> None:
        """What a k3s server has after `k3s etcd-snapshot save`: an on-demand snapshot on every server.

        The provisioner takes it (over SSH, `k3s etcd-snapshot save`) when it converges the blades; a lab
        that leaves the blades unprovisioned takes it here."""
        from .etcd_snapshots import make_stale, save_all

        if "blades" not in self.parts:
            self.say(f"taking an on-demand etcd snapshot on {len(cp.etcd)} servers")
            save_all(cp)
        if "etcd-snapshots-stale" in state.deviations:
            make_stale(self.dir, [p.blade for p in cp.etcd], deviation_catalogue.STALE_SNAPSHOT_SECONDS)

    def _anonymous_auth(self, mgmt: str) -> None:
        """Deviation anonymous-auth, as an operator would make it: over SSH from management, the second
        server's k3s config gets ``kube-apiserver-arg: anonymous-auth=true`` and k3s is restarted."""
        servers = self.site.cluster.control_plane
        blade = servers[1] if len(servers) > 1 else servers[0]
        config = "/etc/rancher/k3s/config.yaml"
        script = (
            f"set -e; f={config}; "
            "if grep -q '^kube-apiserver-arg:$' $f 2>/dev/null; "
            "then sed -i '/^kube-apiserver-arg:$/a - anonymous-auth=true' $f; "
            "else mkdir -p $(dirname $f); printf 'kube-apiserver-arg:\\n- anonymous-auth=true\\n' >> $f; fi; "
            "systemctl restart k3s"
        )
        self._as_operator(mgmt, "anonymous-auth", blade, script)

    def _psa_without_defaults(self, mgmt: str) -> None:
        """Deviation psa-unlabelled-no-default: every server's PodSecurity configuration loses its ``defaults``
        (edited over SSH, k3s restarted one server at a time), so an unlabelled namespace is privileged."""
        from ..facts.host import PSA_CONFIG

        drop = f"import yaml; p={PSA_CONFIG!r}; d=yaml.safe_load(open(p)); " \
            "[q['configuration'].pop('defaults', None) for q in d['plugins'] if q.get('name') == 'PodSecurity']; " \
            "open(p, 'w').write(yaml.safe_dump(d))"  # fmt: skip
        for blade in self.site.cluster.control_plane:
            script = f"set -e; {shlex.quote(sys.executable)} -c {shlex.quote(drop)}; systemctl restart k3s"
            self._as_operator(mgmt, "psa-unlabelled-no-default", blade, script)

    def _as_operator(self, mgmt: str, deviation: str, blade: str, script: str) -> None:
        """Run ``script`` as root on ``blade`` over SSH from management, as an operator would by hand."""
        from .blades import BLADE_USER  # root login is off on the blades: the lab's user has sudo

        argv = ["ssh", "-i", str(self.dir / "secrets" / "ssh_key"), "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={self.dir / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=10", f"{BLADE_USER}@{self.site.blades[blade].address}",
                f"sudo -n sh -c {shlex.quote(script)}"]  # fmt: skip
        proc = run(argv, ns=mgmt, timeout=150, check=False)
        if proc.returncode != 0:
            raise LabError(f"deviation {deviation} on {blade} failed: {(proc.stderr or proc.stdout)[-1500:]}")

    def _mgmt_segment(self) -> str:
        return next(n for n, seg in self.site.segments.items() if seg.router_address == self.site.router.address)

    def _write_lab_json(self, secrets_dir: Path) -> None:
        from .blades import BLADE_USER

        inventory: dict[str, dict[str, object]] = {
            "blades": {
                "user": BLADE_USER,  # root login is off on the blades: this user has passwordless sudo
                "key_file": str(secrets_dir / "ssh_key"),
                "known_hosts": str(self.dir / "known_hosts"),
                "timeout_s": 10,
            },
            "router": {
                "username": LAB_USER,
                "password": {"file": str(secrets_dir / "router-password")},
                "transport": "api-ssl",
                "ca_file": str(self.dir / "pki" / "ca.crt"),
                "timeout_s": 5,
            },
        }
        inventory.update(self.cluster_access)
        mgmt = self._mgmt_segment()
        (self.dir / "lab.json").write_text(
            json.dumps(
                {
                    "inventory": inventory,
                    "namespaces": [ns.name for ns in self.plan.namespaces],
                    "management_netns": self.plan.probes[mgmt][0],
                    "probes": {
                        seg: {"netns": ns, "address": str(addr)} for seg, (ns, addr) in self.plan.probes.items()
                    },
                    "router": {"netns": self.plan.router_ns, "address": str(self.site.router.address)},
                    "observability": self.observability_urls,
                    "env": self.cluster_env,
                },
                indent=2,
            )
        )

    # ---------------------------------------------------------------- processes
    def _spawn(self, state: LabState, name: str, ns: str, argv: list[str], match: str = "") -> None:
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        log_path = logs / f"{name}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **self._env(name)},
            )
        state.processes.append(ProcessRecord(name, ns, argv, proc.pid, str(log_path), match))
        state.save(self.state_file)

    def _log_tail(self, name: str) -> Callable[[], str]:
        def tail() -> str:
            path = self.dir / "logs" / f"{name}.log"
            return path.read_text(errors="replace")[-1500:] if path.exists() else ""

        return tail

    # -------------------------------------------------------------------- down
    def down(self) -> bool:
        """Remove everything the lab made; returns False if there was nothing to remove."""
        with self._locked():
            state = self.state()
            if state is None:
                return False
            self._down(state)
            return True

    def _down(self, state: LabState) -> None:
        # Told to stop together, etcd and the API servers outlast the grace period: the API servers exit
        # within a second while etcd still serves them, so they go first.  etcd itself, with every member
        # stopping at once, waits out a leadership transfer to members that are leaving too (the election
        # timeout, 5 s); `down` deletes its data right after, so its members are killed, not asked.
        procs = list(reversed(state.processes))
        etcd = [p for p in procs if p.name.startswith("etcd-")]
        _stop_all([p for p in procs if p not in etcd])
        _stop_all(etcd, grace=0)
        for proc in state.processes:
            if proc.name.startswith("wireguard-go-"):
                (WG_SOCKETS / f"{proc.argv[-1]}.sock").unlink(missing_ok=True)
        existing = set(list_namespaces())
        for ns in reversed(state.namespaces):
            if ns in existing:
                ip("netns", "del", ns, check=False)
        from .blades import unmount_under

        unmount_under(self.dir / "hosts")  # the servers' etcd disks (loop devices are freed with them)
        for created in reversed(state.created_dirs):
            with contextlib.suppress(OSError):  # only if still empty: never remove what others put there
                Path(created).rmdir()
        for name in (
            "state.json",
            "lab.json",
            "wireguard.json",
            "proxy.yaml",
            "known_hosts",
            "cluster-objects.json",
            "kubeconfig",
        ):
            (self.dir / name).unlink(missing_ok=True)
        for sub in ("router", "secrets", "pki", "pki-k8s", "logs", "hosts", "observability", "ingress"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)
        self.say("lab down")

    # ------------------------------------------------------------------ status
    def _problems(self, state: LabState) -> list[str]:
        # A deviation may stop a process on purpose: that is the requested state, not a fault.
        intended = set(deviation_catalogue.stopped_processes(state.deviations, self.site.cluster.etcd.members))
        return [f"{c}: {d}" for c, ok, d in self.status_rows(state) if not ok and c not in intended]

    def status_rows(self, state: LabState | None = None) -> list[tuple[str, bool, str]]:
        """(component, healthy, detail) for every namespace and process of the lab."""
        state = state or self.state()
        if state is None:
            return [("lab", False, f"not running (no state in {self.dir})")]
        rows: list[tuple[str, bool, str]] = [("lab", True, f"{state.mode}, deviations: {state.deviations or 'none'}")]
        existing = set(list_namespaces())
        for ns in state.namespaces:
            rows.append((f"netns {ns}", ns in existing, "present" if ns in existing else "missing"))
        expected_down = set(deviation_catalogue.stopped_processes(state.deviations, self.site.cluster.etcd.members))
        for proc in state.processes:
            alive = _alive(proc)
            down = "expected down (stopped by a deviation)" if proc.name in expected_down else f"see {proc.log}"
            rows.append((proc.name, alive, f"pid {proc.pid} in {proc.ns}" if alive else f"not running ({down})"))
        return rows


def _accepts(sock: Path) -> bool:
    """Whether a UNIX socket exists and accepts a connection (wireguard-go's control socket is up)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(str(sock))
        except OSError:
            return False
    return True


def _secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def _wait(cond: Callable[[], bool], seconds: float, what: str, detail: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    extra = detail() if detail else ""
    raise LabError(f"{what} within {seconds:g}s" + (f"; log:\n{extra}" if extra else ""))


def _alive(proc: ProcessRecord) -> bool:
    """The recorded process still runs *and* is the one we started (PIDs get reused)."""
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return False  # exited, not yet reaped
    if cmdline == [b""]:
        return True  # mid-exec: the command line is briefly empty
    want = (proc.match or proc.argv[0]).encode().rsplit(b"/", 1)[-1]
    # Before `ip netns exec` has exec'd, the command line is still `ip netns exec NS CMD ...`; daemons
    # may also retitle themselves ("sshd: /usr/sbin/sshd -D ... [listener]").
    words = [w.rsplit(b"/", 1)[-1].rstrip(b":") for part in cmdline for w in part.split()]
    return want in words


def _stop(proc: ProcessRecord, grace: float = 5.0) -> None:
    _stop_all([proc], grace)


def _stop_all(procs: list[ProcessRecord], grace: float = 5.0) -> None:
    """SIGTERM every process (in the given order: clients before servers), wait together, then SIGKILL.

    Waiting for all at once keeps `down` short: etcd, for one, ignores SIGTERM for a while when API
    servers still hold watches on it.
    """
    running = [p for p in procs if _alive(p)]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while running and time.monotonic() < deadline:
        for proc in running:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
        running = [p for p in running if _alive(p)]
        time.sleep(0.05)
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    # SIGKILL is delivered asynchronously: return once they are gone (bounded), so callers see them gone.
    deadline = time.monotonic() + 2.0
    while running and time.monotonic() < deadline:
        for proc in running:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
        running = [p for p in running if _alive(p)]
        if running:
            time.sleep(0.02)


def load_lab_json(state_dir: Path | None = None) -> dict[str, Any]:
    """The running lab's access description (raises LabError when the lab is not up)."""
    path = (state_dir or default_lab_state()) / "lab.json"
    if not path.exists():
        raise LabError(f"the lab is not running (no {path}); start it with `zengarden lab up`")
    data: dict[str, Any] = json.loads(path.read_text())
    return data
