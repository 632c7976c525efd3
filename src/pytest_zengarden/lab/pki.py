"""The lab's certificate authority and server certificates (openssl CLI; keys stay in the state dir)."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address
from pathlib import Path

from .netns import run


def ensure_ca(pki: Path, name: str = "zengarden lab CA") -> tuple[Path, Path]:
    """Create (once) a lab CA; returns (cert, key)."""
    pki.mkdir(parents=True, exist_ok=True, mode=0o700)
    crt, key = pki / "ca.crt", pki / "ca.key"
    if not (crt.exists() and key.exists()):
        run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(crt),
                "-days",
                "825",
                "-subj",
                f"/CN={name}",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]
        )
        key.chmod(0o600)
    return crt, key


def issue(pki: Path, name: str, sans: Sequence[str]) -> tuple[Path, Path]:
    """A server certificate for ``sans`` (DNS names and IP addresses) signed by the lab CA; (cert, key)."""
    ca_crt, ca_key = ensure_ca(pki)
    crt, key, csr = pki / f"{name}.crt", pki / f"{name}.key", pki / f"{name}.csr"
    if crt.exists() and key.exists():
        return crt, key
    alt = []
    for san in sans:
        try:
            ip_address(san)
            alt.append(f"IP:{san}")
        except ValueError:
            alt.append(f"DNS:{san}")
    run(
        [
            "openssl",
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(csr),
            "-subj",
            f"/CN={sans[0]}",
        ]
    )
    ext = pki / f"{name}.ext"
    ext.write_text(f"subjectAltName={','.join(alt)}\nextendedKeyUsage=serverAuth\n")
    run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca_crt),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-out",
            str(crt),
            "-days",
            "825",
            "-extfile",
            str(ext),
        ]
    )
    key.chmod(0o600)
    csr.unlink()
    ext.unlink()
    return crt, key
