"""RouterOS clients: the binary API (librouteros) and the REST API (httpx), one interface.

Both read *and* write (provisioning reuses them): ``print``/``add``/``set``/``remove``/``move`` on a
menu, and :meth:`snapshot` to read several menus into a :class:`RouterConfig` for the evaluators.
Every network call has a timeout; every failure is a :class:`TargetError` naming the router endpoint
and the cause (refused, timed out, TLS, login refused, malformed reply), never the password.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from ..errors import TargetError
from ..facts.router import RouterConfig, normalize_menu, stringify

# The menus the verification checks read; provisioning may touch more.
DEFAULT_MENUS: tuple[str, ...] = (
    "/interface",
    "/interface/bridge",
    "/interface/bridge/port",
    "/interface/list",
    "/interface/list/member",
    "/interface/wireguard",
    "/interface/wireguard/peers",
    "/ip/address",
    "/ip/firewall/filter",
    "/ip/firewall/nat",
    "/ip/firewall/address-list",
    "/ip/dns",
    "/ip/dns/static",
    "/ip/service",
    "/system/identity",
)

Props = Mapping[str, object]


class RouterClient(Protocol):
    """What the plugin needs from a router connection, whatever the transport."""

    endpoint: str

    def print(self, menu: str) -> list[dict[str, str]]: ...
    def add(self, menu: str, props: Props) -> str: ...
    def set(self, menu: str, item_id: str, props: Props) -> None: ...
    def remove(self, menu: str, *item_ids: str) -> None: ...
    def move(self, menu: str, item_ids: Sequence[str], destination: str) -> None: ...
    def close(self) -> None: ...


def snapshot(client: RouterClient, menus: Iterable[str] = DEFAULT_MENUS) -> RouterConfig:
    """Read ``menus`` into a :class:`RouterConfig` (one ``print`` per menu)."""
    records: dict[str, list[dict[str, str]]] = {}
    for menu in menus:
        records[menu] = client.print(menu)
    return RouterConfig.from_records(records, source=client.endpoint)


def tls_context(ca_file: Path | None, verify: bool) -> ssl.SSLContext:
    """Client TLS context: the given CA (or the system store); verification off only when asked."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class RouterApiClient:
    """The RouterOS API (8728, or API-SSL on 8729) through librouteros."""

    def __init__(
        self,
        host: str,
        username: str,
        password: str,
        *,
        port: int = 8728,
        tls: ssl.SSLContext | None = None,
        timeout: float = 5.0,
    ):
        import librouteros
        from librouteros.exceptions import LibRouterosError, TrapError

        kind = "API-SSL" if tls is not None else "API"
        self.endpoint = f"router {host}:{port} ({kind})"
        wrapper = None
        if tls is not None:
            ctx = tls

            def wrapper(sock: socket.socket) -> socket.socket:
                return ctx.wrap_socket(sock, server_hostname=host)

        try:
            self._api = librouteros.connect(
                host, username, password, port=port, timeout=timeout, ssl_wrapper=wrapper, encoding="utf-8"
            )
        except TrapError as exc:
            raise TargetError(self.endpoint, f"login refused for user {username!r} ({exc.message})") from None
        except (TimeoutError, OSError) as exc:
            raise TargetError(self.endpoint, _describe_os_error(exc)) from None
        except LibRouterosError as exc:
            raise TargetError(self.endpoint, f"API protocol error during login: {exc}") from None

    def _run(self, cmd: str, **words: Any) -> list[dict[str, str]]:
        from librouteros.exceptions import LibRouterosError, TrapError

        try:
            return [{k: stringify(v) for k, v in row.items()} for row in self._api(cmd, **words)]
        except TrapError as exc:
            raise TargetError(self.endpoint, f"{cmd}: {exc.message}") from None
        except (TimeoutError, OSError) as exc:
            raise TargetError(self.endpoint, f"{cmd}: {_describe_os_error(exc)}") from None
        except (LibRouterosError, ValueError) as exc:
            raise TargetError(self.endpoint, f"{cmd}: malformed reply ({exc})") from None

    @staticmethod
    def _words(props: Props) -> dict[str, Any]:
        return {k: stringify(v) for k, v in props.items()}

    def print(self, menu: str) -> list[dict[str, str]]:
        return self._run(f"{normalize_menu(menu)}/print")

    def add(self, menu: str, props: Props) -> str:
        rows = self._run(f"{normalize_menu(menu)}/add", **self._words(props))
        # `!done =ret=*A` reaches librouteros as a final record with only `ret`.
        for row in rows:
            if "ret" in row:
                return row["ret"]
        raise TargetError(self.endpoint, f"{menu}/add: reply carried no id")

    def set(self, menu: str, item_id: str, props: Props) -> None:
        self._run(f"{normalize_menu(menu)}/set", **{".id": item_id, **self._words(props)})

    def remove(self, menu: str, *item_ids: str) -> None:
        self._run(f"{normalize_menu(menu)}/remove", **{".id": ",".join(item_ids)})

    def move(self, menu: str, item_ids: Sequence[str], destination: str) -> None:
        self._run(f"{normalize_menu(menu)}/move", numbers=",".join(item_ids), destination=destination)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._api.close()


class RouterRestClient:
    """The RouterOS 7 REST API (``/rest/...``) through httpx, HTTP Basic auth."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.endpoint = f"router {self.base_url} (REST)"
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=(username, password),
            verify=verify,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def _call(self, method: str, menu: str, suffix: str = "", body: Any = None) -> Any:
        path = "/rest" + normalize_menu(menu) + suffix
        try:
            resp = self._http.request(method, path, json=body)
        except httpx.TimeoutException:
            raise TargetError(self.endpoint, f"{method} {path}: timed out") from None
        except httpx.TransportError as exc:
            cause = _describe_os_error(exc.__context__) if exc.__context__ else str(exc)
            raise TargetError(self.endpoint, f"{method} {path}: {cause}") from None
        if resp.status_code == 401:
            raise TargetError(self.endpoint, "login refused (401 Unauthorized)")
        if resp.status_code >= 400:
            detail = ""
            try:
                err = resp.json()
                detail = err.get("detail") or err.get("message") or ""
            except ValueError:
                detail = resp.text[:200]
            raise TargetError(self.endpoint, f"{method} {path}: HTTP {resp.status_code} {detail}".rstrip())
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise TargetError(self.endpoint, f"{method} {path}: malformed reply (not JSON)") from None

    def print(self, menu: str) -> list[dict[str, str]]:
        data = self._call("GET", menu)
        if isinstance(data, dict):  # singleton menus (/ip/dns, /system/identity) answer one object
            data = [data]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise TargetError(self.endpoint, f"GET {menu}: malformed reply (expected a list of objects)")
        return [{str(k): stringify(v) for k, v in row.items()} for row in data]

    def add(self, menu: str, props: Props) -> str:
        data = self._call("PUT", menu, body={k: stringify(v) for k, v in props.items()})
        if not isinstance(data, dict) or ".id" not in data:
            raise TargetError(self.endpoint, f"PUT {menu}: reply carried no .id")
        return str(data[".id"])

    def set(self, menu: str, item_id: str, props: Props) -> None:
        self._call("PATCH", menu, f"/{item_id}", body={k: stringify(v) for k, v in props.items()})

    def remove(self, menu: str, *item_ids: str) -> None:
        for item_id in item_ids:
            self._call("DELETE", menu, f"/{item_id}")

    def move(self, menu: str, item_ids: Sequence[str], destination: str) -> None:
        self._call("POST", menu, "/move", body={"numbers": ",".join(item_ids), "destination": destination})

    def close(self) -> None:
        self._http.close()
