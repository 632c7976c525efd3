"""API server authentication (checks/auth.py) and the unauthenticated probe (clients/cluster.py)."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_zengarden.checks import auth
from pytest_zengarden.clients.cluster import unauthenticated_get
from pytest_zengarden.errors import TargetError
from pytest_zengarden.facts.in_effect import parse_running
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Site

from .helpers import SITE, site_data, write_site

# What k3s v1.32 logs when it starts the API server of a server configured as the homelab's (homelab facts
# §4.3, items 12-13; k3s sorts the flags), as `journalctl -u k3s -o short-unix` prints it.
K3S_ARGS = (
    "--admission-control-config-file=/var/lib/rancher/k3s/server/psa.yaml --advertise-address=192.168.77.170 "
    "--advertise-port=6443 --allow-privileged=true --anonymous-auth=false "
    "--api-audiences=https://kubernetes.default.svc.cluster.local,k3s --audit-log-maxage=30 "
    "--audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log --authorization-mode=Node,RBAC "
    "--bind-address=127.0.0.1 --client-ca-file=/var/lib/rancher/k3s/server/tls/client-ca.crt "
    "--enable-admission-plugins=NodeRestriction --etcd-servers=https://127.0.0.1:2379 "
    "--oidc-client-id=1234.apps.googleusercontent.com --oidc-issuer-url=https://accounts.google.com "
    "--oidc-username-claim=email --oidc-username-prefix= --profiling=false --secure-port=6444"
)


def journal(args: str, started: str = "1796680000.250000") -> str:
    return (
        f'{started} blade001 k3s[812]: time="2026-12-07T21:46:40Z" level=info msg="Starting k3s v1.32.4+k3s1"\n'
        f'{started} blade001 k3s[812]: time="2026-12-07T21:46:40Z" level=info msg="Running kube-apiserver {args}"\n'
    )


def run_of(args: str):  # type: ignore[no-untyped-def]
    run = parse_running(journal(args), "kube-apiserver", "blade001")
    assert run is not None
    return run


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE)


def by_subject(findings):  # type: ignore[no-untyped-def]
    return {f.subject: f for f in findings}


def test_a_server_started_as_the_site_says_passes(site):
    found = by_subject(auth.authentication_flags(site, "blade001", run_of(K3S_ARGS)))
    assert set(found) == {"blade001 anonymous-auth", "blade001 oidc"}
    assert all(f.ok for f in found.values())
    assert found["blade001 anonymous-auth"].message == (
        "--anonymous-auth=false (kube-apiserver started 2026-12-07 21:46:40 UTC)"
    )
    assert found["blade001 oidc"].message.startswith(
        "--oidc-issuer-url=https://accounts.google.com, --oidc-username-claim=email, --oidc-groups-claim unset"
    )
    assert {f.control for f in found.values()} == {"K8S-APISERVER-HARDENING"}


def test_anonymous_auth_turned_on_later_on_the_command_line_fails_only_that(site):
    # k3s appends kube-apiserver-arg after its defaults: the last value is the one in effect.
    found = by_subject(auth.authentication_flags(site, "blade002", run_of(K3S_ARGS + " --anonymous-auth=true")))
    assert found["blade002 oidc"].ok
    assert not found["blade002 anonymous-auth"].ok
    assert found["blade002 anonymous-auth"].message.startswith(
        "--anonymous-auth=true: anonymous requests are served as system:anonymous; set anonymous-auth=false"
    )


def test_an_unset_anonymous_auth_means_kubernetes_default_which_is_on(site):
    found = by_subject(
        auth.authentication_flags(site, "blade001", run_of(K3S_ARGS.replace("--anonymous-auth=false ", "")))
    )
    assert not found["blade001 anonymous-auth"].ok
    assert found["blade001 anonymous-auth"].message.startswith("--anonymous-auth unset (so true): ")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (K3S_ARGS.replace("accounts.google.com", "dex.example.org"), "--oidc-issuer-url=https://dex.example.org, "
         "expected https://accounts.google.com"),
        (K3S_ARGS.replace(" --oidc-username-claim=email", ""), "--oidc-username-claim unset (so sub), expected email"),
        (K3S_ARGS + " --oidc-groups-claim=groups", "--oidc-groups-claim=groups, which the site does not configure"),
        (K3S_ARGS.replace(" --oidc-issuer-url=https://accounts.google.com", ""),
         "--oidc-issuer-url unset, expected https://accounts.google.com"),
    ],
)  # fmt: skip
def test_oidc_settings_other_than_the_site_fail_only_the_oidc_finding(site, args, problem):
    found = by_subject(auth.authentication_flags(site, "blade001", run_of(args)))
    assert found["blade001 anonymous-auth"].ok
    assert not found["blade001 oidc"].ok
    assert found["blade001 oidc"].message.startswith(problem)


def test_groups_claim_and_no_issuer_as_the_site_says(tmp_path):
    data = site_data()
    data["cluster"]["apiserver"]["oidc_groups_claim"] = "groups"
    with_groups = load_site(write_site(tmp_path / "g.yaml", data))
    found = by_subject(auth.authentication_flags(with_groups, "b", run_of(K3S_ARGS + " --oidc-groups-claim=groups")))
    assert found["b oidc"].ok, found["b oidc"].message
    del data["cluster"]["apiserver"]["oidc_issuer"], data["cluster"]["apiserver"]["oidc_groups_claim"]
    no_oidc = load_site(write_site(tmp_path / "n.yaml", data))
    found = by_subject(auth.authentication_flags(no_oidc, "b", run_of(K3S_ARGS)))
    assert found["b oidc"].message.startswith("--oidc-issuer-url=https://accounts.google.com, which the site does not")


def test_structured_authentication_config_cannot_be_judged_from_flags(site):
    with pytest.raises(ValueError, match=r"--authentication-config=/etc/auth\.yaml"):
        auth.authentication_flags(site, "blade001", run_of(K3S_ARGS + " --authentication-config=/etc/auth.yaml"))


@pytest.mark.parametrize(
    ("status", "ok", "why"),
    [
        (401, True, "401 Unauthorized"),
        (403, False, "anonymous auth is on: the request was authenticated as system:anonymous"),
        (200, False, "anonymous auth is on and system:anonymous may read the API"),
        (500, False, "expected 401 Unauthorized"),
    ],
)
def test_only_401_means_anonymous_requests_are_refused(site, status, ok, why):
    found = auth.anonymous_refused(site, "blade002", "https://192.168.77.171:6443/api", status, "forbidden")
    assert found.ok is ok and found.subject == "blade002 anonymous request"
    assert why in found.message


# ------------------------------------------------------------------ the probe, against a loopback server
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pytest_zengarden.lab.pki import ensure_ca, issue

    pki = tmp_path_factory.mktemp("pki")
    issue(pki, "server", ["127.0.0.1"])
    other = pki / "other"
    ensure_ca(other, "another CA")
    return pki


@pytest.fixture
def apiserver(pki: Path) -> Iterator[tuple[int, list[object]]]:
    """A TLS server on 127.0.0.1 answering as kube-apiserver does an unauthenticated request; records the
    client certificate each request came with (it asks for one, as kube-apiserver does)."""
    seen: list[object] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.connection.getpeercert(), self.headers.get("Authorization")))  # type: ignore[attr-defined]
            body = json.dumps({"kind": "Status", "status": "Failure", "message": "Unauthorized", "code": 401}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(pki / "ca.crt")
    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.timeout = 10
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_address[1], seen
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_probe_sends_no_credentials_and_reads_the_status(pki, apiserver):
    port, seen = apiserver
    assert unauthenticated_get("127.0.0.1", port, "/api", str(pki / "ca.crt"), 5) == (401, "Unauthorized")
    assert seen == [(None, None)]  # no client certificate, no Authorization header


def test_the_probe_verifies_the_server_against_the_cluster_ca(pki, apiserver):
    port, seen = apiserver
    with pytest.raises(TargetError, match=rf"https://127.0.0.1:{port}/api: certificate verify failed"):
        unauthenticated_get("127.0.0.1", port, "/api", str(pki / "other" / "ca.crt"), 5)
    assert seen == []


def test_an_unreachable_server_is_an_error_naming_it(pki):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(TargetError, match=rf"https://127.0.0.1:{port}/api: .*[Cc]onnection refused"):
            unauthenticated_get("127.0.0.1", port, "/api", str(pki / "ca.crt"), 5)
