"""Resolve inventory credential references (environment variable or file) to :class:`Secret` values.

Errors name where the credential was expected to come from, never its value.  A :class:`Secret`
prints as ``***`` (repr, str, format), so a traceback with ``-l``, a log line or a report that
shows it shows nothing; clients call :meth:`Secret.reveal` only in the call that sends it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from typing import Any, NoReturn

from .errors import CredentialError
from .redaction import remember
from .site.schema import SecretRef


class Secret:
    """A credential: masked wherever it is printed; the value only through :meth:`reveal`.

    Its value is remembered by :mod:`~pytest_zengarden.redaction`, so a library that logs it (e.g.
    librouteros' login sentence at DEBUG) logs ``***`` instead.
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "a credential"):
        if not value:
            raise ValueError(f"{source}: an empty secret")
        self._value = value
        self.source = source
        remember(value)

    def reveal(self) -> str:
        """The value, for the one call that sends it; never keep it in a variable."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret(*** from {self.source})"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:
        # Pickling (xdist, caches) would write the value out: refuse.
        raise TypeError("a Secret cannot be pickled")

    def __getstate__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


def as_secret(value: Secret | str, source: str = "a credential") -> Secret:
    """``value`` as a :class:`Secret` (clients also accept a plain string from tests and scripts)."""
    return value if isinstance(value, Secret) else Secret(value, source)


def resolve_secret(ref: SecretRef, what: str, environ: Mapping[str, str] | None = None) -> Secret:
    """The credential ``ref`` points to.  ``what`` names it in errors (``inventory.router.password``)."""
    env = os.environ if environ is None else environ
    if ref.env is not None:
        if not env.get(ref.env):
            raise CredentialError(f"{what}: environment variable {ref.env} is not set")
        return Secret(env[ref.env], f"environment variable {ref.env}")
    assert ref.file is not None  # SecretRef guarantees exactly one source
    try:
        text = ref.file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CredentialError(f"{what}: file {ref.file} does not exist") from None
    except UnicodeDecodeError:
        raise CredentialError(f"{what}: file {ref.file} is not UTF-8 text") from None
    except OSError as exc:
        raise CredentialError(f"{what}: cannot read {ref.file}: {exc.strerror}") from None
    # A trailing newline from `echo pw > file` is not part of the password.
    if not text.rstrip("\r\n"):
        raise CredentialError(f"{what}: file {ref.file} is empty")
    return Secret(text.rstrip("\r\n"), f"file {ref.file}")
