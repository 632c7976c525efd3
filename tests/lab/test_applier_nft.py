"""The lab router's apply step against the real kernel, through libnftables, in a private network namespace.

Each test runs a small program under ``unshare -n`` (root): nothing touches this machine's own ruleset.
A table owned by another netlink socket (``flags owner``) makes the kernel refuse the router's
transaction, a real nft error: it must reach the client, and the same change tried again once the
owner is gone must be applied, not skipped as unchanged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nft") is None,
    reason="needs root, unshare and nft",
)

PROGRAM = textwrap.dedent(
    """
    import ctypes, subprocess, sys, tempfile
    from pathlib import Path
    from pytest_zengarden.lab import nft_lib
    from pytest_zengarden.lab.router_daemon import TABLE, Applier
    from pytest_zengarden.lab.routeros import ConfigStore, RouterOsError, StoreOptions

    def ruleset():
        return subprocess.run(["nft", "list", "table", "inet", TABLE], capture_output=True, text=True,
                              timeout=10).stdout

    assert nft_lib.load() is not None, "libnftables did not load"
    store = ConfigStore(options=StoreOptions(interfaces=("ether1",)), users={"admin": "pw"})
    store.on_change = Applier(Path(tempfile.mkdtemp()), None)
    store.reapply()
    rule = store.add("/ip/firewall/filter", {"chain": "forward", "action": "drop", "comment": "before"})
    assert "before" in ruleset()
    # Another socket takes the table over: the kernel refuses the router's next transaction.
    owner = nft_lib.Nft(ctypes.CDLL(nft_lib.LIBRARY))
    res = owner.run(f"delete table inet {TABLE}\\ntable inet {TABLE} {{ flags owner; }}\\n")
    assert res.rc == 0, res.error
    binary = subprocess.run(["nft", "-f", "-"], input=f"add table inet {TABLE}\\ndelete table inet {TABLE}\\n",
                            capture_output=True, text=True, timeout=10)
    assert binary.returncode != 0
    for attempt in (1, 2):
        try:
            store.set("/ip/firewall/filter", [rule], {"comment": "after"})
        except RouterOsError as exc:
            print("refused:", exc)
        else:
            raise AssertionError("the kernel refused nothing")
        assert store.get("/ip/firewall/filter", rule)["comment"] == "before"
    print("binary:", binary.stderr.strip().splitlines()[-1])
    owner.close()  # the owner's table goes with its socket
    store.set("/ip/firewall/filter", [rule], {"comment": "after"})
    listing = ruleset()
    assert "after" in listing and "before" not in listing, listing
    print("applied after the failure")
    """
)


def test_a_refused_change_reaches_the_client_and_applies_when_tried_again() -> None:
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    refused = [line for line in lines if line.startswith("refused: ")]
    assert len(refused) == 2  # the second try ran nft again and was refused again
    assert all(r.startswith("refused: failure: firewall could not be applied: ") for r in refused)
    # The library's error ends like the nft binary's: what the client saw before libnftables.
    (binary,) = [line for line in lines if line.startswith("binary: ")]
    assert refused[0].rsplit(": ", 1)[1].strip() == binary.split(": ", 1)[1].strip()
    assert lines[-1] == "applied after the failure"
