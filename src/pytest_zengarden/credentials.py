"""Resolve inventory credential references (environment variable or file) to their values.

Errors name where the credential was expected to come from, never its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import CredentialError
from .site.schema import SecretRef


def resolve_secret(ref: SecretRef, what: str, environ: Mapping[str, str] | None = None) -> str:
    """The credential ``ref`` points to.  ``what`` names it in errors (``inventory.router.password``)."""
    env = os.environ if environ is None else environ
    if ref.env is not None:
        value = env.get(ref.env)
        if value is None or value == "":
            raise CredentialError(f"{what}: environment variable {ref.env} is not set")
        return value
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
    value = text.rstrip("\r\n")
    if not value:
        raise CredentialError(f"{what}: file {ref.file} is empty")
    return value
