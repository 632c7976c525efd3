"""WireGuard keys for ``/interface/wireguard`` without a crypto dependency (RFC 7748 X25519).

RouterOS generates a private key when none is given and prints the matching public key; the lab
must print the *real* public key so that a lab peer configured from it can actually connect.
The venv has no ``cryptography``/``nacl``, and X25519 is twenty lines of integer arithmetic, so it
lives here.  Not constant-time: fine for a lab emulator, never for production keys.
"""

from __future__ import annotations

import base64
import binascii
import os

_P = 2**255 - 19
_A24 = 121665


def _clamp(scalar: bytes) -> int:
    k = bytearray(scalar)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return int.from_bytes(k, "little")


def x25519(scalar: bytes, u_point: bytes) -> bytes:
    """The X25519 function of RFC 7748 §5 (Montgomery ladder)."""
    k = _clamp(scalar)
    x1 = int.from_bytes(u_point, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % _P, (x2 - z2) % _P
        aa, bb = a * a % _P, b * b % _P
        e = (aa - bb) % _P
        c, d = (x3 + z3) % _P, (x3 - z3) % _P
        da, cb = d * a % _P, c * b % _P
        x3 = (da + cb) ** 2 % _P
        z3 = x1 * (da - cb) ** 2 % _P
        x2 = aa * bb % _P
        z2 = e * (aa + _A24 * e) % _P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, _P - 2, _P) % _P).to_bytes(32, "little")


def generate_private_key() -> str:
    """A fresh base64 WireGuard private key (as ``wg genkey`` prints it)."""
    raw = bytearray(os.urandom(32))
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    return base64.b64encode(bytes(raw)).decode("ascii")


def public_key(private_key: str) -> str | None:
    """The base64 public key of a base64 private key, or ``None`` if it is not a 32-byte key."""
    try:
        raw = base64.b64decode(private_key, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 32:
        return None
    return base64.b64encode(x25519(raw, (9).to_bytes(32, "little"))).decode("ascii")
