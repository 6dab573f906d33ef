"""The DOCTYPE guard: entity attacks are refused before any XML parser sees the document.

Entities can only be declared in the DTD, which can only stand in the prolog, before the root element; the guard
reads the whole prolog, however long (a DOCTYPE after a megabyte of comments is honoured by expat), and nothing
after it (an article about XXE may quote ``<!ENTITY`` in its CDATA). Every scan is linear in the document.
"""

from __future__ import annotations

import html.entities
import logging
import re
from typing import NamedTuple

from ingest.errors import UnsafeFeed

logger = logging.getLogger(__name__)

_DOCTYPE_START_RE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
#: What the prolog scanner stops at inside a markup declaration (quotes, brackets, comments, PIs, its end).
_DECL_TOKEN_RE = re.compile(rb"""["'\[\]>]|<!--|<\?""")
#: One whole entity declaration (cut out by :func:`_declaration_end`, so ``rest`` is all of its value).
_ENTITY_RE = re.compile(
    rb"<!ENTITY\s+(?P<pe>%\s+)?(?P<name>[^\s]+)\s+(?P<kind>SYSTEM|PUBLIC)?\s*(?P<rest>.*)>",
    re.DOTALL | re.IGNORECASE,
)
_ENTITY_START_RE = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ENTITY_REF_RE = re.compile(rb"[&%][A-Za-z_:][\w.:-]*;")
_PE_REF_RE = re.compile(rb"%(?P<name>[A-Za-z_:][\w.:-]*);")
_QUOTED_RE = re.compile(rb"""["']([^"']*)["']""")
#: Public identifiers of the W3C's HTML/XHTML character entity sets (``-//W3C//ENTITIES Latin 1 for XHTML//EN``,
#: ``-//W3C//ENTITIES Symbols//EN//HTML``...): what old RSS 1.0 feeds import to use ``&eacute;``.
_W3C_ENTITY_SET_RE = re.compile(rb"^-//W3C//ENTITIES [^/]+//EN(//HTML)?$", re.IGNORECASE)
#: More internal entities than this in one feed is not a feed, it is an attack or a mistake.
_MAX_ENTITIES = 64
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_NAMED_REF_RE = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")


def _ascii_view(content: bytes) -> bytes:
    """The document as ASCII-compatible bytes (UTF-16 documents re-encoded)."""
    head = content
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) > 1 and head[0:1] == b"\x00"):
        try:
            return head.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
        except UnicodeError:  # pragma: no cover
            return head
    if len(head) > 1 and head[1:2] == b"\x00":
        return head.decode("utf-16-le", errors="ignore").encode("utf-8", errors="ignore")
    return head


def _declaration_end(text: bytes, pos: int) -> int:
    """Where the markup declaration (``<!DOCTYPE ...[...]>``, ``<!ENTITY ...>``) starting before ``pos`` ends,
    skipping quoted strings, comments and PIs as expat does; -1 when it does not end."""
    depth = 0
    while True:
        token = _DECL_TOKEN_RE.search(text, pos)
        if token is None:
            return -1
        found = token.group(0)
        if found in (b'"', b"'"):
            close = text.find(found, token.end())
            if close < 0:
                return -1
            pos = close + 1
        elif found in (b"<!--", b"<?"):
            close = text.find(b"-->" if found == b"<!--" else b"?>", token.end())
            if close < 0:
                return -1
            pos = close + (3 if found == b"<!--" else 2)
        elif found == b"[":
            depth, pos = depth + 1, token.end()
        elif found == b"]":
            depth, pos = max(0, depth - 1), token.end()
        elif depth == 0:  # ">"
            return token.end()
        else:
            pos = token.end()


def prolog(content: bytes) -> bytes:
    """Everything before the root element (all of ``content`` when none starts): the XML declaration, comments,
    PIs and the DOCTYPE with its internal subset, the only place where entities can be declared."""
    text = _ascii_view(content)
    pos = 0
    while True:
        start = text.find(b"<", pos)
        if start < 0 or start + 1 >= len(text):
            return text
        if text.startswith(b"<!--", start):
            end = text.find(b"-->", start + 4)
            end = -1 if end < 0 else end + 3
        elif text.startswith(b"<?", start):
            end = text.find(b"?>", start + 2)
            end = -1 if end < 0 else end + 2
        elif text.startswith(b"<!", start):
            end = _declaration_end(text, start + 2)
        else:
            return text[:start]  # the root element
        if end < 0:
            return text
        pos = end


def _w3c_entity_set(ent: re.Match[bytes]) -> bool:
    if (ent.group("kind") or b"").upper() != b"PUBLIC":
        return False
    public_id = _QUOTED_RE.match(ent.group("rest").strip())
    return public_id is not None and bool(_W3C_ENTITY_SET_RE.match(public_id.group(1).strip()))


def check_entities(content: bytes) -> None:
    """Refuse documents that declare external entities or entities that expand into other entities.

    Raises :class:`~ingest.errors.UnsafeFeed` with reason ``external_entity`` or ``xml_entity_expansion``.
    Imports of the W3C XHTML entity sets are not refused here (:func:`drop_entity_set_doctype` removes them).
    """
    head = prolog(content)
    declared = len(_ENTITY_START_RE.findall(head))
    if not declared:
        return
    if declared > _MAX_ENTITIES:
        raise UnsafeFeed(f"{declared} entity declarations", reason="xml_entity_expansion")
    doctype = _doctype(head)
    subset = doctype.subset if doctype is not None and doctype.subset is not None else head
    entities, between = _entities(subset)
    if not entities:
        # "<!ENTITY" outside a parseable DOCTYPE: refuse rather than guess
        raise UnsafeFeed("entity declaration outside a DOCTYPE", reason="xml_entity_expansion")
    sets = {ent.group("name") for ent in entities if ent.group("pe") is not None and _w3c_entity_set(ent)}
    for ent in entities:
        name = ent.group("name").decode(errors="replace")
        if ent.group("pe") is not None and ent.group("name") in sets:
            continue
        if ent.group("kind") is not None:
            raise UnsafeFeed(f"document declares an external entity {name!r}", reason="external_entity")
        if ent.group("pe") is not None:
            raise UnsafeFeed("document declares a parameter entity", reason="xml_entity_expansion")
        value = ent.group("rest")
        if any(not ref.startswith(b"&#") for ref in _ENTITY_REF_RE.findall(value)):
            raise UnsafeFeed(f"entity {name!r} expands into other entities", reason="xml_entity_expansion")
        if len(value) > 10_000:
            raise UnsafeFeed("oversized entity value", reason="xml_entity_expansion")
    unknown_refs = {m.group("name") for m in _PE_REF_RE.finditer(between)} - sets
    if unknown_refs:
        raise UnsafeFeed("document references undeclared parameter entities", reason="xml_entity_expansion")
    if len(entities) > _MAX_ENTITIES:
        raise UnsafeFeed(f"{len(entities)} entity declarations", reason="xml_entity_expansion")


class _Doctype(NamedTuple):
    start: int
    end: int
    #: the internal subset (between its brackets), None when there is none
    subset: bytes | None


def _doctype(text: bytes) -> _Doctype | None:
    """The first DOCTYPE of ``text``, its end found as expat finds it (quotes and comments skipped)."""
    found = _DOCTYPE_START_RE.search(text)
    if found is None:
        return None
    start = found.start()
    end = _declaration_end(text, found.end())
    end = len(text) if end < 0 else end
    declaration = text[start:end]
    opening, first_close = declaration.find(b"["), declaration.find(b">")
    if opening < 0 or (0 <= first_close < opening):
        return _Doctype(start, end, None)
    closing = declaration.rfind(b"]")
    return _Doctype(start, end, declaration[opening + 1 : closing if closing > opening else len(declaration)])


def _entities(subset: bytes) -> tuple[list[re.Match[bytes]], bytes]:
    """The entity declarations of ``subset``, each read whole (a ``>`` inside its quoted value included), and
    the subset without them; an unterminated or malformed declaration is refused."""
    found: list[re.Match[bytes]] = []
    between: list[bytes] = []
    pos = 0
    while (start := _ENTITY_START_RE.search(subset, pos)) is not None:
        end = _declaration_end(subset, start.end())
        declaration = _ENTITY_RE.fullmatch(subset[start.start() : end]) if end > 0 else None
        if declaration is None:
            raise UnsafeFeed("malformed entity declaration", reason="xml_entity_expansion")
        found.append(declaration)
        between.append(subset[pos : start.start()])
        pos = end
    between.append(subset[pos:])
    return found, b"".join(between)


def _numeric_refs(content: bytes) -> bytes:
    """HTML named character references (``&eacute;``) as numeric ones, which every XML parser knows."""

    def repl(match: re.Match[bytes]) -> bytes:
        name = match.group(1).decode("ascii")
        if name in _XML_ENTITIES or name not in html.entities.name2codepoint:
            return match.group(0)
        return b"&#%d;" % html.entities.name2codepoint[name]

    return _NAMED_REF_RE.sub(repl, content)


def drop_entity_set_doctype(content: bytes) -> bytes:
    """Remove a DOCTYPE whose only external entities are the W3C XHTML entity sets; keep its internal entities.

    Call after :func:`check_entities`. The named references the sets would have defined become numeric
    character references, so the strict XML parser reads the feed. Other documents are returned unchanged.
    """
    if content[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\0" in content[:4]:
        return content  # UTF-16: the parser reads its entity references itself
    head = prolog(content)
    if not _ENTITY_START_RE.search(head):
        return content
    doctype = _doctype(head)
    if doctype is None or doctype.subset is None:
        return content
    entities, _between = _entities(doctype.subset)
    if not any(ent.group("pe") is not None and _w3c_entity_set(ent) for ent in entities):
        return content
    internal = [ent.group(0) for ent in entities if ent.group("kind") is None and ent.group("pe") is None]
    name = re.match(rb"<!DOCTYPE\s+([^\s\[>]+)", head[doctype.start : doctype.end], re.IGNORECASE)
    replacement = b""
    if internal and name is not None:
        replacement = b"<!DOCTYPE " + name.group(1) + b" [\n" + b"\n".join(internal) + b"\n]>"
    logger.debug("dropping a DOCTYPE that imports the W3C XHTML entity sets")
    return content[: doctype.start] + replacement + _numeric_refs(content[doctype.end :])
