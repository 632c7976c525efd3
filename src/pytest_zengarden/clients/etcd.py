"""etcd through its v3 JSON gateway (``/v3/...``) over mutual TLS, with httpx."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from ..errors import TargetError


class EtcdClient:
    """Asks an etcd cluster about its members and their status; tries each endpoint in turn.

    Each request is bounded by ``timeout`` per phase (connect, TLS, write, read), so a question is
    answered or fails within about ``2 * timeout`` per endpoint tried.
    """

    def __init__(self, endpoints: list[str], ca_file: Path, cert_file: Path, key_file: Path, timeout: float = 5.0):
        self.endpoints = endpoints
        self.endpoint = f"etcd {','.join(endpoints)}"
        for p in (ca_file, cert_file, key_file):
            if not p.exists():
                raise TargetError(self.endpoint, f"certificate file {p} does not exist")
        problem = ""
        try:
            ctx = ssl.create_default_context(cafile=str(ca_file))
            # An encrypted key would make OpenSSL prompt on the terminal (a hang): no passphrase is given.
            ctx.load_cert_chain(str(cert_file), str(key_file), password=lambda: b"")
        except (ssl.SSLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
            problem = f"cannot load the client certificate or key ({reason})"
        if problem:
            raise TargetError(self.endpoint, problem) from None
        self._http = httpx.Client(verify=ctx, timeout=httpx.Timeout(timeout))

    def _post(self, endpoint: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        resp: httpx.Response | None = None
        cause = ""
        try:
            resp = self._http.post(f"{endpoint}{path}", json=body or {})
        except httpx.TimeoutException:
            cause = "timed out"
        except httpx.TransportError as exc:
            cause = str(exc) or type(exc).__name__
        except Exception as exc:  # anything else httpx lets out, without its frames
            cause = f"request failed ({type(exc).__name__})"
        if resp is None:
            raise TargetError(f"etcd {endpoint}", f"POST {path}: {cause}") from None
        if resp.status_code != 200:
            raise TargetError(f"etcd {endpoint}", f"POST {path}: HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError:
            raise TargetError(f"etcd {endpoint}", f"POST {path}: malformed reply (not JSON)") from None
        if not isinstance(data, dict):
            raise TargetError(f"etcd {endpoint}", f"POST {path}: malformed reply")
        return data

    def members(self) -> list[dict[str, Any]]:
        """The member list, from the first endpoint that answers."""
        errors = []
        for ep in self.endpoints:
            try:
                return list(self._post(ep, "/v3/cluster/member/list").get("members", []))
            except TargetError as exc:
                errors.append(str(exc))
        raise TargetError(self.endpoint, "no endpoint answered: " + "; ".join(errors))

    def status(self, endpoint: str) -> dict[str, Any]:
        """One member's status (leader, raft term, db size)."""
        return self._post(endpoint, "/v3/maintenance/status")

    def close(self) -> None:
        self._http.close()
