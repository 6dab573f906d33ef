"""What is fixed around feedparser: the document before it (declaration, charset, bytes) and the repaired
copies tried when it fails on a document (its handlers crash on stray end tags and odd extension markup)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from lxml import etree

from ingest import markup
from ingest.response import ascii_compatible, ascii_markup, charset_of, codec_for, mostly_utf8, utf8_label_lies

logger = logging.getLogger(__name__)

_XML_DECL_ENCODING_RE = re.compile(rb"""^(\s*<\?xml[^>]*?)\s+encoding\s*=\s*(["'])(?P<label>[^"'>]*)\2""")
_XML_DECL_LABEL_RE = re.compile(rb"""encoding\s*=\s*(["'])(.*?)\1""", re.DOTALL)
#: Namespaces feedparser reads entries from; the rest are extensions (podcasts, geo, licences, media...).
_CORE_NAMESPACES = frozenset(
    {
        "",
        "http://www.w3.org/2005/Atom",
        "http://purl.org/atom/ns#",
        "http://purl.org/rss/1.0/",
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "http://purl.org/rss/1.0/modules/content/",
        "http://purl.org/dc/elements/1.1/",
        "http://purl.org/dc/terms/",
        "http://www.w3.org/1999/xhtml",
    }
)


def sanitize_declaration(content: bytes) -> bytes:
    """Rewrite an XML declaration that is not one: non-ASCII or control bytes, markup inside it, or an
    encoding label that is no readable charset label (feedparser decodes the label itself and fails on it) or
    that cannot be right for a declaration written in ASCII (utf-16 on ASCII bytes).
    A readable label is kept; the rest of the document is untouched."""
    if not content.startswith(b"<?xml"):
        return content
    end = content.find(b"?>", 0, 1024)
    declaration = content[: end + 2] if end >= 0 else content[: content.find(b">", 0, 1024) + 1]
    if not declaration:
        return content
    label_match = _XML_DECL_LABEL_RE.search(declaration)
    label = label_match.group(2) if label_match else None
    codec = codec_for(label.decode("ascii")) if label is not None and label.isascii() else None
    # the declaration was read as ASCII, so a UTF-16/32 or EBCDIC label cannot be the document's encoding
    readable = label is None or (codec is not None and ascii_compatible(codec))
    # nor can a legacy one (shift_jis, windows-1252) be right for bytes that are valid multi-byte UTF-8
    lies = codec is not None and utf8_label_lies(content, codec)
    clean = b"<" not in declaration[1:] and all(32 <= b < 127 or b in (9, 10, 13) for b in declaration)
    if readable and clean and not lies:
        return content
    logger.info("rewriting an unreadable or contradicted XML declaration %r", declaration[:60])
    keep = b' encoding="' + label + b'"' if label is not None and readable and not lies else b""
    return b'<?xml version="1.0"' + keep + b"?>" + content[len(declaration) :]


_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")  # UTF-8, UTF-16 (and UTF-32, which starts alike)
#: The start of an HTML page (after optional comments): no feed format has an html root.
_HTML_PAGE_RE = re.compile(
    rb"^\s*(?:<!--.{0,512}?-->\s*){0,8}<(?:!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL
)


def from_utf32(content: bytes) -> bytes:
    """A UTF-32 document (with its byte order mark) as UTF-8: no XML parser here reads UTF-32."""
    if not content.startswith(_UTF32_BOMS):
        return content
    return content.decode("utf-32", errors="replace").encode("utf-8")


def html_page(content: bytes) -> bool:
    """Whether ``content`` is an HTML page (a site's front page served at a feed's URL), cheap to tell."""
    return _HTML_PAGE_RE.match(content[:4096].lstrip(b"\xef\xbb\xbf")) is not None


def http_charset(content: bytes, content_type: str | None, charset: str | None) -> str | None:
    """The HTTP charset worth telling feedparser: a known label the bytes do not contradict. A byte order mark
    says the encoding itself (it wins, as for pages), markup written in ASCII cannot be UTF-16/32 or EBCDIC, and
    valid multi-byte UTF-8 is not a legacy encoding."""
    label = charset or charset_of(content_type)
    codec = codec_for(label)
    if codec is None or content.startswith(_BOMS) or utf8_label_lies(content, codec):
        return None
    if not ascii_compatible(codec) and ascii_markup(content):
        return None
    return label


def utf8_with_bad_bytes(content: bytes) -> bool:
    if content.isascii() or content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return False
    match = _XML_DECL_ENCODING_RE.match(content[:512])
    if match is not None and codec_for(match.group("label").decode("ascii", "ignore")) not in ("utf-8", None):
        return False  # declared as something else in the document
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return mostly_utf8(content)
    return False


#: Prefixes of the core namespaces, for elements whose prefix a broken document never bound.
_CORE_PREFIXES = frozenset({"rdf", "content", "dc", "dcterms", "atom", "xhtml"})
_PREFIXED_TAG_RE = re.compile(rb"</?(?P<prefix>[A-Za-z_][\w.-]*):[\w.-]+(?:\s[^<>]*)?/?>")


def _namespace(tag: str) -> str | None:
    """The namespace of an lxml tag; None for a prefixed name whose prefix was never bound (``cc:license``)."""
    if tag.startswith("{"):
        return tag[1:].split("}", 1)[0]
    if ":" in tag:
        return "" if tag.split(":", 1)[0].lower() in _CORE_PREFIXES else None
    return ""


def salvage_candidates(content: bytes) -> Iterator[bytes]:
    """Rewritten documents to try when feedparser fails on ``content``: first re-serialised by lxml's
    recovering parser (balanced tags: feedparser's handlers crash on stray end tags), then also without
    extension elements (its namespace handlers crash on odd podcast, geo and licence markup). No entities are
    resolved, nothing is loaded from the network."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except (etree.LxmlError, ValueError):
        root = None
    if root is not None:
        yield etree.tostring(root, encoding="utf-8", xml_declaration=True)
        for element in list(root.iter()):
            parent = element.getparent()
            if isinstance(element.tag, str) and parent is not None and _namespace(element.tag) not in _CORE_NAMESPACES:
                parent.remove(element)
        yield etree.tostring(root, encoding="utf-8", xml_declaration=True)

    # too broken for lxml to find a root: drop the tags of extension elements from the text itself
    def keep(match: re.Match[bytes]) -> bytes:
        return match.group(0) if match.group("prefix").lower().decode("ascii", "replace") in _CORE_PREFIXES else b""

    yield _PREFIXED_TAG_RE.sub(keep, content)


def cap_attributes(content: bytes) -> bytes:
    """``content`` with every start tag cut to its first :data:`~ingest.markup.MAX_ATTRIBUTES` attributes
    (:func:`ingest.markup.cap_attributes`: feedparser reads attributes in quadratic time, its SAX handler looks
    each one up by name in a list). A UTF-16 or UTF-32 document that needs the cut comes back as UTF-8 (its
    declaration says so)."""
    wide = wide_codec(content)
    if wide is not None:
        try:
            text = content.decode(wide)
        except UnicodeDecodeError:
            return content
        narrow = text.encode("utf-8", "replace")
        capped = _cap(narrow)
        if capped is narrow:
            return content
        return _XML_DECL_ENCODING_RE.sub(rb'\1 encoding="utf-8"', capped.lstrip(b"\xef\xbb\xbf"), count=1)
    return _cap(content)


def wide_codec(content: bytes) -> str | None:
    """The UTF-16/UTF-32 codec of a document (by its BOM or the NULs around its first ``<``), else None."""
    head = content[:4]
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head.startswith(b"<\x00\x00\x00"):
        return "utf-32-le"
    if head.startswith(b"\x00\x00\x00<"):
        return "utf-32-be"
    if head.startswith(b"<\x00"):
        return "utf-16-le"
    if head.startswith(b"\x00<"):
        return "utf-16-be"
    return None


def _cap(content: bytes) -> bytes:
    text = content.decode("latin-1")  # one character per byte: the cut positions are the bytes'
    capped = markup.cap_attributes(text)
    return content if capped is text else capped.encode("latin-1")
