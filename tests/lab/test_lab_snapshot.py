"""The lab target's router snapshot prints every menu the checks declare, /ip/upnp included (issue 9, finding 2).

Run under the lab lock: ``flock /tmp/zg/lab.lock .venv/bin/pytest tests/lab/test_lab_snapshot.py``.
"""

from __future__ import annotations

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

from ..helpers import REPO, SITE

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)

READ = """
import json
from pytest_zengarden.clients.router import DEFAULT_MENUS
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.targets.lab import LabTarget

t = LabTarget(load_site({site!r}))
config = t.router().config
print(json.dumps({{
    "readable": sorted(config.readable or ()),
    "declared": sorted(DEFAULT_MENUS),
    "upnp": [dict(r) for r in config.items("/ip/upnp")],
    "lists": [r["name"] for r in config.items("/interface/list")],
    "telnet": dict(config.find("/ip/service", name="telnet")[0]),
}}))
t.close()
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(load_site(SITE), SITE, tmp_path / "state", progress=lambda msg: None)
    yield lab
    lab.down()


def test_the_lab_snapshot_reads_upnp_and_every_declared_menu(lab: Lab) -> None:
    lab.up(bare=True)  # a factory router: every menu at its defaults
    proc = subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-c", READ.format(site=str(SITE))],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "ZG_LAB_STATE": str(lab.dir)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    assert got["readable"] == got["declared"] and "/ip/upnp" in got["readable"]
    assert got["upnp"] == [{"enabled": "false", "allow-disable-external-interface": "false", "show-dummy-rule": "true"}]
    assert got["lists"][:4] == ["all", "none", "dynamic", "static"]
    assert got["telnet"]["disabled"] == "false" and got["telnet"]["port"] == "23"  # RouterOS ships telnet on
