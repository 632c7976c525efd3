"""The site loader: every broken site file is rejected with file, line, field and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_zengarden.site.loader import Problem, SiteError, load_site, parse_site
from pytest_zengarden.site.schema import Role, Site

REPO = Path(__file__).resolve().parent.parent
SITE_FILE = REPO / "fixtures" / "sites" / "zengarden.yaml"
BROKEN = Path(__file__).resolve().parent / "sites" / "broken"
EXPECTED: dict[str, list[dict[str, Any]]] = yaml.safe_load((BROKEN / "expected.yaml").read_text(encoding="utf-8"))
BROKEN_FILES = sorted(p.name for p in BROKEN.glob("*.yaml") if p.name != "expected.yaml")


def expected_lines(path: Path, name: str) -> list[str]:
    out = []
    for entry in EXPECTED[name]:
        where = f"{path}:{entry['line']}"
        field = entry.get("field")
        out.append(f"{where} {field}: {entry['message']}" if field else f"{where}: {entry['message']}")
    return out


def load_error(path: Path) -> SiteError:
    with pytest.raises(SiteError) as info:
        load_site(path)
    return info.value


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE_FILE)


# ------------------------------------------------------------------------------------------ broken files
def test_every_broken_file_has_an_expectation() -> None:
    assert len(BROKEN_FILES) >= 14
    assert set(BROKEN_FILES) == set(EXPECTED)


@pytest.mark.parametrize("name", BROKEN_FILES)
def test_broken_file_is_one_edit_of_the_real_site(name: str) -> None:
    """Each broken file differs from the valid site in one place (at most a few adjacent lines)."""
    good = SITE_FILE.read_text(encoding="utf-8").splitlines()
    bad = (BROKEN / name).read_text(encoding="utf-8").splitlines()
    assert bad != good
    assert abs(len(bad) - len(good)) <= 1
    changed = [i for i, (a, b) in enumerate(zip(good, bad, strict=False)) if a != b]
    if len(bad) == len(good):
        assert 1 <= len(changed) <= 3, changed


@pytest.mark.parametrize("name", BROKEN_FILES)
def test_broken_file_reports_exactly_the_expected_problems(name: str) -> None:
    path = BROKEN / name
    err = load_error(path)
    text = str(err)
    want = expected_lines(path, name)
    for line in want:
        assert line in text.splitlines(), f"missing {line!r} in:\n{text}"
    assert text.splitlines() == want
    assert str(path) in text


@pytest.mark.parametrize("name", BROKEN_FILES)
def test_broken_file_problems_carry_file_line_and_field(name: str) -> None:
    path = BROKEN / name
    err = load_error(path)
    assert err.problems
    for problem in err.problems:
        assert isinstance(problem, Problem)
        assert problem.file == str(path)
        assert isinstance(problem.line, int) and problem.line >= 1
        assert problem.message
    assert [p.line for p in err.problems] == [e["line"] for e in EXPECTED[name]]
    assert [p.path or None for p in err.problems] == [e.get("field") for e in EXPECTED[name]]


def test_error_path_is_the_path_the_caller_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BROKEN)
    err = load_error(Path("unknown_segment.yaml"))
    assert str(err) == "unknown_segment.yaml:81 firewall.allow[1].to: unknown segment 'homee'"


def test_parse_site_reports_the_source_name() -> None:
    text = (BROKEN / "wrong_quorum.yaml").read_text(encoding="utf-8")
    with pytest.raises(SiteError) as info:
        parse_site(text, source="inline.yaml")
    line = _line_of(text, "quorum: 3")
    assert str(info.value) == f"inline.yaml:{line} cluster.etcd.quorum: the quorum of 3 members is 2, got 3"


def _line_of(text: str, needle: str) -> int:
    """1-based number of the first line containing ``needle`` (so tests survive edits of the site file)."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_missing_file() -> None:
    path = BROKEN / "no-such-site.yaml"
    err = load_error(path)
    assert str(err) == f"{path}: no such file"


# ---------------------------------------------------------------------------------------- degenerate input
@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_text_is_a_clear_error(text: str) -> None:
    with pytest.raises(SiteError) as info:
        parse_site(text, source="empty.yaml")
    assert str(info.value) == "empty.yaml: the file is empty"


@pytest.mark.parametrize(
    ("text", "line"),
    [("- version: 1\n- name: x\n", 1), ("just a string\n", 1), ("\n\n42\n", 3), ("[1, 2]\n", 1)],
)
def test_non_mapping_is_a_clear_error(text: str, line: int) -> None:
    with pytest.raises(SiteError) as info:
        parse_site(text, source="list.yaml")
    assert str(info.value) == f"list.yaml:{line}: a site file is a YAML mapping"
    assert info.value.problems[0].line == line


def test_non_string_key_is_reported() -> None:
    with pytest.raises(SiteError) as info:
        parse_site("version: 1\n? [a, b]\n: x\n", source="k.yaml")
    assert str(info.value) == "k.yaml:1: mapping keys must be plain strings (line 2)"


def test_every_problem_of_a_multiply_broken_site_has_a_line() -> None:
    text = SITE_FILE.read_text(encoding="utf-8")
    text = text.replace("to: cluster\n", "to: homee\n", 1).replace("quorum: 2", "quorum: 5")
    with pytest.raises(SiteError) as info:
        parse_site(text, source="multi.yaml")
    problems = info.value.problems
    assert len(problems) >= 2
    assert all(p.line is not None for p in problems)
    lines = str(info.value).splitlines()
    assert "multi.yaml:81 firewall.allow[1].to: unknown segment 'homee'" in lines
    assert f"multi.yaml:{_line_of(text, 'quorum: 5')} cluster.etcd.quorum: the quorum of 3 members is 2, got 5" in lines


# ------------------------------------------------------------------------------------------- the real site
def test_real_site_loads(site: Site) -> None:
    assert site.name == "zengarden"
    assert site.version == 1
    segments = ["cluster", "home", "management", "wireguard"]
    assert list(site.segments) == [*segments, "internet", "pods", "services"]
    assert len(site.firewall.allow) == 5
    assert len(site.firewall.deny) == 4


def test_real_site_parses_from_text_without_base_dir() -> None:
    site = parse_site(SITE_FILE.read_text(encoding="utf-8"), source=str(SITE_FILE))
    assert site.cluster.etcd.quorum == 2


def test_blades_with_role(site: Site) -> None:
    assert site.blades_with("etcd") == ["blade001", "blade002", "blade003"]
    assert site.blades_with(Role.CONTROL_PLANE) == ["blade001", "blade002", "blade003"]
    assert site.blades_with("worker") == ["blade001", "blade002", "blade003", "blade004", "blade005"]


def test_blades_with_unknown_role(site: Site) -> None:
    with pytest.raises(ValueError):
        site.blades_with("dancer")


def test_single_reference_needs_no_brackets(site: Site) -> None:
    assert site.firewall.allow[0].from_ == ["management"]
    assert site.firewall.allow[0].to == ["*"]
    assert site.firewall.allow[2].to == ["cluster", "pods", "services"]


def test_kubernetes_minor(site: Site) -> None:
    assert site.cluster.kubernetes_minor == "1.32"


# ------------------------------------------------------------------------------------ inventory paths
def _site_with_inventory(tmp_path: Path, inventory: str) -> Path:
    text = SITE_FILE.read_text(encoding="utf-8")
    head, sep, _ = text.partition("\ninventory:\n")
    assert sep
    path = tmp_path / "conf" / "site.yaml"
    path.parent.mkdir()
    path.write_text(head + "\ninventory:\n" + inventory, encoding="utf-8")
    return path


def test_inventory_relative_paths_resolve_against_site_dir(tmp_path: Path) -> None:
    path = _site_with_inventory(
        tmp_path,
        "  router:\n"
        "    password: {file: secrets/router.pw}\n"
        "    ca_file: certs/ca.pem\n"
        "  blades: {user: ansible, key_file: keys/id_ed25519}\n"
        "  cluster: {kubeconfig: kube/config}\n"
        "  etcd: {ca_file: etcd/ca.crt, cert_file: etcd/client.crt, key_file: /abs/client.key}\n",
    )
    inv = load_site(path).inventory
    base = path.parent.resolve()
    assert inv.router is not None and inv.blades is not None and inv.cluster is not None
    assert inv.etcd is not None
    assert inv.router.password.file == base / "secrets" / "router.pw"
    assert inv.router.ca_file == base / "certs" / "ca.pem"
    assert inv.blades.key_file == base / "keys" / "id_ed25519"
    assert inv.cluster.kubeconfig == base / "kube" / "config"
    assert inv.etcd.ca_file == base / "etcd" / "ca.crt"
    assert inv.etcd.cert_file == base / "etcd" / "client.crt"
    assert inv.etcd.key_file == Path("/abs/client.key")


def test_inventory_relative_paths_resolve_from_another_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _site_with_inventory(tmp_path, "  cluster: {kubeconfig: kube/config}\n")
    monkeypatch.chdir(tmp_path)
    inv = load_site(Path("conf") / "site.yaml").inventory
    assert inv.cluster is not None
    assert inv.cluster.kubeconfig == path.parent.resolve() / "kube" / "config"
    assert inv.cluster.kubeconfig.is_absolute()


def test_inventory_home_paths_expand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = _site_with_inventory(tmp_path, "  blades: {user: ansible, key_file: ~/.ssh/id}\n")
    inv = load_site(path).inventory
    assert inv.blades is not None
    assert inv.blades.key_file == tmp_path / "home" / ".ssh" / "id"


def test_router_ca_file_resolves_with_env_password(tmp_path: Path) -> None:
    path = _site_with_inventory(
        tmp_path, "  router:\n    password: {env: ZG_ROUTER_PASSWORD}\n    ca_file: certs/ca.pem\n"
    )
    inv = load_site(path).inventory
    assert inv.router is not None
    assert inv.router.ca_file == path.parent.resolve() / "certs" / "ca.pem"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("12345", "credentials never live in the site file"),
        ("{env: A, file: b}", "give exactly one of env: VARIABLE or file: PATH"),
        ("{}", "give exactly one of env: VARIABLE or file: PATH"),
        ("{env: 1BAD}", "String should match pattern"),
    ],
)
def test_router_password_must_be_a_reference(tmp_path: Path, password: str, message: str) -> None:
    path = _site_with_inventory(tmp_path, f"  router:\n    password: {password}\n")
    err = load_error(path)
    assert len(err.problems) == 1
    problem = err.problems[0]
    assert problem.line == _line_of(path.read_text(encoding="utf-8"), "    password: ")
    assert problem.path.startswith("inventory.router.password")
    assert message in problem.message


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [("ports: [80, 443]", "ports: [80, true]", 83), ("version: 1\n", "version: true\n", 4)],
)
def test_yaml_booleans_are_not_numbers(old: str, new: str, line: int) -> None:
    text = SITE_FILE.read_text(encoding="utf-8").replace(old, new, 1)
    with pytest.raises(SiteError) as info:
        parse_site(text, source="bool.yaml")
    assert [p.line for p in info.value.problems] == [line]
