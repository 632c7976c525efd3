"""The lab run at maximum verbosity prints and writes no byte of any lab credential or key.

The lab's secrets (router and proxy passwords, WireGuard private keys, the SSH key, every TLS and
Kubernetes private key, the admin kubeconfig's key) are read from its state directory; a full run of
``suites features`` inside the management namespace with ``--tb=long -l --log-level=DEBUG
-o log_cli=true -o junit_logging=all`` must contain none of them in stdout, stderr, JUnit or a file
under its TMPDIR, also with a deviation (failing checks print their locals with ``-l``) and with a
wrong router password (the forced login-error path).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_zengarden.lab.lifecycle import Lab
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE, junit_cases

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)

VERBOSE = ["--tb=long", "-l", "--log-level=DEBUG", "-o", "log_cli=true", "-o", "junit_logging=all"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(load_site(SITE), SITE, tmp_path_factory.mktemp("lab") / "state", progress=lambda msg: None)
    try:
        lab.up(deviate=["telnet-on"])
        yield lab
    finally:
        lab.down()


def lab_secrets(state: Path) -> dict[str, str]:
    """Every credential the lab holds, as the strings that would betray it (PEM keys by their body lines)."""
    found: dict[str, str] = {}
    for path in sorted(state.rglob("*")):
        if not path.is_file() or path.stat().st_size > 65536 or path.suffix == ".pub":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.parent.name == "secrets" and "PRIVATE KEY" not in text and text.strip():
            found[str(path)] = text.strip()  # passwords, WireGuard private keys
        if "PRIVATE KEY-----" in text:
            body = [ln for ln in text.splitlines() if ln and not ln.startswith("-----")]
            found[f"{path} (first body line)"] = max(body, key=len)
        if path.name == "kubeconfig":
            for line in text.splitlines():
                if "client-key-data" in line:
                    data = line.split(":", 1)[1].strip().strip('"')
                    found[f"{path} client-key-data"] = data[:64]
                    pem = base64.b64decode(data).decode()
                    found[f"{path} client key"] = max(pem.splitlines()[1:-1], key=len)
    return found


def run_in_lab(lab: Lab, tmp: Path, *args: str) -> tuple[str, str, str]:
    state = json.loads((lab.dir / "lab.json").read_text())
    xml = tmp / "junit.xml"
    tmpdir = tmp / "tmpdir"
    tmpdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["ip", "netns", "exec", state["management_netns"], sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         *args, "--zg-target", "lab", *VERBOSE, f"--junitxml={xml}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "ZG_LAB_STATE": str(lab.dir), "TMPDIR": str(tmpdir)},
    )  # fmt: skip
    assert xml.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, proc.stderr, xml.read_text(encoding="utf-8")


def leaks(secrets: dict[str, str], tmp: Path, *texts: str) -> list[str]:
    hits = [f"{name} in output #{i}" for name, s in secrets.items() for i, t in enumerate(texts) if s in t]
    for path in tmp.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{name} in {path}" for name, s in secrets.items() if s.encode() in data]
    return hits


def test_full_lab_run_at_maximum_verbosity_prints_no_credential(lab: Lab, tmp_path: Path) -> None:
    secrets = lab_secrets(lab.dir)
    # The lab holds what the check looks for: a router password, WireGuard keys, TLS and SSH keys.
    assert any(n.endswith("router-password") for n in secrets) and any("wg-" in n for n in secrets), secrets.keys()
    out, err, junit = run_in_lab(lab, tmp_path, "suites", "features")
    assert "test_service[telnet]" in out and "failed" in out, out[-3000:]  # the deviation's locals were shown
    # Not clean by failing to connect: the router, the cluster (client key via memfd) and SSH all answered.
    cases = junit_cases(tmp_path / "junit.xml")
    passed = {name.split("::")[1] for name, case in cases.items() if case["outcome"] == "passed"}
    assert {"test_metallb_pool", "test_k3s_config[blade001]", "test_service[ssh]"} <= passed, sorted(passed)[:40]
    assert not leaks(secrets, tmp_path, out, err, junit)


def test_wrong_router_password_in_the_lab_prints_neither(lab: Lab, tmp_path: Path) -> None:
    password_file = lab.dir / "secrets" / "router-password"
    right = password_file.read_text()
    wrong = "Zg-Wrong-Pw-5t8Yh3Nd0"
    password_file.write_text(wrong + "\n")
    try:
        out, err, junit = run_in_lab(lab, tmp_path, "suites/test_router.py")
    finally:
        password_file.write_text(right)
    assert "login refused" in out, out[-3000:]
    secrets = {**lab_secrets(lab.dir), "the wrong password": wrong}
    assert not leaks(secrets, tmp_path, out, err, junit)


def test_provisioning_at_maximum_verbosity_prints_no_credential(lab: Lab, tmp_path: Path) -> None:
    """Last in the module (it repairs the deviation): router writes in Safe Mode, a blade file over SSH."""
    # Through the blade itself (its /etc is an overlay: the lab's copy underneath must not be touched).
    state = json.loads((lab.dir / "lab.json").read_text())
    ssh = [
        "ssh",
        "-i",
        str(lab.dir / "secrets" / "ssh_key"),
        "-o",
        f"UserKnownHostsFile={lab.dir / 'known_hosts'}",
        "-o",
        "BatchMode=yes",
        f"zengarden@{lab.site.blades['blade001'].address}",
        "sudo -n rm /etc/sysctl.d/90-kubelet.conf",
    ]
    subprocess.run(["ip", "netns", "exec", state["management_netns"], *ssh], check=True, timeout=30)
    out, err, junit = run_in_lab(lab, tmp_path, "suites/test_router.py", "--provision")
    cases = junit_cases(tmp_path / "junit.xml")
    router = cases["::provision[router]"]
    assert router["outcome"] == "passed" and any("telnet" in line for line in router["props"]["applied"]), router
    blade = cases["::provision[blade001]"]
    assert blade["props"]["applied"] == [
        "blade001 + /etc/sysctl.d/90-kubelet.conf   [HOST-KERNEL]",
        "blade001 ~ service sysctl sysctl -p (its configuration changed)   [HOST-KERNEL]",
    ], blade
    assert cases["suites.test_router::test_service[telnet]"]["outcome"] == "passed"  # judged after the repair
    assert not leaks(lab_secrets(lab.dir), tmp_path, out, err, junit)
