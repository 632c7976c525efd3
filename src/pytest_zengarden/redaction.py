"""Keep credentials out of logs: a registry of secret values and a log-record scrubber.

Every credential the plugin resolves (:class:`~pytest_zengarden.credentials.Secret`) and every form
derived from it on the wire (the Basic ``Authorization`` value, a kubeconfig bearer token) is
remembered here.  :func:`install_log_redaction` then masks those values in every log record, whoever
logs it (``--log-level=DEBUG`` makes librouteros log its login sentence, password included), and
keeps the chatty client libraries at INFO or quieter unless the user set their level.

Imports nothing from the package: every layer may use it.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

MASK = "***"

# Properties RouterOS prints that are credentials: never read, never written into an export.  Named ones,
# and by pattern the rest (ipsec-secret, wpa2-pre-shared-key, authentication-password, tcp-md5-key...).
_SENSITIVE_NAMES = frozenset(
    {"private-key", "preshared-key", "password", "secret", "passphrase", "authentication-key", "auth-key"}
)
_SENSITIVE_SUFFIXES = ("-secret", "-password", "-passphrase", "-pre-shared-key", "-preshared-key", "-md5-key")
_NOT_SENSITIVE = frozenset({"public-key"})


class _SensitiveProperties(frozenset[str]):
    """``name in SENSITIVE_PROPERTIES``: a credential by name or by pattern (``public-key`` is not)."""

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or name in _NOT_SENSITIVE:
            return False
        return name in _SENSITIVE_NAMES or name.endswith(_SENSITIVE_SUFFIXES) or name.endswith("private-key")


SENSITIVE_PROPERTIES = _SensitiveProperties(_SENSITIVE_NAMES)

# Client libraries whose DEBUG output carries protocol sentences, headers or bodies.
CLIENT_LOGGERS = ("librouteros", "urllib3", "kubernetes", "httpx", "httpcore", "hpack", "paramiko", "testinfra")

_lock = threading.Lock()
_values: set[str] = set()
_installed = False


def remember(value: str) -> None:
    """Mask ``value`` (and its escaped spellings, as ``repr`` writes them) in every later log record."""
    if not value:
        return
    with _lock:
        _values.add(value)
        escaped = repr(value)[1:-1]
        if escaped != value:
            _values.add(escaped)


def redact(text: str) -> str:
    """``text`` with every remembered secret replaced by ``***``."""
    if not _values or not text:
        return text
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def _scrub(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments do not fit its format: leave it to the formatter
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text = redact(text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_log_redaction() -> None:
    """Scrub remembered secrets from every log record, and quiet the client libraries' DEBUG output.

    Idempotent.  A record factory (not a handler filter) so that records reach pytest's capture,
    live-log and JUnit handlers already clean, from any logger, however handlers come and go.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _values:
            _scrub(record)
        return record

    logging.setLogRecordFactory(factory)
    for name in CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        # Only where the user has not chosen: an explicit level (theirs) is kept, and still scrubbed.  Never
        # below what the logger emits now: --log-level=DEBUG must not open a client's DEBUG (librouteros logs
        # the login sentence there), and no client may log more than it did before (URLs at INFO).
        if logger.level == logging.NOTSET:
            logger.setLevel(max(logging.INFO, logger.getEffectiveLevel()))
