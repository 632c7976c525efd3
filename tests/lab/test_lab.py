"""The network twin end to end: `zengarden lab up`, the emulator's rules enforced on real packets, `down`.

Runs as root (CI does). All traffic stays between the lab's own namespaces; the test harness enters
them with `ip netns exec`, and nothing is ever sent from the root namespace to a lab address.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.lab.lifecycle import Lab
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)


def in_ns(ns: str, code: str, timeout: float = 60) -> Any:
    """Run Python ``code`` inside namespace ``ns``; it prints one JSON document, returned parsed."""
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def probe(ns: str, flows: list[tuple[str, str, int]], timeout: float = 1.0) -> list[str]:
    """Results (open/closed/filtered/rejected) of real connection attempts from ``ns``."""
    probes = [{"proto": p, "dst": d, "port": port, "timeout": timeout} for p, d, port in flows]
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "pytest_zengarden.lab.probe", "probe"],
        input=json.dumps(probes),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    return [r["result"] for r in json.loads(proc.stdout)]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab-state")


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    site = load_site(SITE)
    lab = Lab(site, SITE, state_dir, progress=lambda msg: None)
    before_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    lab.up()  # how long it takes is benchmarks/bench_lab.py's to print, not a test's to assert
    try:
        yield lab
    finally:
        lab.down()
        assert subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout == before_links


@pytest.fixture(scope="module")
def listeners(lab: Lab) -> Iterator[None]:
    """TCP/UDP listeners on a cluster blade and in the home segment, for the packet tests."""
    procs = []
    # blade001's port 22 is its own sshd (the lab's blades are SSH hosts); the rest are test listeners.
    for ns, ports in (("zg-blade001", "80,443,8080"), ("zg-home", "22,80,443,8080"), ("zg-management", "22,80,443")):
        argv = [sys.executable, "-m", "pytest_zengarden.lab.probe", "listen", "--bind", "0.0.0.0", "--tcp", ports,
                "--udp", "5353", "--seconds", "300"]  # fmt: skip
        procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
    time.sleep(0.5)
    yield
    for p in procs:
        p.terminate()
        p.wait(5)


def test_every_component_is_healthy_after_up(lab: Lab):
    rows = lab.status_rows()
    bad = [r for r in rows if not r[1]]
    assert not bad, bad
    names = {r[0] for r in rows}
    assert {"routeros", "dnsmasq", "wireguard-go-wireguard1", "wireguard-go-wg0"} <= names


def test_up_again_is_idempotent(lab: Lab):
    pids = [p.pid for p in lab.state().processes]  # type: ignore[union-attr]
    lab.up()
    assert [p.pid for p in lab.state().processes] == pids  # type: ignore[union-attr]


def test_no_lab_namespace_has_a_way_out(lab: Lab):
    """Every interface of every lab namespace is loopback, a lab veth or bridge, or the WireGuard tun."""
    for ns in lab.state().namespaces:  # type: ignore[union-attr]
        inside = subprocess.run(
            ["ip", "netns", "exec", ns, "ip", "-d", "-o", "link", "show"], capture_output=True, text=True, check=True
        ).stdout
        for line in inside.splitlines():
            assert any(k in line.split() for k in ("link/loopback", "veth", "bridge", "tun")), f"{ns}: {line[:160]}"
        routes = subprocess.run(
            ["ip", "netns", "exec", ns, "ip", "-4", "route"], capture_output=True, text=True, check=True
        ).stdout
        # Default routes only ever point at lab addresses (the router, or the lab's internet host).
        for line in routes.splitlines():
            if line.startswith("default"):
                assert line.split()[2] in {
                    "192.168.77.1",
                    "192.168.88.1",
                    "192.168.100.1",
                    "203.0.113.254",
                    "198.51.100.1",
                }, f"{ns}: {line}"


def _api(state_dir: Path, body: str) -> Any:
    """Run ``body`` in the management namespace with ``api`` (librouteros over API-SSL) and ``rest`` (httpx)."""
    lab_json = json.loads((state_dir / "lab.json").read_text())
    router = lab_json["inventory"]["router"]
    code = f"""
import json, ssl, httpx, librouteros
ca = {router["ca_file"]!r}
pw = open({router["password"]["file"]!r}).read().strip()
ctx = ssl.create_default_context(cafile=ca)
api = librouteros.connect("192.168.100.1", {router["username"]!r}, pw, port=8729, timeout=5,
                          ssl_wrapper=lambda s: ctx.wrap_socket(s, server_hostname="192.168.100.1"))
plain = librouteros.connect("192.168.100.1", {router["username"]!r}, pw, port=8728, timeout=5)
rest = httpx.Client(base_url="https://192.168.100.1/rest", auth=({router["username"]!r}, pw), verify=ca, timeout=5)
out = {{}}
{body}
print(json.dumps(out))
"""
    return in_ns("zg-management", code)


def test_librouteros_and_rest_manage_rules_and_agree(lab: Lab, state_dir: Path):
    out = _api(
        state_dir,
        """
flt = api.path("/ip/firewall/filter")
first = next(r[".id"] for r in flt)
new = flt.add(chain="forward", action="drop", protocol="udp", **{"dst-port": "9999"}, comment="zg-test rule")
tuple(plain("/ip/firewall/filter/move", numbers=new, destination=first))
ids_api = [r[".id"] for r in plain.path("/ip/firewall/filter")]
ids_rest = [r[".id"] for r in rest.get("/ip/firewall/filter").json()]
out["moved_first"] = ids_api[0] == new
out["agree"] = ids_api == ids_rest
rest_rec = rest.get(f"/ip/firewall/filter/{new}").json()
out["rest_sees"] = rest_rec.get("comment") == "zg-test rule" and rest_rec.get("dst-port") == "9999"
made = rest.put("/ip/firewall/filter", json={"chain": "forward", "action": "accept", "comment": "zg-test rest"}).json()
out["api_sees_rest"] = any(r.get("comment") == "zg-test rest" for r in api.path("/ip/firewall/filter"))
flt.remove(new)
out["delete_status"] = rest.delete(f"/ip/firewall/filter/{made['.id']}").status_code
out["gone"] = all(r.get("comment", "").startswith("zg-test") is False for r in api.path("/ip/firewall/filter"))
""",
    )
    assert out == {
        "moved_first": True,
        "agree": True,
        "rest_sees": True,
        "api_sees_rest": True,
        "delete_status": 204,
        "gone": True,
    }


def test_wrong_password_is_refused_as_routeros_refuses_it(lab: Lab):
    out = in_ns(
        "zg-management",
        """
import json, librouteros
from librouteros.exceptions import TrapError
try:
    librouteros.connect("192.168.100.1", "zengarden", "wrong", port=8728, timeout=5)
    print(json.dumps("logged in"))
except TrapError as exc:
    print(json.dumps(str(exc)))
""",
    )
    assert "invalid user name or password" in out


def test_default_lab_enforces_the_site_policy(lab: Lab, listeners: None):
    # home -> cluster: web only (FW-HOME-WEB); SSH and other ports dropped (FW-DEFAULT-DENY).
    assert probe(
        "zg-home",
        [
            ("tcp", "192.168.77.170", 443),
            ("tcp", "192.168.77.170", 80),
            ("tcp", "192.168.77.170", 22),
            ("tcp", "192.168.77.170", 8080),
        ],
    ) == ["open", "open", "filtered", "filtered"]
    # management -> everything (FW-MGMT-ALL); nothing -> management (FW-MGMT-NO-INBOUND).
    assert probe("zg-management", [("tcp", "192.168.77.170", 22), ("tcp", "192.168.88.10", 22)]) == ["open", "open"]
    assert probe("zg-blade001", [("tcp", "192.168.100.10", 22)]) == ["filtered"]
    assert probe("zg-home", [("tcp", "192.168.100.10", 22)]) == ["filtered"]
    # cluster is isolated from home (FW-CLUSTER-NO-HOME); the internet cannot get in (FW-WAN-NO-INBOUND).
    assert probe("zg-blade001", [("tcp", "192.168.88.10", 22)]) == ["filtered"]
    assert probe("zg-internet", [("tcp", "192.168.77.170", 443)]) == ["filtered"]


def test_wireguard_client_reaches_cluster_and_pods_through_a_real_tunnel(lab: Lab, listeners: None):
    # FW-WG-CLUSTER over wireguard-go; FW-WG-NO-HOME blocks home and management.
    assert probe(
        "zg-wireguard",
        [
            ("tcp", "192.168.77.170", 8080),
            ("udp", "192.168.77.170", 5353),
            ("tcp", "192.168.88.10", 22),
            ("tcp", "192.168.100.10", 22),
        ],
        timeout=2,
    ) == ["open", "open", "filtered", "filtered"]


def test_rules_added_over_the_api_change_the_data_plane(lab: Lab, state_dir: Path, listeners: None):
    assert probe("zg-home", [("tcp", "192.168.77.170", 22)]) == ["filtered"]
    _api(
        state_dir,
        """
flt = api.path("/ip/firewall/filter")
anchor = next(r[".id"] for r in flt if r.get("comment", "").startswith("zg:FW-HOME-WEB"))
rid = flt.add(chain="forward", action="accept", protocol="tcp", **{"src-address": "!192.168.99.0/24",
              "dst-address-list": "ssh-targets", "dst-port": "20-23", "place-before": anchor}, comment="zg-test ssh")
plain.path("/ip/firewall/address-list").add(list="ssh-targets", address="192.168.77.170")
out["id"] = rid
""",
    )
    try:
        assert probe("zg-home", [("tcp", "192.168.77.170", 22), ("tcp", "192.168.77.171", 22)]) == [
            "open",
            "filtered",
        ]  # .171 is not in the address list (no listener there either: still no answer)
    finally:
        _api(
            state_dir,
            """
flt = api.path("/ip/firewall/filter")
flt.remove(*[r[".id"] for r in flt if r.get("comment") == "zg-test ssh"])
al = api.path("/ip/firewall/address-list")
al.remove(*[r[".id"] for r in al if r.get("list") == "ssh-targets"])
""",
        )
    assert probe("zg-home", [("tcp", "192.168.77.170", 22)]) == ["filtered"]


def test_static_dns_is_served_by_dnsmasq(lab: Lab):
    out = in_ns(
        "zg-home",
        """
import json, socket, struct
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
for part in "gitea.homelab.int.zengarden.space".split("."):
    q += bytes([len(part)]) + part.encode()
q += b"\\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(q, ("192.168.88.1", 53))
data, _ = s.recvfrom(512)
print(json.dumps(".".join(str(b) for b in data[-4:])))
""",
    )
    assert out == "192.168.77.200"


def test_configuration_survives_an_emulator_restart(lab: Lab, state_dir: Path):
    _api(state_dir, 'out["id"] = api.path("/ip/dns/static").add(name="restart.test", address="192.168.77.9")')
    old = next(p.pid for p in lab.state().processes if p.name == "routeros")  # type: ignore[union-attr]
    lab.restart("routeros")
    assert next(p.pid for p in lab.state().processes if p.name == "routeros") != old  # type: ignore[union-attr]
    out = _api(state_dir, 'out["names"] = [r["name"] for r in api.path("/ip/dns/static")]')
    assert "restart.test" in out["names"]
    _api(
        state_dir,
        """
st = api.path("/ip/dns/static")
st.remove(*[r[".id"] for r in st if r["name"] == "restart.test"])
""",
    )


def _through_proxy(state_dir: Path, method: str, path: str, auth: str = "good") -> Any:
    """A request from a cluster blade to the restrictive proxy on blade001 (as external-dns makes it)."""
    password = (state_dir / "secrets" / "proxy-password").read_text().strip()
    creds = ("proxy-user", password) if auth == "good" else ("proxy-user", "wrong")
    return in_ns(
        "zg-blade003",
        f"""
import json, httpx
r = httpx.request({method!r}, "http://192.168.77.170:5555" + {path!r}, auth={creds!r}, timeout=10,
                  headers={{"Host": "mikrotik-proxy.homelab.int.zengarden.space"}})
print(json.dumps({{"status": r.status_code, "body": r.text}}))
""",
    )


def test_restrictive_proxy_forwards_allowed_calls_with_the_router_credentials(lab: Lab, state_dir: Path):
    out = _through_proxy(state_dir, "GET", "/rest/ip/dns/static")
    assert out["status"] == 200, out
    names = {r["name"] for r in json.loads(out["body"])}
    assert "gitea.homelab.int.zengarden.space" in names


def test_restrictive_proxy_refuses_what_the_site_does_not_allow(lab: Lab, state_dir: Path):
    assert _through_proxy(state_dir, "DELETE", "/rest/ip/firewall/filter/*1")["status"] == 403
    assert _through_proxy(state_dir, "GET", "/rest/ip/firewall/filter")["status"] == 403
    assert _through_proxy(state_dir, "GET", "/rest/ip/dns/static", auth="bad")["status"] == 401


def test_lab_env_and_exec_give_hands_on_access(lab: Lab, state_dir: Path):
    env = {**os.environ, "ZG_LAB_STATE": str(state_dir)}
    zg = [sys.executable, "-m", "pytest_zengarden.cli"]
    out = subprocess.run([*zg, "lab", "env"], capture_output=True, text=True, env=env, cwd=REPO, check=True).stdout
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    assert exports["ZG_LAB_MGMT_NETNS"] == "zg-management"
    assert exports["ZG_ROUTER_HOST"] == "192.168.100.1"
    assert exports["ZG_ROUTER_USER"] == "zengarden"
    assert exports["ZG_ROUTER_REST_URL"] == "https://192.168.100.1:443/rest"
    assert Path(exports["ZG_ROUTER_CA"]).exists()
    addr = subprocess.run(
        [*zg, "lab", "exec", "home", "--", "ip", "-4", "-o", "addr", "show", "eth0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    ).stdout
    assert "192.168.88.10/24" in addr
    status = subprocess.run([*zg, "lab", "status"], capture_output=True, text=True, env=env, cwd=REPO)
    assert status.returncode == 0 and "routeros" in status.stdout and "FAIL" not in status.stdout


def test_testinfra_over_ssh_sees_each_blade_as_its_own_host(lab: Lab, state_dir: Path):
    """Blades run sshd in their own UTS and mount namespaces: hostname and files are the blade's own."""
    out = in_ns(
        "zg-management",
        f"""
import json, testinfra
seen = {{}}
for name, ip in (("blade001", "192.168.77.170"), ("blade004", "192.168.77.173")):
    host = testinfra.get_host(
        f"ssh://zengarden@{{ip}}", ssh_identity_file={str(state_dir / "secrets" / "ssh_key")!r}, sudo=True,
        ssh_extra_args="-o BatchMode=yes -o UserKnownHostsFile={state_dir / "known_hosts"} "
                       "-o StrictHostKeyChecking=yes")
    seen[name] = {{
        "hostname": host.check_output("hostname"),
        "config": host.file("/etc/rancher/k3s/config.yaml").content_string,
        "psa": host.file("/var/lib/rancher/k3s/server/psa.yaml").exists,
        "sysctl": host.file("/etc/sysctl.d/90-kubelet.conf").contains("vm.overcommit_memory=1"),
    }}
print(json.dumps(seen))
""",
    )
    assert out["blade001"]["hostname"] == "blade001" and out["blade004"]["hostname"] == "blade004"
    assert "node-external-ip: 192.168.77.170" in out["blade001"]["config"]
    assert "secrets-encryption: true" in out["blade001"]["config"]
    assert "server: https://192.168.77.170:6443" in out["blade004"]["config"]
    assert out["blade001"]["psa"] is True and out["blade004"]["psa"] is False  # servers only
    assert out["blade001"]["sysctl"] and out["blade004"]["sysctl"]


def test_node_exporter_serves_every_blade(lab: Lab):
    out = in_ns(
        "zg-management",
        """
import json, httpx
ips = ("192.168.77.170", "192.168.77.171", "192.168.77.172", "192.168.77.173", "192.168.77.174")
print(json.dumps({ip: "node_uname_info" in httpx.get(f"http://{ip}:9100/metrics", timeout=5).text for ip in ips}))
""",
    )
    assert all(out.values()), out


def test_victoria_metrics_has_an_up_series_for_every_blade(lab: Lab):
    out = in_ns(
        "zg-management",
        """
import json, time, httpx
res = []
for _ in range(40):  # scrape interval 2s; bounded wait
    r = httpx.get("http://192.168.77.173:8428/api/v1/query", params={"query": 'up{job="node"}'}, timeout=5).json()
    res = sorted((x["metric"]["blade"], x["value"][1]) for x in r["data"]["result"])
    if len(res) == 5 and all(v == "1" for _, v in res):
        break
    time.sleep(0.5)
print(json.dumps(res))
""",
    )
    assert out == [[f"blade00{i}", "1"] for i in range(1, 6)]


def test_a_test_alert_reaches_the_gotify_sink(lab: Lab):
    out = in_ns(
        "zg-management",
        """
import json, time, httpx
alert = [{"labels": {"alertname": "ZengardenLabTest", "severity": "info"}, "annotations": {"summary": "probe"}}]
httpx.post("http://192.168.77.173:9093/api/v2/alerts", json=alert, timeout=5).raise_for_status()
got = []
for _ in range(60):
    got = [r for r in httpx.get("http://192.168.77.173:9094/received", timeout=5).json()
           if any(a["labels"]["alertname"] == "ZengardenLabTest" for a in r["body"]["alerts"])]
    if got:
        break
    time.sleep(0.25)
print(json.dumps(got[:1]))
""",
    )
    assert out and out[0]["path"] == "/gotify"
    assert out[0]["body"]["receiver"] == "gotify" and out[0]["body"]["status"] == "firing"


def _tls(state_dir: Path, vip: str, host: str, version: str) -> Any:
    return in_ns(
        "zg-management",
        f"""
import json, socket, ssl
ctx = ssl.create_default_context(cafile={str(state_dir / "pki" / "ca.crt")!r})
ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.{version}
try:
    with socket.create_connection(({vip!r}, 443), timeout=5) as s, ctx.wrap_socket(s, server_hostname={host!r}) as t:
        print(json.dumps(t.version()))
except (ssl.SSLError, OSError) as exc:
    print(json.dumps("refused"))
""",
    )


def _curl(vip: str, host: str, state_dir: Path, path: str = "/", count: int = 1) -> list[str]:
    codes = []
    for _ in range(count):
        out = subprocess.run(
            ["ip", "netns", "exec", "zg-management", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
             "--max-time", "5", "--cacert", str(state_dir / "pki" / "ca.crt"), "--resolve", f"{host}:443:{vip}",
             f"https://{host}{path}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        codes.append(out.stdout)
    return codes


def test_ingress_serves_tls13_only_on_its_vip(lab: Lab, state_dir: Path):
    assert _tls(state_dir, "192.168.77.200", "gitea.homelab.int.zengarden.space", "TLSv1_3") == "TLSv1.3"
    assert _tls(state_dir, "192.168.77.200", "gitea.homelab.int.zengarden.space", "TLSv1_2") == "refused"
    assert _curl("192.168.77.200", "gitea.homelab.int.zengarden.space", state_dir) == ["200"]


def test_external_ingress_has_modsecurity_crs_and_a_rate_limit(lab: Lab, state_dir: Path):
    host = "homelab.zengarden.space"
    assert _curl("192.168.77.201", host, state_dir) == ["200"]
    assert _curl("192.168.77.201", host, state_dir, "/?q=<script>alert(1)</script>") == ["403"]  # CRS XSS rule
    codes = _curl("192.168.77.201", host, state_dir, count=40)  # 10 r/s, burst 20: some must be limited
    assert "429" in codes and "200" in codes


def test_ingress_vip_moves_when_its_blade_goes_down(lab: Lab, state_dir: Path):
    def holder() -> str:
        for blade in ("zg-blade004", "zg-blade005"):
            out = subprocess.run(
                ["ip", "netns", "exec", blade, "ip", "-4", "-o", "addr", "show", "eth0"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            if "192.168.77.200/" in out:
                return blade
        return ""

    assert holder() == "zg-blade004"
    ka = next(p for p in lab.state().processes if p.name == "keepalived-blade004")  # type: ignore[union-attr]
    os.kill(ka.pid, 15)
    try:
        for _ in range(60):
            if holder() == "zg-blade005":
                break
            time.sleep(0.25)
        assert holder() == "zg-blade005"
        assert _curl("192.168.77.200", "gitea.homelab.int.zengarden.space", state_dir) == ["200"]
    finally:
        lab.restart("keepalived-blade004")
    for _ in range(60):  # blade004 has the higher priority and takes the VIP back
        if holder() == "zg-blade004":
            break
        time.sleep(0.25)
    assert holder() == "zg-blade004"


def _kube(state_dir: Path, body: str, timeout: float = 120) -> Any:
    """Run ``body`` in the management namespace with ``core``/``apps`` (official kubernetes client, admin)."""
    code = f"""
import json, time
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
api = config.new_client_from_config(config_file={str(state_dir / "kubeconfig")!r})
core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
out = {{}}
{body}
print(json.dumps(out))
"""
    return in_ns("zg-management", code, timeout=timeout)


def test_five_nodes_are_ready_with_k3s_roles(lab: Lab, state_dir: Path):
    out = _kube(
        state_dir,
        """
for n in core.list_node().items:
    out[n.metadata.name] = {
        "ready": any(c.type == "Ready" and c.status == "True" for c in n.status.conditions),
        "roles": sorted(k.split("/", 1)[1] for k in n.metadata.labels if k.startswith("node-role.kubernetes.io/")),
        "taints": [t.key for t in (n.spec.taints or [])],
    }
""",
    )
    assert sorted(out) == [f"blade00{i}" for i in range(1, 6)]
    assert all(v["ready"] and not v["taints"] for v in out.values()), out
    assert out["blade001"]["roles"] == ["control-plane", "etcd", "master"]
    assert out["blade004"]["roles"] == []


def test_pod_security_restricted_refuses_a_privileged_pod(lab: Lab, state_dir: Path):
    out = _kube(
        state_dir,
        """
core.create_namespace({"metadata": {"name": "apps-dev-psa"}})
for _ in range(40):  # the controller manager creates the default ServiceAccount
    if core.list_namespaced_service_account("apps-dev-psa").items:
        break
    time.sleep(0.25)
pod = {"metadata": {"name": "priv"}, "spec": {"containers": [{"name": "c", "image": "busybox",
       "securityContext": {"privileged": True}}]}}
try:
    core.create_namespaced_pod("apps-dev-psa", pod, dry_run="All")
    out["status"] = 201
except ApiException as exc:
    out["status"], out["body"] = exc.status, exc.body
core.delete_namespace("apps-dev-psa")
""",
    )
    assert out["status"] == 403
    assert 'violates PodSecurity "restricted:latest"' in json.loads(out["body"])["message"]


def test_a_compliant_deployment_is_scheduled_and_runs_on_simulated_nodes(lab: Lab, state_dir: Path):
    out = _kube(
        state_dir,
        """
sc = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
dep = {"metadata": {"name": "web"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
       "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
           "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
           "containers": [{"name": "w", "image": "nginx", "securityContext": sc}]}}}}
apps.create_namespaced_deployment("default", dep)
pods = []
for _ in range(120):
    pods = core.list_namespaced_pod("default", label_selector="app=web").items
    if len(pods) == 3 and all(p.status.phase == "Running" for p in pods):
        break
    time.sleep(0.5)
out["pods"] = sorted((p.spec.node_name or "", p.status.phase) for p in pods)
apps.delete_namespaced_deployment("web", "default")
""",
    )
    assert len(out["pods"]) == 3 and all(phase == "Running" and node for node, phase in out["pods"]), out


def test_etcd_reports_three_members_and_a_leader(lab: Lab, state_dir: Path):
    """Through the plugin's own etcd client (v3 JSON gateway, client certificate), as `lab env` exports it."""
    info = json.loads((state_dir / "lab.json").read_text())["env"]
    out = in_ns(
        "zg-management",
        f"""
import json
from pathlib import Path
from pytest_zengarden.clients.etcd import EtcdClient
eps = {info["ZG_ETCD_ENDPOINTS"]!r}.split(",")
etcd = EtcdClient(eps, Path({info["ZG_ETCD_CACERT"]!r}), Path({info["ZG_ETCD_CERT"]!r}), Path({info["ZG_ETCD_KEY"]!r}))
members = sorted(m["name"] for m in etcd.members())
leaders = {{etcd.status(ep)["leader"] for ep in eps}}
print(json.dumps({{"members": members, "leaders": len(leaders)}}))
""",
    )
    assert out == {"members": ["blade001", "blade002", "blade003"], "leaders": 1}


def test_victoria_metrics_scrapes_etcd_and_the_api_servers(lab: Lab):
    out = in_ns(
        "zg-management",
        """
import json, time, httpx
res = {}
for _ in range(60):
    r = httpx.get("http://192.168.77.173:8428/api/v1/query", params={"query": 'up{job=~"etcd|apiserver"}'},
                  timeout=5).json()
    res = {x["metric"]["instance"]: x["value"][1] for x in r["data"]["result"]}
    if len(res) == 6 and set(res.values()) == {"1"}:
        break
    time.sleep(0.5)
print(json.dumps(res))
""",
    )
    assert len(out) == 6 and set(out.values()) == {"1"}, out


def test_ip_service_admits_only_its_networks(lab: Lab, state_dir: Path):
    """The input chain admits the whole LAN; /ip/service then serves the API to management only."""
    router = json.loads((state_dir / "lab.json").read_text())["inventory"]["router"]
    code = f"""
import json, librouteros
pw = open({router["password"]["file"]!r}).read().strip()
out = {{}}
for name, address in (("home", "192.168.88.1"), ("management", "192.168.100.1")):
    try:
        librouteros.connect(address, {router["username"]!r}, pw, port=8728, timeout=5).close()
        out[name] = "served"
    except Exception as exc:
        out[name] = type(exc).__name__
print(json.dumps(out))
"""
    home = in_ns("zg-home", code)["home"]
    assert home != "served"  # disconnected before the login: api admits 192.168.100.0/24 only
    assert in_ns("zg-management", code)["management"] == "served"
    assert probe("zg-home", [("tcp", "192.168.88.1", 8728)]) == ["open"]  # the firewall did let it in
