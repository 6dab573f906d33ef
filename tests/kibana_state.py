"""Test-side decoding of Kibana Discover URLs: what Kibana does with them (hash → URLSearchParams →
``rison.decode``), so tests check the state a link opens, not its spelling."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

_NOT_ID = " '!:(),*@$"


def rison_decode(text: str) -> Any:
    value, rest = _parse(text)
    assert rest == "", f"trailing rison: {rest!r}"
    return value


def _parse(s: str) -> tuple[Any, str]:
    if s.startswith("!("):
        items, s = [], s[2:]
        while not s.startswith(")"):
            item, s = _parse(s)
            items.append(item)
            s = s[1:] if s.startswith(",") else s
        return items, s[1:]
    if s.startswith("("):
        obj, s = {}, s[1:]
        while not s.startswith(")"):
            key, s = _parse(s)
            assert s.startswith(":"), s
            obj[key], s = _parse(s[1:])
            s = s[1:] if s.startswith(",") else s
        return obj, s[1:]
    if s[:2] in ("!t", "!f", "!n"):
        return {"!t": True, "!f": False, "!n": None}[s[:2]], s[2:]
    if s.startswith("'"):
        out, i = [], 1
        while s[i] != "'":
            if s[i] == "!":
                i += 1
            out.append(s[i])
            i += 1
        return "".join(out), s[i + 1 :]
    match = re.match(r"-?\d+(\.\d+)?", s)
    if match:
        return (float if match.group(1) else int)(match.group()), s[match.end() :]
    end = next((i for i, c in enumerate(s) if c in _NOT_ID), len(s))
    assert end > 0, s
    return s[:end], s[end:]


def kibana_state(url: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(path, _g, _a) the way Kibana reads a Discover URL: hash → URLSearchParams → rison.decode."""
    parts = urlsplit(url)
    route, _, query = parts.fragment.partition("?")
    assert route == "/", parts.fragment
    params = parse_qs(query, keep_blank_values=True, strict_parsing=True)  # URLSearchParams semantics
    assert set(params) == {"_g", "_a"}, params
    return parts.path, rison_decode(params["_g"][0]), rison_decode(params["_a"][0])
