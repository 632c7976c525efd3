"""`zengarden lab down` after a crash: every lab process killed, then down removes everything."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_zengarden.lab.lifecycle import Lab, LabState
from pytest_zengarden.lab.netns import list_namespaces
from pytest_zengarden.site.loader import load_site

from ..helpers import SITE

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)


def test_down_after_a_crash_removes_everything(tmp_path: Path):
    """Kill every lab process (a crash), then `down`: no namespace, process or state is left."""
    site = load_site(SITE)
    if any(n.startswith("zg-") for n in list_namespaces()):
        pytest.skip("another lab is running on this machine")
    lab = Lab(site, SITE, tmp_path, progress=lambda msg: None, parts=("router",))  # what is provisioned is moot here
    lab.up()
    state = LabState.load(tmp_path / "state.json")
    for p in state.processes:
        os.kill(p.pid, 9)
    assert lab.down()
    assert not [n for n in list_namespaces() if n in state.namespaces]
    assert all(
        not Path(f"/proc/{p.pid}").exists() or b"zombie" in Path(f"/proc/{p.pid}/status").read_bytes().lower()
        for p in state.processes
    )
    assert not (tmp_path / "state.json").exists() and not (tmp_path / "lab.json").exists()
    assert not lab.down()  # nothing left to remove
    # The router's nftables table lived in its namespace: none is left anywhere we can see.
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert "zg_routeros" not in tables
