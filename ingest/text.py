"""Text that every store accepts: a leaf module for strings that come from feeds and pages.

Python strings can hold what UTF-8 cannot encode (a lone surrogate, which ``json.loads`` builds from a JSON
Feed's ``"\\ud800"`` and HTML unescaping from ``&#xD800;``) and what XML, WARC headers and Elasticsearch refuse
or mangle (NUL and other C0 controls). Elasticsearch also refuses a keyword term over 32,766 bytes and fails the
whole document. Each of those is one item's content, so it is cleaned where text enters a record, never left to
fail a shared store (the archive, the index) for the whole batch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: C0 controls except tab, line feed and carriage return; DEL; lone (unpaired) surrogates.
_BAD_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|[\ud800-\udfff]")
#: Lucene's limit on one indexed term (a ``keyword`` value), in UTF-8 bytes.
MAX_TERM_BYTES = 32_766


def clean(text: str) -> str:
    """``text`` without control characters; a lone surrogate becomes U+FFFD (it stood for something)."""
    if text.isascii() and text.isprintable():
        return text
    return _BAD_RE.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    return "\ufffd" if "\ud800" <= match.group() <= "\udfff" else ""


def clip_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    data = text.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore")


def clean_value(value: Any) -> Any:
    """:func:`clean` applied to every string in a JSON-like value (dicts, lists, tuples), keys included."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, Mapping):
        return {clean(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_value(v) for v in value]
    return value


__all__ = ["MAX_TERM_BYTES", "clean", "clean_value", "clip_utf8"]
