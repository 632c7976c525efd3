"""No byte of a credential in anything a run prints or writes, at maximum verbosity, on every error path.

Runs pytest as a user would with ``--tb=long -l --log-level=DEBUG -o log_cli=true -o junit_logging=all``
against the recording and against loopback routers that fail on purpose (a malformed login reply, a
wrong password, a TLS listener that refuses the handshake, REST Basic auth refused).  Only 127.0.0.1 is
contacted.  The lab variant is tests/lab/test_secrets_lab.py.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_zengarden.clients.router import PRINT_PROPERTIES, RouterApiClient, RouterRestClient
from pytest_zengarden.credentials import Secret
from pytest_zengarden.errors import TargetError
from pytest_zengarden.redaction import install_log_redaction

from .helpers import RECORDED, loopback_replier, loopback_server, loopback_site, run_pytest, self_signed

# Distinctive, so a hit is never a coincidence; the base64 of "zengarden:<it>" is what Basic auth sends.
PASSWORD = "Zg-Pw-9f3Kq2Lr7Vx1"
BASIC = base64.b64encode(f"zengarden:{PASSWORD}".encode()).decode()
VERBOSE = ("--tb=long", "-l", "--log-level=DEBUG", "-o", "log_cli=true", "-o", "junit_logging=all")


def leaks(tmp_path: Path, *texts: str, secrets: tuple[str, ...] = (PASSWORD, BASIC)) -> list[str]:
    """Where any secret appears: in the given texts or in any file under ``tmp_path`` (JUnit, TMPDIR)."""
    found = [f"output #{i}" for i, t in enumerate(texts) for s in secrets if s in t]
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.name.endswith(".yaml"):
            data = path.read_bytes()
            found += [str(path) for s in secrets if s.encode() in data]
    return found


def verbose_run(tmp_path: Path, *args: str) -> tuple[str, str, str]:
    """A maximum-verbosity run; its TMPDIR is under ``tmp_path`` so files it writes are searched too."""
    xml = tmp_path / "junit.xml"
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True)
    proc = run_pytest(
        *args,
        *VERBOSE,
        f"--junitxml={xml}",
        env={"ZG_TEST_ROUTER_PASSWORD": PASSWORD, "ZG_ROUTER_PASSWORD": PASSWORD, "TMPDIR": str(tmp)},
    )
    assert xml.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, proc.stderr, xml.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ loopback RouterOS API
def _read_sentence(conn: socket.socket) -> list[str]:
    from librouteros.protocol import decode_length, determine_length

    def read(n: int) -> bytes:
        data = b""
        while len(data) < n:
            got = conn.recv(n - len(data))
            if not got:
                raise ConnectionError("closed")
            data += got
        return data

    words = []
    while True:
        first = read(1)
        if first == b"\x00":
            return words
        length = decode_length(first + read(determine_length(first)))
        words.append(read(length).decode())


@pytest.fixture
def fake_api() -> Iterator[Callable[[list[list[str]]], int]]:
    """A loopback listener answering the login sentence with the given sentences (RouterOS API framing)."""
    from librouteros.protocol import encode_sentence

    with contextlib.ExitStack() as servers:

        def start(reply: list[list[str]]) -> int:
            def answer(conn: socket.socket) -> None:
                _read_sentence(conn)
                conn.sendall(b"".join(encode_sentence(*s, encoding="utf-8") for s in reply))

            return servers.enter_context(loopback_server(answer))

        yield start


@pytest.fixture
def refusing_tls() -> Iterator[int]:
    """A listener that accepts and answers the TLS ClientHello with garbage, then closes."""
    with loopback_replier(b"HTTP/1.0 400 Bad Request\r\n\r\n") as port:
        yield port


@pytest.fixture
def refusing_rest() -> Iterator[int]:
    """An HTTP listener that answers every request 401, as RouterOS does to a wrong password."""
    body = b'{"error":401,"message":"Unauthorized"}'
    head = f"HTTP/1.1 401 Unauthorized\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    with loopback_replier(head.encode() + b"Content-Type: application/json\r\n\r\n" + body) as port:
        yield port


MALFORMED_LOGIN = [["!done", "=no-second-equals-sign"]]  # librouteros: ValueError while parsing the reply
TRAP_WITH_ODD_WORDS = [["!trap", "=bogus=1"], ["!done"]]  # librouteros: TypeError building its TrapError
WRONG_PASSWORD = [["!trap", "=message=invalid user name or password (6)"], ["!done"]]


# -------------------------------------------------------------------------------- the full runs
def test_offline_run_at_maximum_verbosity_prints_no_credential(tmp_path: Path) -> None:
    out, err, junit = verbose_run(tmp_path, "suites", "features", f"--zg-target=offline={RECORDED}")
    assert "passed" in out or "failed" in out
    assert not leaks(tmp_path, out, err, junit)


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (MALFORMED_LOGIN, "login failed: malformed reply (ValueError)"),
        (TRAP_WITH_ODD_WORDS, "login failed: malformed reply (TypeError)"),
        (WRONG_PASSWORD, "login refused for user 'zengarden' (invalid user name or password (6))"),
    ],
    ids=["malformed-login-reply", "malformed-trap", "wrong-password"],
)
def test_failed_login_at_maximum_verbosity_prints_no_credential(
    tmp_path: Path, fake_api: Callable[[list[list[str]]], int], reply: list[list[str]], cause: str
) -> None:
    port = fake_api(reply)
    site = loopback_site(tmp_path / "site.yaml", api_port=port, transport="api")
    out, err, junit = verbose_run(tmp_path, "suites/test_router.py", "--zg-site", str(site), "--zg-target=live")
    assert f"router 127.0.0.1:{port} (API): {cause}" in out, out[-3000:]
    assert not leaks(tmp_path, out, err, junit)


def test_refused_tls_at_maximum_verbosity_prints_no_credential(tmp_path: Path, refusing_tls: int) -> None:
    site = loopback_site(tmp_path / "site.yaml", ssl_port=refusing_tls, transport="api-ssl")
    out, err, junit = verbose_run(tmp_path, "suites/test_router.py", "--zg-site", str(site), "--zg-target=live")
    assert f"router 127.0.0.1:{refusing_tls} (API-SSL): TLS handshake failed" in out, out[-3000:]
    assert not leaks(tmp_path, out, err, junit)


def test_refused_rest_login_prints_neither_password_nor_basic_header(tmp_path: Path, refusing_rest: int) -> None:
    site = loopback_site(tmp_path / "site.yaml", rest_port=refusing_rest, transport="rest")
    out, err, junit = verbose_run(tmp_path, "suites/test_router.py", "--zg-site", str(site), "--zg-target=live")
    assert "login refused (401 Unauthorized)" in out, out[-3000:]
    assert not leaks(tmp_path, out, err, junit)


# ------------------------------------------------------------------------------------ in process
def test_every_login_failure_is_a_target_error_without_a_chained_frame(
    fake_api: Callable[[list[list[str]]], int],
) -> None:
    for reply in (MALFORMED_LOGIN, TRAP_WITH_ODD_WORDS, WRONG_PASSWORD):
        port = fake_api(reply)
        with pytest.raises(TargetError) as info:
            RouterApiClient("127.0.0.1", "zengarden", Secret(PASSWORD), port=port, timeout=5)
        exc = info.value
        # Neither cause nor context: no traceback printer can walk into librouteros' frames.
        assert exc.__cause__ is None and exc.__context__ is None
        tb = exc.__traceback__
        while tb is not None:
            assert PASSWORD not in repr(tb.tb_frame.f_locals), tb.tb_frame.f_code.co_name
            tb = tb.tb_next


def test_client_loggers_never_print_the_password(
    fake_api: Callable[[list[list[str]]], int], caplog: pytest.LogCaptureFixture
) -> None:
    """librouteros logs each sentence at DEBUG, the login's ``=password=`` word included."""
    install_log_redaction()
    # DEBUG even where a user turns it on; both levels are restored afterwards.
    with (
        caplog.at_level(logging.DEBUG, logger="librouteros"),
        caplog.at_level(logging.DEBUG),
        pytest.raises(TargetError),
    ):
        RouterApiClient("127.0.0.1", "zengarden", Secret(PASSWORD), port=fake_api(WRONG_PASSWORD), timeout=5)
    assert "=password=***" in caplog.text
    assert PASSWORD not in caplog.text


def test_rest_client_holds_no_printable_credential() -> None:
    client = RouterRestClient("http://127.0.0.1:1", "zengarden", Secret(PASSWORD))
    try:
        auth = client._http.auth
        shown = repr(vars(client)) + repr(vars(client._http)) + repr(auth) + repr(vars(auth))
        assert PASSWORD not in shown and BASIC not in shown
    finally:
        client.close()


def test_credential_properties_are_never_asked_for() -> None:
    """WireGuard keys: printed with a .proplist that leaves them out, and dropped if a router sends them."""
    assert not [m for m, props in PRINT_PROPERTIES.items() if {"private-key", "preshared-key", "password"} & set(props)]
    from librouteros.protocol import encode_sentence

    seen: list[list[str]] = []
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(10)
            _read_sentence(conn)  # login
            conn.sendall(encode_sentence("!done", encoding="utf-8"))
            seen.append(_read_sentence(conn))
            row = ["!re", "=.id=*1", "=name=wg0", "=listen-port=51820", "=private-key=c2VjcmV0LWtleQ=="]
            conn.sendall(encode_sentence(*row, encoding="utf-8") + encode_sentence("!done", encoding="utf-8"))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = RouterApiClient("127.0.0.1", "zengarden", Secret(PASSWORD), port=int(srv.getsockname()[1]), timeout=5)
    try:
        rows = client.print("/interface/wireguard")
    finally:
        client.close()
        srv.close()
    thread.join(5)
    assert seen[0][0] == "/interface/wireguard/print"
    proplist = next(w for w in seen[0] if w.startswith("=.proplist="))
    assert "private-key" not in proplist and "name" in proplist.split("=", 2)[2].split(",")
    assert rows == [{".id": "*1", "name": "wg0", "listen-port": "51820"}]


def test_kubeconfig_client_key_is_never_copied_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kubernetes loader writes inline ``client-key-data`` to a temporary file; the client must not."""
    import ssl
    import tempfile

    from pytest_zengarden.clients.cluster import KubeClusterClient

    keys = tmp_path / "keys"
    keys.mkdir()
    cert, key = self_signed(keys)
    b64 = {p: base64.b64encode(p.read_bytes()).decode() for p in (cert, key)}
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:1", certificate-authority-data: "{b64[cert]}"}}}}]
users: [{{name: u, user: {{client-certificate-data: "{b64[cert]}", client-key-data: "{b64[key]}"}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""
    )
    body = max(key.read_text().splitlines()[1:-1], key=len)
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    client = KubeClusterClient(kubeconfig, timeout=2)
    try:
        cfg = client.api_client.configuration
        ssl.create_default_context().load_cert_chain(cfg.cert_file, cfg.key_file)  # ssl can use what it got
        written = [p for p in scratch.rglob("*") if p.is_file() and body.encode() in p.read_bytes()]
        assert not written, written
    finally:
        client.close()
    assert not list(scratch.iterdir())  # nothing left behind either


def test_quieting_the_client_libraries_never_makes_them_louder() -> None:
    """Installed at configure (root at WARNING): httpx must not start logging request URLs at INFO."""
    import logging

    for name in ("httpx", "httpcore", "librouteros", "urllib3", "kubernetes", "testinfra"):
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.DEBUG), name
        assert logger.getEffectiveLevel() >= logging.WARNING, f"{name} logs below WARNING by the plugin's doing"


def test_an_export_taken_with_show_sensitive_keeps_no_key_in_the_facts() -> None:
    from pytest_zengarden.offline.rsc import export_facts

    text = (
        "# by RouterOS 7.16.2\n/interface wireguard\n"
        'add listen-port=51820 mtu=1420 name=wg0 private-key="cFJpdmF0ZUtleVByaXZhdGVLZXlQcml2YXRlS2V5MTI="\n'
        "/interface wireguard peers\n"
        'add allowed-address=10.8.0.2/32 interface=wg0 preshared-key="c2hhcmVkU2VjcmV0c2hhcmVkU2VjcmV0c2hhcmVkMTI=" '
        'public-key="cHVibGljS2V5cHVibGljS2V5cHVibGljS2V5cHViMTI="\n'
    )
    facts = export_facts(text, "show-sensitive.rsc")
    assert "private-key" not in repr(facts) and "preshared-key" not in repr(facts)
    assert "cFJpdmF0ZUtleVByaXZh" not in repr(facts)
    assert facts.items("/interface/wireguard")[0]["name"] == "wg0"


def test_credentials_by_pattern_are_never_held_but_public_keys_are() -> None:
    from pytest_zengarden.offline.rsc import export_facts
    from pytest_zengarden.redaction import SENSITIVE_PROPERTIES

    for name in ("ipsec-secret", "wpa2-pre-shared-key", "authentication-password", "tcp-md5-key", "private-key"):
        assert name in SENSITIVE_PROPERTIES, name
    assert "public-key" not in SENSITIVE_PROPERTIES and "comment" not in SENSITIVE_PROPERTIES
    text = (
        "/interface l2tp-server server\nset enabled=yes ipsec-secret=l2tp-Secret-9x\n"
        "/interface wireguard peers\n"
        'add allowed-address=10.8.0.2/32 interface=wg0 public-key="cHVibGljS2V5cHVibGljS2V5cHVibGljS2V5cHViMTI="\n'
    )
    facts = export_facts(text, "sensitive.rsc")
    assert "l2tp-Secret-9x" not in repr(facts)
    assert facts.items("/interface/wireguard/peers")[0]["public-key"].startswith("cHVibGlj")
