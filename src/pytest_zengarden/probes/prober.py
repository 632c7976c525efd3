"""Run the probe agent at each segment's vantage point and collect its JSON results (I/O).

In the lab a vantage point is a namespace (``ip netns exec zg-home python -m pytest_zengarden.lab.probe``);
the agent itself refuses to send anything unless it runs inside a lab namespace.  On a live site it is
a host of the segment reached over SSH (key authentication, batch mode, a connect timeout); the agent,
one stdlib file, is shipped as ``python3 -c <source>`` and needs nothing installed there.  Every vantage runs
its whole batch at once (the agent probes concurrently), all vantages in parallel; each batch and each
listener is bounded in time.  Listeners on the target side (TCP accept+close, UDP echo) make an
allowed flow show ``open`` rather than depend on whatever the target happens to run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import select
import shlex
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TargetError, UnsafeTarget
from .plan import Observation, PlannedProbe, plan

AGENT_SOURCE = Path(__file__).resolve().with_name("agent.py")
READY_TIMEOUT = 15.0  # seconds for a listener to bind its ports
MAX_PROBES_PER_VANTAGE = 20000
RESULTS = frozenset(
    {"open", "closed", "filtered", "rejected", "error"}
)  # a plan larger than this is a bug, not a run to wait for


@dataclass(frozen=True)
class SshLogin:
    """How to reach a vantage host: ``user@host:port`` with a key, host keys checked."""

    user: str
    key_file: Path
    port: int = 22
    known_hosts: Path | None = None
    connect_timeout: float = 10.0

    def command(self, host: str, remote: str) -> list[str]:
        verify = (
            ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
            if self.known_hosts is not None
            else ["-o", "StrictHostKeyChecking=accept-new"]
        )
        return [
            "ssh", "-i", str(self.key_file), "-p", str(self.port), "-o", "BatchMode=yes",
            "-o", "PasswordAuthentication=no", "-o", f"ConnectTimeout={int(max(1, self.connect_timeout))}",
            *verify, f"{self.user}@{host}", remote,
        ]  # fmt: skip


@dataclass(frozen=True)
class Vantage:
    """Where a segment's probes start (and where its listeners run): a lab namespace, or a host over SSH."""

    segment: str
    address: str
    netns: str | None = None
    ssh: SshLogin | None = None

    @property
    def where(self) -> str:
        return self.netns if self.netns is not None else f"{self.address} (ssh)"


class Prober:
    """Runs probes at vantage points: lab namespaces (``netns``) or site hosts over SSH (``ssh``)."""

    def __init__(
        self,
        vantages: Mapping[str, Vantage],
        lab_namespaces: Sequence[str],
        router_addresses: Sequence[str],
        *,
        timeout_s: float = 1.0,
        concurrency: int = 256,
        netns_agent: Sequence[str] = (),
    ):
        """``netns_agent``: the command that runs the agent inside a lab namespace (the lab target gives its
        own, which refuses to run anywhere else); namespace vantages need it, SSH vantages ship the agent."""
        unknown = sorted(v.netns for v in vantages.values() if v.netns is not None and v.netns not in lab_namespaces)
        if unknown:
            raise UnsafeTarget(f"vantage namespaces {unknown} are not the lab's; refusing to run probes there")
        bad = sorted(v.segment for v in vantages.values() if (v.netns is None) == (v.ssh is None))
        if bad:
            raise ValueError(f"vantages {bad} need exactly one of netns and ssh")
        if not netns_agent and any(v.netns is not None for v in vantages.values()):
            raise UnsafeTarget("namespace vantages need the lab's agent (netns_agent): refusing to run probes")
        self.netns_agent = tuple(netns_agent)
        self.vantages = dict(vantages)
        self.router_addresses = frozenset(router_addresses)
        self.timeout_s = timeout_s
        self.concurrency = concurrency

    def vantage(self, segment: str) -> Vantage:
        try:
            return self.vantages[segment]
        except KeyError:
            raise TargetError("lab", f"the lab has no vantage point in segment {segment!r}") from None

    def _cmd(self, v: Vantage, *args: str) -> list[str]:
        if v.netns is not None:
            return ["ip", "netns", "exec", v.netns, *self.netns_agent, *args]
        assert v.ssh is not None
        source = _agent_source()
        # Listeners on privileged ports (443) need root: a login user with passwordless sudo runs the agent
        # through it (root login is often off on site hosts); without sudo it runs as that user.
        elevate = 's=; [ "$(id -u)" = 0 ] || { sudo -n true 2>/dev/null && s="sudo -n"; }; '
        remote = elevate + "exec $s env ZG_PROBE_AGENT=remote python3 -c " + shlex.join([source, *args])
        return v.ssh.command(v.address, remote)

    def _ip_json(self, v: Vantage, *args: str) -> Any:
        """``ip -j ARGS`` at the vantage (it sends no packet), parsed; errors name the vantage."""
        if v.netns is not None:
            cmd = ["ip", "-n", v.netns, "-j", *args]
        else:
            assert v.ssh is not None
            cmd = v.ssh.command(v.address, shlex.join(["ip", "-j", *args]))
        what = f"`ip {' '.join(args)}`"
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            raise TargetError(v.where, f"no answer to {what} within 30s") from None
        if v.ssh is not None and proc.returncode == 255:
            lines = proc.stderr.strip().splitlines()
            raise TargetError(v.where, f"ssh failed: {lines[-1] if lines else 'exit 255'}")
        if proc.returncode != 0:
            raise TargetError(v.where, f"{what} failed: {proc.stderr.strip()[-300:]}")
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise TargetError(v.where, f"{what} printed no JSON: {proc.stdout[:200]!r}") from None

    def via_router(self, segment: str, dst: str) -> bool:
        """Whether the vantage of ``segment`` sends traffic for ``dst`` through the router.

        Through a gateway that is one of the router's addresses, or into a WireGuard (point-to-point)
        tunnel, which ends on the router.  A vantage with no route at all is an error: it cannot stand for its segment.
        """
        v = self.vantage(segment)
        routes = self._ip_json(v, "route", "get", dst, "from", v.address)
        if not isinstance(routes, list) or not routes or not isinstance(routes[0], dict):
            raise TargetError(v.where, f"`ip route get {dst}` gave no route: {routes!r}")
        route = routes[0]
        if route.get("gateway") in self.router_addresses:
            return True
        dev = str(route.get("dev", ""))
        if route.get("gateway") or not dev:
            return False
        links = self._ip_json(v, "-d", "link", "show", "dev", dev)
        link = links[0] if isinstance(links, list) and links and isinstance(links[0], dict) else {}
        kind = link.get("linkinfo", {}).get("info_kind")
        # A kernel WireGuard link, or a point-to-point tunnel device (wireguard-go's TUN) on the way out.
        tunnel = link.get("link_type") == "none" and "POINTOPOINT" in link.get("flags", [])
        return bool(kind == "wireguard" or tunnel)

    @contextlib.contextmanager
    def listening(
        self, ports: Mapping[str, tuple[Sequence[int], Sequence[int]]], seconds: float
    ) -> Iterator[set[tuple[str, str, int]]]:
        """Listeners at each segment's target address for the given (TCP, UDP) ports, for at most ``seconds``.

        Yields the ports some other program already served, as ``(segment, "tcp", 22)``: those answer on
        their own, so a reset there is the service's, not a firewall's.
        """
        procs: list[subprocess.Popen[str]] = []
        busy: set[tuple[str, str, int]] = set()
        try:
            for segment, (tcp, udp) in sorted(ports.items()):
                if not tcp and not udp:
                    continue
                v = self.vantage(segment)
                args = ["listen", "--bind", v.address, "--seconds", f"{seconds:g}", "--skip-busy"]
                args += ["--tcp", ",".join(map(str, sorted(set(tcp)))), "--udp", ",".join(map(str, sorted(set(udp))))]
                proc = subprocess.Popen(self._cmd(v, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                procs.append(proc)
                ready = _wait_ready(proc, f"listener at {v.where} ({segment})")
                for item in ready.get("busy", []):
                    kind, _, port = str(item).partition("/")
                    if port.isdigit():
                        busy.add((segment, kind, int(port)))
            yield busy
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.communicate(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate(timeout=5)

    def run(self, batches: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        """Run each segment's probes at its vantage, all vantages in parallel; results in probe order."""
        results: dict[str, list[dict[str, Any]]] = {}
        errors: dict[str, str] = {}
        threads = []

        def one(segment: str, probes: Sequence[Mapping[str, Any]]) -> None:
            try:
                collect(segment, probes)
            except Exception as exc:  # anything unexpected is this vantage's error, never a lost result
                errors[segment] = f"probes from {segment} failed: {type(exc).__name__}: {exc}"

        def collect(segment: str, probes: Sequence[Mapping[str, Any]]) -> None:
            v = self.vantage(segment)
            payload = [{"timeout": self.timeout_s, **p, "src": v.address} for p in probes]
            rounds = math.ceil(len(payload) / self.concurrency)
            limit = rounds * (self.timeout_s + 1.0) + 30.0
            try:
                proc = subprocess.run(
                    self._cmd(v, "probe", "--concurrency", str(self.concurrency)),
                    input=json.dumps(payload),
                    capture_output=True,
                    text=True,
                    timeout=limit,
                )
            except subprocess.TimeoutExpired:
                errors[segment] = f"probe agent at {v.where} did not finish within {limit:.0f}s"
                return
            if proc.returncode != 0:
                errors[segment] = f"probe agent at {v.where} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}"
                return
            try:
                got = json.loads(proc.stdout)
            except ValueError:
                errors[segment] = f"probe agent at {v.where} printed no JSON: {proc.stdout[:200]!r}"
                return
            if not isinstance(got, list) or len(got) != len(payload):
                count = len(got) if isinstance(got, list) else type(got).__name__
                errors[segment] = f"probe agent at {v.where} returned {count} results for {len(payload)} probes"
                return
            for res in got:
                if not isinstance(res, dict) or res.get("result") not in RESULTS:
                    errors[segment] = f"probe agent at {v.where} returned a malformed result: {str(res)[:200]}"
                    return
            results[segment] = got

        for segment, probes in batches.items():
            if len(probes) > MAX_PROBES_PER_VANTAGE:
                raise ValueError(f"{len(probes)} probes from {segment}: more than {MAX_PROBES_PER_VANTAGE}")
            if probes:
                t = threading.Thread(target=one, args=(segment, probes), name=f"zg-probe-{segment}")
                threads.append(t)
                t.start()
        for t in threads:
            t.join()
        if errors:
            raise TargetError("probes", "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())))
        return results


@functools.cache
def _agent_source() -> str:
    """The agent shipped to SSH vantages: read once per process."""
    return AGENT_SOURCE.read_text(encoding="utf-8")


def _wait_ready(proc: subprocess.Popen[str], what: str) -> dict[str, Any]:
    """The listener's one JSON "ready" line (bounded wait); a listener that does not start is an error."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT)
    line = proc.stdout.readline() if ready else ""
    try:
        announced = json.loads(line)
    except ValueError:
        announced = None
    if not isinstance(announced, dict) or announced.get("ready") is not True:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        raise TargetError(what, f"did not start: {(err or line).strip()[-300:]}")
    return announced


def observe(site: Any, rows: Sequence[Any], prober: Prober) -> list[Observation]:
    """Probe every planned flow of ``rows`` (see :mod:`pytest_zengarden.probes.plan`) and return what came back.

    Flows the vantage does not send through the router come back ``skipped`` with the reason: they say
    nothing about the router's firewall.
    """
    return run_planned(prober, plan(site, rows))


def run_planned(prober: Prober, planned: Sequence[PlannedProbe]) -> list[Observation]:
    """Send ``planned`` probes (listeners at their targets first); results in plan order."""
    routes: dict[tuple[str, str], bool] = {}
    batches: dict[str, list[dict[str, Any]]] = {}
    index: dict[str, list[int]] = {}
    out: list[Observation | None] = [None] * len(planned)
    listen: dict[str, tuple[list[int], list[int]]] = {}
    for i, p in enumerate(planned):
        missing = [seg for seg in (p.src, p.dst) if seg not in prober.vantages]
        if missing:
            out[i] = Observation(p, "", "", "skipped", f"no vantage point in {' or '.join(missing)}")
            continue
        src, dst = prober.vantage(p.src), prober.vantage(p.dst)
        key = (p.src, dst.address)
        if key not in routes:
            routes[key] = prober.via_router(p.src, dst.address)
        if not routes[key]:
            out[i] = Observation(
                p,
                src.address,
                dst.address,
                "skipped",
                f"the {p.src} vantage does not reach {dst.address} via the router",
            )
            continue
        batches.setdefault(p.src, []).append({"proto": p.protocol.value, "dst": dst.address, "port": p.port})
        index.setdefault(p.src, []).append(i)
        tcp, udp = listen.setdefault(p.dst, ([], []))
        (tcp if p.protocol.value == "tcp" else udp).append(p.port)
    longest = max((len(b) for b in batches.values()), default=0)
    seconds = math.ceil(longest / prober.concurrency) * (prober.timeout_s + 1.0) + 60.0
    with prober.listening(listen, seconds) as busy:
        results = prober.run(batches)
    for segment, positions in index.items():
        for i, res in zip(positions, results[segment], strict=True):
            p = planned[i]
            src_addr, dst_addr = str(res.get("src")), str(res.get("dst"))
            listened = (p.dst, p.protocol.value, p.port) not in busy
            out[i] = Observation(p, src_addr, dst_addr, str(res["result"]), str(res.get("detail", "")), listened)
    return [o for o in out if o is not None]
