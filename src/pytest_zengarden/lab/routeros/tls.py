"""TLS for API-SSL and REST over HTTPS: the server context and a throwaway self-signed certificate."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["self_signed_cert", "server_context"]


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2+) from a PEM certificate chain and key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def self_signed_cert(
    directory: str | Path, names: Sequence[str] = ("127.0.0.1", "localhost"), *, days: int = 7
) -> tuple[Path, Path]:
    """Make ``router.crt``/``router.key`` (EC P-256, self-signed, SAN = ``names``) with the openssl CLI.

    The certificate doubles as its own CA, so a client can verify it (hostname included) by loading
    it as ``cafile``.  Returns ``(cert, key)``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    cert, key = out / "router.crt", out / "router.key"
    sans = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            sans.append(f"IP:{name}")
        except ValueError:
            sans.append(f"DNS:{name}")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(days),
            "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={','.join(sans)}",
            "-addext", "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key
