"""The DOCTYPE guard: entity attacks are refused before any XML parser sees the document."""

from __future__ import annotations

import html.entities
import logging
import re

from ingest.errors import UnsafeFeed

logger = logging.getLogger(__name__)

_DOCTYPE_RE = re.compile(rb"<!DOCTYPE[^\[>]*(\[(?P<subset>.*?)\]\s*)?>", re.DOTALL | re.IGNORECASE)
_ENTITY_RE = re.compile(
    rb"<!ENTITY\s+(?P<pe>%\s+)?(?P<name>[^\s]+)\s+(?P<kind>SYSTEM|PUBLIC)?\s*(?P<rest>.*?)>",
    re.DOTALL | re.IGNORECASE,
)
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


def _scan_head(content: bytes) -> bytes:
    """The bytes to scan, as ASCII-compatible text (UTF-16 documents re-encoded)."""
    head = content[:200_000]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) > 1 and head[0:1] == b"\x00"):
        try:
            return head.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
        except UnicodeError:  # pragma: no cover
            return head
    if len(head) > 1 and head[1:2] == b"\x00":
        return head.decode("utf-16-le", errors="ignore").encode("utf-8", errors="ignore")
    return head


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
    head = _scan_head(content)
    if b"<!ENTITY" not in head.upper():
        return
    match = _DOCTYPE_RE.search(head)
    subset = match.group("subset") if match and match.group("subset") is not None else head
    entities = list(_ENTITY_RE.finditer(subset))
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
    unknown_refs = {m.group("name") for m in _PE_REF_RE.finditer(_ENTITY_RE.sub(b"", subset))} - sets
    if unknown_refs:
        raise UnsafeFeed("document references undeclared parameter entities", reason="xml_entity_expansion")
    if len(entities) > _MAX_ENTITIES:
        raise UnsafeFeed(f"{len(entities)} entity declarations", reason="xml_entity_expansion")


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
    if content[:2] in (b"\xff\xfe", b"\xfe\xff") or b"<!ENTITY" not in content[:200_000].upper():
        return content
    match = _DOCTYPE_RE.search(content[:200_000])
    if match is None or match.group("subset") is None:
        return content
    entities = list(_ENTITY_RE.finditer(match.group("subset")))
    if not any(ent.group("pe") is not None and _w3c_entity_set(ent) for ent in entities):
        return content
    internal = [ent.group(0) for ent in entities if ent.group("kind") is None and ent.group("pe") is None]
    name = re.match(rb"<!DOCTYPE\s+([^\s\[>]+)", match.group(0), re.IGNORECASE)
    doctype = b""
    if internal and name is not None:
        doctype = b"<!DOCTYPE " + name.group(1) + b" [\n" + b"\n".join(internal) + b"\n]>"
    logger.debug("dropping a DOCTYPE that imports the W3C XHTML entity sets")
    return content[: match.start()] + doctype + _numeric_refs(content[match.end() :])
