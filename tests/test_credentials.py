"""Credential references: resolve_secret (env / file) and the schema's refusal of literal secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pytest_zengarden.credentials import Secret, resolve_secret
from pytest_zengarden.errors import CredentialError
from pytest_zengarden.site.loader import SiteError, load_site, parse_site
from pytest_zengarden.site.schema import Inventory, RouterAccess, SecretRef, Site

SITE_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "sites" / "zengarden.yaml"
WHAT = "inventory.router.password"
SECRET = "Zq7-Distinctive-S3cret!value"


@pytest.fixture(scope="session")
def site() -> Site:
    return load_site(SITE_FILE)


def secret_file(tmp_path: Path, content: str | bytes) -> SecretRef:
    path = tmp_path / "router.pw"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return SecretRef(file=path)


# ----------------------------------------------------------------------------------------- env source
def test_env_source(site: Site) -> None:
    assert site.inventory.router is not None
    ref = site.inventory.router.password
    assert ref == SecretRef(env="ZG_ROUTER_PASSWORD")
    assert resolve_secret(ref, WHAT, {"ZG_ROUTER_PASSWORD": SECRET}).reveal() == SECRET


def test_env_value_is_returned_verbatim() -> None:
    assert resolve_secret(SecretRef(env="PW"), WHAT, {"PW": " spaced\tvalue \n"}).reveal() == " spaced\tvalue \n"


def test_env_source_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_TEST_CREDENTIAL", SECRET)
    assert resolve_secret(SecretRef(env="ZG_TEST_CREDENTIAL"), WHAT).reveal() == SECRET
    monkeypatch.delenv("ZG_TEST_CREDENTIAL")
    with pytest.raises(CredentialError, match="ZG_TEST_CREDENTIAL"):
        resolve_secret(SecretRef(env="ZG_TEST_CREDENTIAL"), WHAT)


@pytest.mark.parametrize("environ", [{}, {"ZG_ROUTER_PASSWORD": ""}], ids=["missing", "empty"])
def test_env_missing_or_empty(environ: dict[str, str]) -> None:
    # The secret is in the environment under other names: it must not surface in the message.
    env = {**environ, "ZG_ROUTER_PASSWORD_OLD": SECRET, "OTHER": SECRET}
    with pytest.raises(CredentialError) as info:
        resolve_secret(SecretRef(env="ZG_ROUTER_PASSWORD"), WHAT, env)
    msg = str(info.value)
    assert msg == f"{WHAT}: environment variable ZG_ROUTER_PASSWORD is not set"
    assert SECRET not in msg
    assert SECRET not in repr(info.value)


# ---------------------------------------------------------------------------------------- file source
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (f"{SECRET}\n", SECRET),
        (f"{SECRET}\r\n", SECRET),
        (f"{SECRET}\n\n", SECRET),
        (SECRET, SECRET),
        ("  pass word\twith  inner space\n", "  pass word\twith  inner space"),
        ("trailing space \n", "trailing space "),
    ],
)
def test_file_source(tmp_path: Path, content: str, expected: str) -> None:
    assert resolve_secret(secret_file(tmp_path, content), WHAT).reveal() == expected


def test_file_source_keeps_inner_newlines(tmp_path: Path) -> None:
    assert resolve_secret(secret_file(tmp_path, "line1\nline2\n"), WHAT).reveal() == "line1\nline2"


def test_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "router.pw"
    with pytest.raises(CredentialError) as info:
        resolve_secret(SecretRef(file=path), WHAT)
    assert str(info.value) == f"{WHAT}: file {path} does not exist"


@pytest.mark.parametrize("content", ["", "\n", "\r\n\n"], ids=["empty", "newline", "newlines"])
def test_file_empty(tmp_path: Path, content: str) -> None:
    ref = secret_file(tmp_path, content)
    with pytest.raises(CredentialError) as info:
        resolve_secret(ref, WHAT)
    assert str(info.value) == f"{WHAT}: file {ref.file} is empty"


def test_file_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / SECRET).mkdir()  # even a path that looks like a secret is only named, as a path
    with pytest.raises(CredentialError) as info:
        resolve_secret(SecretRef(file=tmp_path), WHAT)
    assert str(info.value).startswith(f"{WHAT}: cannot read {tmp_path}: ")


def test_file_errors_never_contain_the_value(tmp_path: Path) -> None:
    ref = secret_file(tmp_path, f"{SECRET}\n")
    assert resolve_secret(ref, WHAT).reveal() == SECRET
    for broken in (SecretRef(file=tmp_path / "other.pw"), SecretRef(file=tmp_path)):
        with pytest.raises(CredentialError) as info:
            resolve_secret(broken, WHAT, {"X": SECRET})
        assert SECRET not in str(info.value)
        assert WHAT in str(info.value)


def test_file_not_utf8(tmp_path: Path) -> None:
    ref = secret_file(tmp_path, b"\xff\xfe" + SECRET.encode() + b"\n")
    with pytest.raises(CredentialError) as info:
        resolve_secret(ref, WHAT)
    assert str(ref.file) in str(info.value)


# ---------------------------------------------------------------------------------------------- Secret
def test_resolved_secret_is_masked_wherever_it_is_printed(tmp_path: Path) -> None:
    for secret in (
        resolve_secret(SecretRef(env="PW"), WHAT, {"PW": SECRET}),
        resolve_secret(secret_file(tmp_path, SECRET), WHAT),
    ):
        assert isinstance(secret, Secret)
        shown = [
            repr(secret),
            str(secret),
            f"{secret}",
            f"{secret!r}",
            f"{secret:>40}",
            repr([secret]),
            repr({"pw": secret}),
        ]
        assert not [s for s in shown if SECRET in s], shown
        assert secret.reveal() == SECRET


def test_secret_names_its_source_not_its_value() -> None:
    secret = resolve_secret(SecretRef(env="ZG_ROUTER_PASSWORD"), WHAT, {"ZG_ROUTER_PASSWORD": SECRET})
    assert repr(secret) == "Secret(*** from environment variable ZG_ROUTER_PASSWORD)"


def test_secret_cannot_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(SECRET))


def test_secret_equality_compares_values_without_exposing_them() -> None:
    assert Secret(SECRET) == Secret(SECRET)
    assert Secret(SECRET) != Secret(SECRET + "x")
    assert Secret(SECRET) != SECRET  # a Secret is not a string: no accidental comparisons or hashing
    with pytest.raises(TypeError):
        hash(Secret(SECRET))


# ------------------------------------------------------------------------------------------- SecretRef
def test_secret_ref_env_or_file() -> None:
    assert SecretRef(env="ZG_PW").file is None
    assert SecretRef(file=Path("pw.txt")).env is None
    assert SecretRef.model_validate({"file": "pw.txt"}).file == Path("pw.txt")


@pytest.mark.parametrize("data", [{}, {"env": "ZG_PW", "file": "pw.txt"}], ids=["neither", "both"])
def test_secret_ref_needs_exactly_one_source(data: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="exactly one of env: VARIABLE or file: PATH"):
        SecretRef.model_validate(data)


@pytest.mark.parametrize("env", ["1ZG", "ZG-PW", "ZG PW", ""])
def test_secret_ref_env_must_be_a_variable_name(env: str) -> None:
    with pytest.raises(ValidationError):
        SecretRef(env=env)


def test_secret_ref_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        SecretRef.model_validate({"env": "ZG_PW", "value": SECRET})


# --------------------------------------------------------------------------------- literal passwords
@pytest.mark.parametrize("password", [SECRET, 12345678])
def test_router_access_rejects_literal_password(password: object) -> None:
    with pytest.raises(ValidationError) as info:
        RouterAccess.model_validate({"username": "zengarden", "password": password})
    [err] = info.value.errors()
    assert err["loc"] == ("password",)
    assert "credentials never live in the site file" in err["msg"]
    assert "{env: VARIABLE} or {file: PATH}" in err["msg"]


def test_router_access_accepts_a_reference() -> None:
    access = RouterAccess.model_validate({"password": {"file": "/run/secrets/router"}})
    assert access.password.file == Path("/run/secrets/router")


def test_router_access_requires_a_password() -> None:
    with pytest.raises(ValidationError):
        RouterAccess.model_validate({"username": "zengarden"})


def test_site_file_with_literal_password_is_rejected_without_echoing_it() -> None:
    text = SITE_FILE.read_text(encoding="utf-8")
    original = "password: {env: ZG_ROUTER_PASSWORD}"
    assert original in text
    with pytest.raises(SiteError) as info:
        parse_site(text.replace(original, f'password: "{SECRET}"'), source="site.yaml")
    [problem] = info.value.problems
    assert problem.path == "inventory.router.password"
    assert problem.line is not None and problem.line > 1
    assert "credentials never live in the site file" in problem.message
    assert SECRET not in str(info.value)


def test_inventory_validation_error_does_not_echo_a_literal_password() -> None:
    with pytest.raises(ValidationError) as info:
        Inventory.model_validate({"router": {"password": SECRET}})
    assert SECRET not in str(info.value)
