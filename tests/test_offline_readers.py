"""Offline readers: ManifestCluster (recorded manifests) and FileTreeHost (recorded blade files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_zengarden.errors import TargetError
from pytest_zengarden.offline.hostfiles import FileTreeHost
from pytest_zengarden.offline.manifests import ManifestCluster

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def names(objects: list[dict[str, object]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]  # type: ignore[index]


# --------------------------------------------------------------------------------------- ManifestCluster
def test_manifests_unpack_kind_list(tmp_path: Path) -> None:
    write(
        tmp_path / "ns.yaml",
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"
        "  - {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n"
        "  - {apiVersion: v1, kind: Service, metadata: {name: s, namespace: a}}\n",
    )
    mc = ManifestCluster(tmp_path)
    assert names(mc.list("Namespace")) == ["a", "b"]
    assert names(mc.list("Service")) == ["s"]
    assert mc.list("List") == []


def test_manifests_unpack_typed_lists(tmp_path: Path) -> None:
    write(tmp_path / "ns.yaml", "kind: NamespaceList\nitems:\n  - {kind: Namespace, metadata: {name: a}}\n")
    assert names(ManifestCluster(tmp_path).list("Namespace")) == ["a"]


def test_manifests_multi_document_file(tmp_path: Path) -> None:
    write(
        tmp_path / "all.yaml",
        "kind: Namespace\nmetadata: {name: one}\n---\nkind: IngressClass\nmetadata: {name: internal}\n"
        "---\nkind: Namespace\nmetadata: {name: two}\n",
    )
    mc = ManifestCluster(tmp_path)
    assert names(mc.list("Namespace")) == ["one", "two"]
    assert names(mc.list("IngressClass")) == ["internal"]


def test_manifests_nested_directories_and_yml(tmp_path: Path) -> None:
    write(tmp_path / "a" / "b" / "deep.yaml", "kind: Namespace\nmetadata: {name: deep}\n")
    write(tmp_path / "c" / "other.yml", "kind: Namespace\nmetadata: {name: yml}\n")
    write(tmp_path / "top.yaml", "kind: Namespace\nmetadata: {name: top}\n")
    write(tmp_path / "notes.txt", "kind: Namespace\nmetadata: {name: ignored}\n")
    assert sorted(names(ManifestCluster(tmp_path).list("Namespace"))) == ["deep", "top", "yml"]


def test_manifests_skip_empty_documents(tmp_path: Path) -> None:
    write(tmp_path / "e.yaml", "---\n# just a comment\n---\nkind: Namespace\nmetadata: {name: x}\n---\n---\n")
    write(tmp_path / "empty.yaml", "")
    assert names(ManifestCluster(tmp_path).list("Namespace")) == ["x"]


def test_manifests_empty_directory(tmp_path: Path) -> None:
    assert ManifestCluster(tmp_path).list("Namespace") == []


def test_manifests_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "ok.yaml", "kind: Namespace\nmetadata: {name: ok}\n")
    bad = write(tmp_path / "sub" / "broken.yaml", "kind: Namespace\nmetadata:\n  name: [unclosed\n  x: 1\n")
    with pytest.raises(TargetError) as info:
        ManifestCluster(tmp_path)
    msg = str(info.value)
    assert f"{bad}:" in msg
    assert "not valid YAML" in msg
    line = int(msg.split(f"{bad}:", 1)[1].split(":", 1)[0])
    assert line in (3, 4, 5)
    assert info.value.target == f"cluster (recorded at {tmp_path})"


@pytest.mark.parametrize(
    ("text", "doc"),
    [
        ("kind: Namespace\nmetadata: {name: a}\n---\n- just\n- a list\n", 2),
        ("just a string\n", 1),
        ("metadata: {name: kindless}\n", 1),
        ("---\n---\n42\n", 2),
    ],
)
def test_manifests_non_object_document(tmp_path: Path, text: str, doc: int) -> None:
    path = write(tmp_path / "x.yaml", text)
    with pytest.raises(TargetError) as info:
        ManifestCluster(tmp_path)
    assert f"{path} document {doc}: not a Kubernetes object" in str(info.value)


def test_manifests_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as info:
        ManifestCluster(tmp_path / "nope")
    assert "no such directory" in str(info.value)
    assert str(tmp_path / "nope") in str(info.value)


def test_manifests_a_file_is_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(TargetError):
        ManifestCluster(write(tmp_path / "f.yaml", "kind: Namespace\n"))


def test_manifests_recorded_fixture(tmp_path: Path) -> None:
    mc = ManifestCluster(RECORDED / "cluster")
    assert len(mc.list("Namespace")) == 11
    assert sorted(names(mc.list("IngressClass"))) == ["external", "internal"]
    assert names(mc.list("IPAddressPool")) == ["default-pool"]


# ------------------------------------------------------------------------------------------ FileTreeHost
# (not named `blade`: the zengarden plugin parametrizes any test that asks for a `blade` fixture)
@pytest.fixture
def host(tmp_path: Path) -> FileTreeHost:
    root = tmp_path / "hosts" / "blade009"
    write(root / "etc" / "hostname", "blade009-real\n")
    write(root / "etc" / "rancher" / "k3s" / "config.yaml", "node-ip: 192.168.77.9\n")
    write(tmp_path / "outside.txt", "SECRET OUTSIDE\n")
    write(tmp_path / "hosts" / "outside.txt", "SECRET NEXT DOOR\n")
    write(tmp_path / "hosts" / "blade0099" / "etc" / "hostname", "sibling with a common prefix\n")
    return FileTreeHost("blade009", root)


def test_filetree_reads_files(host: FileTreeHost) -> None:
    assert host.read_file("/etc/rancher/k3s/config.yaml") == "node-ip: 192.168.77.9\n"
    assert host.read_file("etc/rancher/k3s/config.yaml") == "node-ip: 192.168.77.9\n"
    assert host.endpoint.startswith("blade blade009 (recorded at ")


def test_filetree_missing_file_and_directory(host: FileTreeHost) -> None:
    assert host.read_file("/etc/shadow") is None
    assert host.read_file("/var/lib/rancher/k3s/server/psa.yaml") is None
    assert host.read_file("/etc/rancher") is None
    assert host.read_file("/") is None


@pytest.mark.parametrize(
    "path",
    [
        "/../outside.txt",
        "../outside.txt",
        "/etc/../../outside.txt",
        "/../../outside.txt",
        "/../blade0099/etc/hostname",
        "/" + "../" * 40 + "etc/passwd",
    ],
)
def test_filetree_refuses_parent_escapes(host: FileTreeHost, path: str) -> None:
    assert host.read_file(path) is None


def test_filetree_dotdot_inside_root_is_fine(host: FileTreeHost) -> None:
    assert host.read_file("/etc/rancher/../hostname") == "blade009-real\n"


def test_filetree_refuses_symlinks_out_of_root(host: FileTreeHost, tmp_path: Path) -> None:
    root = host.root
    os.symlink(tmp_path / "outside.txt", root / "etc" / "leak")
    os.symlink(tmp_path, root / "up")
    os.symlink("/etc/passwd", root / "etc" / "passwd")
    assert host.read_file("/etc/leak") is None
    assert host.read_file("/up/outside.txt") is None
    assert host.read_file("/etc/passwd") is None


def test_filetree_follows_symlinks_inside_root(host: FileTreeHost) -> None:
    os.symlink("rancher/k3s/config.yaml", host.root / "etc" / "k3s.yaml")
    assert host.read_file("/etc/k3s.yaml") == "node-ip: 192.168.77.9\n"


def test_filetree_hostname_from_file(host: FileTreeHost) -> None:
    assert host.hostname() == "blade009-real"


def test_filetree_hostname_falls_back_to_blade_name(tmp_path: Path) -> None:
    assert FileTreeHost("blade042", tmp_path).hostname() == "blade042"


def test_filetree_recorded_fixture() -> None:
    host = FileTreeHost("blade004", RECORDED / "hosts" / "blade004")
    assert host.hostname() == "blade004"
    assert "server:" in (host.read_file("/etc/rancher/k3s/config.yaml") or "")
    assert host.read_file("/var/lib/rancher/k3s/server/psa.yaml") is None


def test_filetree_path_through_a_file_is_missing(host: FileTreeHost) -> None:
    assert host.read_file("/etc/hostname/extra") is None


def test_filetree_blank_hostname_file_falls_back(tmp_path: Path) -> None:
    write(tmp_path / "etc" / "hostname", "\n")
    assert FileTreeHost("blade042", tmp_path).hostname() == "blade042"


def test_manifests_list_item_that_is_not_an_object(tmp_path: Path) -> None:
    write(tmp_path / "l.yaml", "kind: List\nitems:\n  - {kind: Namespace, metadata: {name: a}}\n  - null\n")
    with pytest.raises(TargetError, match="not a Kubernetes object"):
        ManifestCluster(tmp_path).list("Namespace")


def test_manifests_non_string_kind(tmp_path: Path) -> None:
    write(tmp_path / "k.yaml", "kind: 5\nmetadata: {name: a}\n")
    with pytest.raises(TargetError, match="not a Kubernetes object"):
        ManifestCluster(tmp_path)


# ------------------------------------------------------------------------------ the recorded router
def test_offline_target_reads_the_router_as_facts_with_factory_defaults(tmp_path: Path) -> None:
    """An export that never mentions /ip service is a router running RouterOS's factory services."""
    import shutil

    from pytest_zengarden.site.loader import load_site
    from pytest_zengarden.targets.offline import OfflineTarget

    recording = Path(__file__).resolve().parent / "recordings" / "routeros" / "services-at-factory.rsc"
    shutil.copy(recording, tmp_path / "router.rsc")
    site = load_site(RECORDED.parent.parent / "fixtures" / "sites" / "zengarden.yaml")
    config = OfflineTarget(site, tmp_path).router().config
    services = {r["name"]: r["disabled"] for r in config.items("/ip/service")}
    assert services == {n: "true" if n == "www-ssl" else "false" for n in services} and len(services) == 8
    assert config.items("/ip/upnp")[0]["enabled"] == "false"
