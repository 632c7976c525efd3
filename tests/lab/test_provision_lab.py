"""`pytest --provision` on a bare lab: converge router, blades and cluster, then every check passes.

Also: a second run plans nothing and writes nothing (counted by the provisioner *and* in the router's
own log), and a seeded, bounded loop kills the provisioner at random points while a poller in the
management segment logs in to the router every 100 ms: every run converges and no poll fails.
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.facts.in_effect import parse_running
from pytest_zengarden.lab.lifecycle import Lab
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE, junit_cases

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)

MGMT = "zg-management"
WRITE = re.compile(r": /[\w/-]+/(add|set|unset|remove|move)( |$)", re.M)
KILLS = 20
SEED = 20261207


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(load_site(SITE), SITE, tmp_path_factory.mktemp("provision") / "state", progress=lambda msg: None)
    lab.up(bare=True)
    yield lab
    lab.down()


def in_mgmt(lab: Lab, *argv: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", MGMT, *argv],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, "ZG_LAB_STATE": str(lab.dir)},
    )  # fmt: skip


def run_pytest(lab: Lab, xml: Path, *args: str, suites: tuple[str, ...] = ("suites", "features")) -> dict[str, Any]:
    proc = in_mgmt(
        lab, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *suites,
        "--zg-target", "lab", f"--junitxml={xml}", *args,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    cases = junit_cases(xml)
    for case in cases.values():
        case["stdout"] = proc.stdout
    return cases


def router_writes(lab: Lab) -> int:
    return len(WRITE.findall((lab.dir / "logs" / "routeros.log").read_text(errors="replace")))


def provision_cases(cases: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k.split("::")[-1]: v for k, v in cases.items() if "provision[" in k}


def test_provision_converges_a_bare_lab_and_every_check_passes(lab: Lab, tmp_path: Path) -> None:
    cases = run_pytest(lab, tmp_path / "first.xml", "--provision")
    bad = {k: v["outcome"] for k, v in cases.items() if v["outcome"] != "passed"}
    assert bad == {}, next(iter(cases.values()))["stdout"][-6000:]
    prov = provision_cases(cases)
    assert set(prov) == {"provision[router]", "provision[cluster]"} | {f"provision[{b}]" for b in lab.site.blades}
    assert all(int(c["props"]["writes"][0]) > 0 for c in prov.values())
    applied = prov["provision[router]"]["props"]["applied"]
    assert "router   + /ip/firewall/filter forward #25 accept home -> cluster tcp/80,443   [FW-HOME-WEB]" in applied
    assert any(
        "label pod-security.kubernetes.io/enforce=restricted" in line
        for line in prov["provision[cluster]"]["props"]["planned"]
    )
    server = lab.site.cluster.control_plane[0]
    assert any(
        line.startswith(f"{server} ~ service k3s restart") for line in prov[f"provision[{server}]"]["props"]["applied"]
    )


def test_a_second_plan_lists_nothing_and_a_second_run_writes_nothing(lab: Lab, tmp_path: Path) -> None:
    # The provision cases cover every target whatever the checks; the router's suite keeps the run short.
    quick = ("suites/test_router.py",)
    plan = provision_cases(run_pytest(lab, tmp_path / "plan.xml", "--provision=plan", suites=quick))
    assert {k: v["props"].get("planned", []) for k, v in plan.items()} == {k: [] for k in plan}
    before = router_writes(lab)
    cases = run_pytest(lab, tmp_path / "again.xml", "--provision", suites=quick)
    prov = provision_cases(cases)
    assert {k: v["props"]["writes"] for k, v in prov.items()} == {k: ["0"] for k in prov}
    assert router_writes(lab) == before  # the router's own log: not one write command
    assert all(v["outcome"] == "passed" for v in cases.values())


def on_blade(lab: Lab, blade: str, command: str) -> str:
    """Run ``command`` as root on a blade over SSH (its /etc is an overlay: the lab's copy must not be touched).

    The lab logs in as its inventory's user (root login is off on the blades) and becomes root with sudo.
    """
    user = json.loads((lab.dir / "lab.json").read_text())["inventory"]["blades"]["user"]
    as_root = command if user == "root" else f"sudo -n sh -c {shlex.quote(command)}"
    ssh = ["ssh", "-i", str(lab.dir / "secrets" / "ssh_key"), "-o", f"UserKnownHostsFile={lab.dir / 'known_hosts'}",
           "-o", "BatchMode=yes", f"{user}@{lab.site.blades[blade].address}", as_root]  # fmt: skip
    proc = in_mgmt(lab, *ssh, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_changed_blade_file_is_rewritten_and_only_its_server_restarted(lab: Lab) -> None:
    argv_file = "/var/lib/rancher/k3s/server/.argv-in-effect.json"
    pids = {b: json.loads(on_blade(lab, b, f"cat {argv_file}"))["pid"] for b in ("blade001", "blade002")}
    on_blade(lab, "blade002", "sed -i 's/audit-log-maxage=30/audit-log-maxage=7/' /etc/rancher/k3s/config.yaml")
    on_blade(lab, "blade005", "rm /etc/sysctl.d/90-kubelet.conf")
    argv = [sys.executable, "-m", "pytest_zengarden.provision", "--site", str(SITE), "--target", "lab"]
    done = in_mgmt(lab, *argv)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "blade002 ~ /etc/rancher/k3s/config.yaml (1 keys)   [K8S-APISERVER-HARDENING]  (applied)" in done.stderr
    assert "blade002 ~ service k3s restart (its configuration changed)" in done.stderr
    assert "blade005 + /etc/sysctl.d/90-kubelet.conf   [HOST-KERNEL]  (applied)" in done.stderr
    after = {b: json.loads(on_blade(lab, b, f"cat {argv_file}")) for b in ("blade001", "blade002")}
    assert after["blade001"]["pid"] == pids["blade001"]  # untouched blade: not restarted
    assert after["blade002"]["pid"] != pids["blade002"]
    assert "--audit-log-maxage=30" in after["blade002"]["argv"]  # the flag in effect is the site's again
    assert on_blade(lab, "blade002", "stat -c %a /etc/rancher/k3s/config.yaml").strip() == "600"


def test_what_runs_is_read_from_the_journal_not_from_files_on_disk(lab: Lab, tmp_path: Path) -> None:
    """An admission file changed without a restart is not in effect: the check errors and says to restart;
    after `systemctl restart k3s` it judges what the server now runs with.  Agents log their kubelet too."""
    psa = "/var/lib/rancher/k3s/server/psa.yaml"
    check = "test_psa_admission_config[blade003]"

    def judged(xml: str) -> dict[str, Any]:
        """Outcome and the JUnit failure/error text of each case (the terminal's summary line is truncated)."""
        cases = run_pytest(lab, tmp_path / xml, "-k", "psa_admission_config", suites=("suites/test_hosts.py",))
        texts = {
            case.get("name"): " ".join((el.get("message") or "") + (el.text or "") for el in case)
            for case in ET.parse(tmp_path / xml).getroot().iter("testcase")
        }
        return {k.split("::")[-1]: v | {"stdout": texts[k.split("::")[-1]]} for k, v in cases.items()}

    kubelet = parse_running(
        on_blade(lab, "blade004", "journalctl -u k3s-agent -b -o short-unix --no-pager"), "kubelet", "blade004"
    )
    assert kubelet is not None  # the agent's restart by the provisioner logged the kubelet it runs
    assert kubelet.flag("protect-kernel-defaults") == "true" and kubelet.flag("node-ip") == "192.168.77.173"
    original = on_blade(lab, "blade003", f"cat {psa}")
    assert re.search(r'enforce: "?restricted', original), original
    try:
        on_blade(lab, "blade003", f"sed -i -E 's/enforce: \"?restricted\"?/enforce: baseline/' {psa}")
        before = judged("before.xml")
        assert before[check]["outcome"] == "error"
        assert (
            "changed at" in before[check]["stdout"] and "restart k3s for it to take effect" in before[check]["stdout"]
        )
        assert {k: v["outcome"] for k, v in before.items() if k != check} == {
            "test_psa_admission_config[blade001]": "passed",
            "test_psa_admission_config[blade002]": "passed",
        }
        on_blade(lab, "blade003", "systemctl restart k3s")
        after = judged("after.xml")
        assert after[check]["outcome"] == "failed"
        assert "set defaults.enforce: restricted" in after[check]["stdout"]
    finally:
        on_blade(lab, "blade003", f"printf %s {shlex.quote(original)} > {psa} && systemctl restart k3s")
    assert judged("restored.xml")[check]["outcome"] == "passed"


POLLER = r"""
import json, ssl, sys, time
import librouteros
host, port, user, pw, ca, out = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
results = []
print("ready", flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    start = time.monotonic()
    try:
        api = librouteros.connect(host, user, pw, port=int(port), timeout=1.0,
                                  ssl_wrapper=lambda s: ctx.wrap_socket(s, server_hostname=host))
        list(api("/system/identity/print"))
        api.close()
        results.append((start, True, ""))
    except Exception as exc:
        results.append((start, False, type(exc).__name__))
    if sys.stdin in __import__("select").select([sys.stdin], [], [], max(0.0, 0.1 - (time.monotonic() - start)))[0]:
        break
json.dump(results, open(out, "w"))
"""


def test_killed_at_random_points_every_run_converges_and_management_never_drops(lab: Lab, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data = json.loads((lab.dir / "lab.json").read_text())
    router = data["inventory"]["router"]
    password = Path(router["password"]["file"]).read_text().strip()
    argv = [sys.executable, "-m", "pytest_zengarden.provision", "--site", str(SITE), "--target", "lab"]
    # How long a router convergence from factory state takes here: kills land anywhere within it.
    lab.reset_router()
    start = time.monotonic()
    assert in_mgmt(lab, *argv, "--parts", "router").returncode == 0
    span = time.monotonic() - start
    polls: list[list[tuple[float, bool, str]]] = []
    for i in range(KILLS):
        lab.reset_router()  # factory state again: every kill interrupts real work
        out = tmp_path / f"polls-{i}.json"
        poller = subprocess.Popen(
            ["ip", "netns", "exec", MGMT, sys.executable, "-c", POLLER, data["router"]["address"],
             str(lab.site.router.api.ssl_port), router["username"], password, router["ca_file"], str(out)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert poller.stdout is not None and poller.stdin is not None
        assert poller.stdout.readline().strip() == "ready"
        proc = subprocess.Popen(
            ["ip", "netns", "exec", MGMT, *argv], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "ZG_LAB_STATE": str(lab.dir)}, start_new_session=True,
        )  # fmt: skip
        try:
            proc.wait(timeout=rng.uniform(0.05, span))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        # Started again, it converges (the router reverted a killed Safe Mode batch by itself); the blades
        # and the cluster converged on the first run, the router is what each reset takes back.
        done = in_mgmt(lab, *argv, "--parts", "router")
        assert done.returncode == 0, done.stderr[-2000:]
        poller.stdin.write("stop\n")
        poller.stdin.flush()
        poller.wait(timeout=30)
        polls.append([tuple(p) for p in json.loads(out.read_text())])  # type: ignore[misc]
    assert sum(map(len, polls)) > KILLS * 5
    # No gap longer than one poll: a poll may miss (a loaded 2-core machine), never two in a row; a
    # lockout would fail every poll until the batch is unrolled.
    gaps = [(i, j) for i, run in enumerate(polls) for j in range(len(run) - 1) if not run[j][1] and not run[j + 1][1]]
    assert gaps == [], [run for run in polls if any(not p[1] for p in run)]
    assert all(run[-1][1] for run in polls)
    plan = in_mgmt(lab, *argv, "--plan")
    assert plan.returncode == 0, plan.stderr[-2000:]
    counts = re.findall(r"^(\S+): (\d+) change\(s\) would apply", plan.stderr, re.M)
    assert len(counts) == len(lab.site.blades) + 2 and all(n == "0" for _, n in counts), plan.stderr[-2000:]
