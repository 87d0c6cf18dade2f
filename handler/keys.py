"""Storage key rules: validated, never normalised, and the ``{user_id}/`` prefix cannot be escaped.

S3 keys are opaque strings: ``u/a/../b`` is *not* ``u/b`` to the bucket, but it is to every tool
that treats keys as paths, so such keys are refused instead of "cleaned". The same goes for keys
that look like URLs: the worker has no URL inputs, and a key such as ``https://host/x.mp4`` or
``concat:a|b`` must never reach anything (FFmpeg, a download helper) that would open it as one.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .errors import KEY_FIELDS, JobError, forbidden

MAX_KEY_BYTES = 1024
GLOBAL_PREFIX = "games/"
# RFC 3986 scheme followed by ':' at the very start: "https:", "s3:", "file:", "concat:", "C:".
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def check_key(key: Any, field: str = "key") -> str:
    """Validate an object key as given; never rewrite it.

    Rejected: empty keys or segments (``a//b``, trailing ``/``), ``.``/``..`` segments,
    a leading ``/``, backslashes, ``%`` (no second decoding layer), control and invisible
    format characters (bidi overrides could disguise a key in a UI), keys over 1024 bytes,
    and keys that start like a URL or a pseudo-protocol (``scheme:``): URL inputs are not
    supported, and such a key is far more likely an attack or a client bug than a file name.
    """
    if not isinstance(key, str):
        raise JobError("INVALID_INPUT", f"{field} must be a string", field=field if field in KEY_FIELDS else None)
    if not key:
        raise forbidden(field, "is empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise forbidden(field, "is not valid UTF-8") from None
    if size > MAX_KEY_BYTES:
        raise forbidden(field, f"is {size} bytes long; keys are limited to {MAX_KEY_BYTES}")
    if key.startswith("/"):
        raise forbidden(field, "must not start with '/'")
    if "\\" in key:
        raise forbidden(field, "must not contain a backslash")
    if "%" in key:
        raise forbidden(field, "must not contain '%'")
    for ch in key:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise forbidden(field, f"contains the control character U+{ord(ch):04X}")
    if _URL_LIKE.match(key):
        raise forbidden(field, "looks like a URL ('scheme:...'); inputs are storage keys, URLs are not supported")
    for segment in key.split("/"):
        if segment == "":
            raise forbidden(field, "has an empty path segment")
        if segment in (".", ".."):
            raise forbidden(field, f"has a {segment!r} path segment")
    return key


def check_user_id(user_id: Any) -> str:
    """``user_id`` is the user's storage prefix (e.g. ``prod/users/<u>/profiles/<p>``).

    It follows the key rules, and its first segment may not be ``games``: that user's prefix
    would then overlap the global footage and let them write into it.
    """
    check_key(user_id, "user_id")
    if (user_id + "/").startswith(GLOBAL_PREFIX):
        raise forbidden("user_id", "must not be 'games' or start with 'games/' (the shared footage prefix)")
    return user_id


def resolve_key(key: Any, user_id: str, field: str, *, write: bool = False) -> str:
    """Full bucket key for a key from the job: ``{user_id}/{key}``, or ``games/...`` as is.

    ``games/`` is shared footage: readable by every job, writable by none (``write=True``).
    Because neither part may hold ``.``/``..``/empty segments or a leading ``/``, the result
    always starts with ``user_id + "/"`` (or ``games/``): the prefix cannot be escaped.
    """
    check_key(key, field)
    if key.startswith(GLOBAL_PREFIX):
        if write:
            raise forbidden(field, f"cannot be under {GLOBAL_PREFIX!r} (shared, read-only footage)")
        return key
    full = f"{user_id}/{key}"
    if len(full.encode("utf-8")) > MAX_KEY_BYTES:
        raise forbidden(field, f"is over {MAX_KEY_BYTES} bytes with the user prefix")
    return full
