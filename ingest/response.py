"""The response value and body decoding: a leaf module that fetching, the archive and the state store share.

It imports nothing from :mod:`ingest` but the standard library and charset_normalizer, so that
``fetching`` (which writes the archive) and ``archive`` (which replays responses) do not import each other.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import charset_normalizer

KINDS = ("feed", "page", "robots")
HTML_TYPES = ("text/html", "application/xhtml+xml")

#: Non-ASCII bytes needed before charset detection is trusted over the windows-1252 default.
_DETECTION_MIN_BYTES = 200
#: How much of a body detection and the label checks look at.
_SAMPLE_BYTES = 200_000
_NO_WIDE = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "utf_7"]
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
#: Python text codecs that are no web page's encoding (their names as ``codecs.lookup`` gives them).
_NOT_WEB_CODECS = frozenset(
    {"undefined", "punycode", "idna", "unicode-escape", "raw-unicode-escape", "utf-7", "mbcs", "oem", "palmos"}
)
#: Labels that browsers (WHATWG Encoding) decode as windows-1252.
_AS_CP1252 = {
    "iso-8859-1",
    "iso8859-1",
    "latin-1",
    "latin1",
    "l1",
    "us-ascii",
    "ascii",
    "cp819",
    "iso_8859-1",
}


@dataclass(frozen=True)
class ArchiveRef:
    """Where one response record lives: the WARC file and the record's WARC-Record-ID."""

    path: str
    record_id: str


def codec_for(label: str | None) -> str | None:
    """Python's codec name for a charset label (WHATWG's windows-1252 for the latin-1 family), or None."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if not label or not label.isascii() or not label.isprintable() or len(label) > 64:
        return None
    if label in _AS_CP1252:
        return "cp1252"
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    # only character encodings a web page can be in: not Python's transforms (rot13, base64, zlib), nor the
    # codecs for other purposes whose decoding raises or garbles (undefined, punycode, idna, unicode_escape)
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_WEB_CODECS:
        return None
    return info.name


def ascii_compatible(codec: str) -> bool:
    """Whether ``codec`` writes markup's ASCII as ASCII (false for UTF-16/32 and EBCDIC code pages)."""
    try:
        return "<html>".encode(codec) == b"<html>"
    except (UnicodeError, LookupError):
        return False


def ascii_markup(content: bytes) -> bool:
    """Whether ``content`` starts as markup written in ASCII (a ``<`` without the NULs of UTF-16/32 near it): a
    UTF-16/32 or EBCDIC label on it, without a byte order mark, cannot be right."""
    return content.lstrip()[:1] == b"<" and b"\0" not in content[:512]


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header value, lower-case, or None."""
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip("\"'"):
            return value.strip().strip("\"'").lower()
    return None


def _legacy(codec: str) -> bool:
    """An ASCII-compatible encoding other than UTF-8 (UTF-16/32 and EBCDIC are judged by their own signs)."""
    try:
        name = codecs.lookup(codec).name
    except LookupError:
        return False
    return name not in ("utf-8", "utf-8-sig") and ascii_compatible(codec)


def mostly_utf8(content: bytes) -> bool:
    """UTF-8 with a few bad bytes: more well-formed multi-byte characters than malformed sequences.

    Legacy single-byte text (cp1252, latin-1) almost never forms valid multi-byte sequences, so its high bytes
    are all malformed; a UTF-8 page with one stray 0x92 has many good characters and one bad one.
    """
    sample = content[:_SAMPLE_BYTES]
    text = sample.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - sample.count(b"\xef\xbf\xbd")
    non_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
    good = non_ascii - text.count("\ufffd")
    return good > bad


def utf8_label_lies(content: bytes, codec: str) -> bool:
    """Whether a declared legacy ``codec`` (single-byte, or a CJK one such as GBK, which would decode UTF-8 bytes
    into other characters without an error) is contradicted by bytes that are valid multi-byte UTF-8.
    Legacy text with high bytes is almost never valid UTF-8 by chance."""
    if not _legacy(codec) or content.isascii():
        return False
    try:
        content[:_SAMPLE_BYTES].decode("utf-8")
    except UnicodeDecodeError as exc:
        # a sample cut in the middle of a character is still UTF-8
        return exc.start >= _SAMPLE_BYTES - 4
    return True


def _detect_legacy(content: bytes) -> str:
    """Decode bytes that are neither declared right nor UTF-8.

    Detection needs evidence: with few non-ASCII bytes it guesses wildly (Big5 for ``K\\xf6ln``), so short
    evidence falls back to windows-1252, the web's default for such bytes. Among code pages that decode the
    sample to the same text (charset_normalizer's ``could_be_from_charset``), windows-1252 is preferred:
    Western text in cp1252 is also valid cp1250, and the detector's first pick then is cp1250.
    """
    sample = content[:_SAMPLE_BYTES]
    non_ascii = len(sample) - len(sample.decode("ascii", errors="ignore"))
    if non_ascii >= _DETECTION_MIN_BYTES:
        best = charset_normalizer.from_bytes(sample, cp_exclusion=_NO_WIDE).best()
        if best is not None and best.encoding:
            same_text = {codec_for(name) or name for name in [best.encoding, *best.could_be_from_charset]}
            codec = "cp1252" if same_text & {"cp1252", "latin_1", "iso8859-1", "iso8859_1"} else best.encoding
            try:
                return content.decode(codec, errors="replace")
            except LookupError:
                pass
    return content.decode("cp1252", errors="replace")


def decode_body(content: bytes, header_charset: str | None) -> str:
    """Decode an HTML/XML body the way a careful browser would.

    BOM first; then the declared encodings (HTTP header, XML declaration, ``<meta charset>``) in that order,
    taking the first that fits: a single-byte label on valid multi-byte UTF-8 is a wrong label; a UTF-8
    label on bytes with a few malformed sequences is right (decoded with replacement characters, not the whole
    page as cp1252); a UTF-8 label on legacy bytes is wrong. Then UTF-8, then detection (windows-1252 among
    equivalent code pages), then windows-1252 with replacement characters.
    """
    if not content:
        return ""
    for bom, bom_codec in _BOMS:
        if content.startswith(bom):
            return content.decode(bom_codec, errors="replace")
    head = content[:4096]
    labels: list[str | None] = [header_charset]
    for pattern in (_XML_DECL_RE, _META_CHARSET_RE):
        found = pattern.search(head)
        labels.append(found.group(1).decode("ascii", "ignore") if found else None)
    candidates: list[str] = []
    for label in labels:
        label_codec = codec_for(label)
        if label_codec and label_codec not in candidates:
            candidates.append(label_codec)
    try:
        utf8_text: str | None = content.decode("utf-8")
    except UnicodeDecodeError:
        utf8_text = None
    if ascii_markup(head):
        candidates = [codec for codec in candidates if ascii_compatible(codec)]
    for codec in candidates:
        if utf8_text is not None and utf8_label_lies(content, codec):
            return utf8_text
        if codec in ("utf-8", "utf-8-sig"):
            if utf8_text is not None:
                return utf8_text
            if mostly_utf8(content):
                return content.decode("utf-8", errors="replace")
            continue  # legacy bytes under a UTF-8 label: the label lies
        try:
            return content.decode(codec)
        except (UnicodeError, LookupError):
            continue
    if utf8_text is not None:
        return utf8_text
    if mostly_utf8(content):
        return content.decode("utf-8", errors="replace")
    return _detect_legacy(content)


@dataclass(frozen=True)
class Response:
    """A fetched (or replayed) HTTP response with its decoded body bytes."""

    url: str
    final_url: str
    status: int
    #: Lower-case header names.
    headers: Mapping[str, str]
    content: bytes
    #: UTC
    fetched_at: datetime
    #: "feed" | "page" | "robots"
    kind: str
    archive_ref: ArchiveRef | None = None
    #: Request headers actually sent (lower-case names); empty for replayed responses.
    request_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        """The media type alone, lower-case (``text/html``); the full header is ``headers["content-type"]``."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        return charset_of(self.headers.get("content-type"))

    def text(self) -> str:
        return decode_body(self.content, self.charset)
