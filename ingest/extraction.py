"""Article extraction: HTML in, main text and metadata out (trafilatura does the work).

trafilatura is imported lazily so that importing :mod:`ingest` (for example from a DAG file) stays cheap.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dateutil import parser as dateparser

from ingest.config import ExtractionOptions
from ingest.errors import ExtractionError
from ingest.markup import cap_attributes, drop_forbidden_references, flattened

logger = logging.getLogger(__name__)

_DATE_PARAMS = {
    "extensive_search": True,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}
_LANG_ATTR = re.compile(rb"<html[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_START_TAG = re.compile(r"<[A-Za-z]")
#: Below this probability the text-based language guess yields to the page's declared language.
_MIN_LANG_CONFIDENCE = 0.9


@dataclass(frozen=True)
class Extracted:
    """What one page yielded. ``published`` is timezone-aware when the page gives a time."""

    title: str
    body: str
    lead: str
    description: str
    authors: tuple[str, ...]
    published: datetime | None
    #: False when the page gave only a day (``published`` is then midnight UTC of that day).
    published_has_time: bool
    language: str | None
    site_name: str | None
    url: str | None


def extract(html: str, *, url: str, options: ExtractionOptions | None = None) -> Extracted:
    """Extract one article; raise :class:`ExtractionError` when the page holds no article text."""
    options = options or ExtractionOptions()
    check_budget(html, url=url, options=options)
    html = cap_attributes(drop_forbidden_references(html))
    import trafilatura  # lazy: heavy import

    doc = _bare_extraction(trafilatura, html, url, options)
    title = _clean(getattr(doc, "title", None))
    body = _strip_title(getattr(doc, "text", None) or "", title)
    if len(body) < options.min_body_chars and (deep := flattened(html)) is not None:
        # nested past libxml2's limit, the rest of the page was dropped: once more on a flattened tree
        again = _bare_extraction(trafilatura, deep, url, options)
        again_title = _clean(getattr(again, "title", None))
        again_body = _strip_title(getattr(again, "text", None) or "", again_title)
        if len(again_body) > len(body):
            doc, title, body = again, again_title, again_body
    if doc is None:
        raise ExtractionError("no article content found", reason="no_content", url=url)
    if len(body) < options.min_body_chars:
        raise ExtractionError(f"body too short ({len(body)} chars)", reason="body_too_short", url=url)

    declared = _declared_language(html)
    raw_date = getattr(doc, "date", None)
    return Extracted(
        title=title,
        body=body,
        lead=lead_of(body),
        description=_clean(getattr(doc, "description", None)),
        authors=_authors(getattr(doc, "author", None)),
        published=parse_datetime(raw_date),
        published_has_time=_has_time(raw_date),
        # a thousand characters identify the language as well as the whole text, at half the cost
        language=detect_language(f"{title}\n{body[:1000]}", declared=declared),
        site_name=_clean(getattr(doc, "sitename", None)) or None,
        url=_clean(getattr(doc, "url", None)) or None,
    )


def _bare_extraction(trafilatura: Any, html: Any, url: str, options: ExtractionOptions) -> Any:
    """trafilatura's document for ``html`` (a string or an lxml tree), or None when it finds no content."""
    try:
        return trafilatura.bare_extraction(
            html,
            url=url,
            favor_precision=options.favor_precision,
            fast=options.fast,
            include_comments=options.include_comments,
            include_tables=False,
            with_metadata=True,
            date_extraction_params=_DATE_PARAMS,
        )
    except Exception as exc:  # trafilatura raises assorted lxml/ValueError types on broken markup
        raise ExtractionError(f"trafilatura failed: {exc!r}", reason="extraction_failed", url=url) from exc


def check_budget(html: str, *, url: str, options: ExtractionOptions) -> None:
    """Refuse a page too big to parse in bounded time (size in bytes, elements counted as start tags)."""
    size = len(html.encode("utf-8", "surrogatepass"))
    if size > options.max_html_bytes:
        raise ExtractionError(
            f"page of {size} bytes is over the extraction budget of {options.max_html_bytes}",
            reason="extraction_too_large",
            url=url,
        )
    elements = len(_START_TAG.findall(html))
    if elements > options.max_elements:
        raise ExtractionError(
            f"page of {elements} elements is over the extraction budget of {options.max_elements}",
            reason="extraction_too_large",
            url=url,
        )


def lead_of(body: str, limit: int = 600) -> str:
    """The first paragraph(s) up to ``limit`` characters: what story grouping and embeddings look at."""
    lead = ""
    for para in body.split("\n"):
        para = para.strip()
        if not para:
            continue
        lead = f"{lead} {para}".strip()
        if len(lead) >= limit // 2:
            break
    return lead[:limit]


def parse_datetime(value: Any) -> datetime | None:
    """Parse an ISO-like date string; naive results are taken as UTC."""
    if not value:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = dateparser.isoparse(str(value))
        except (ValueError, OverflowError):
            try:
                parsed = dateparser.parse(str(value))
            except (ValueError, OverflowError):
                logger.debug("unparseable date %r", value)
                return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _has_time(value: Any) -> bool:
    """htmldate renders a day-only date as midnight without an offset."""
    if not value:
        return False
    text = str(value)
    return "T" in text and not text.endswith("T00:00:00")


def detect_language(text: str, *, declared: str | None = None) -> str | None:
    """Language of ``text`` (ISO 639-1); the page's declared language wins when the model is unsure."""
    if not text.strip():
        return declared
    lang, prob = _identifier().classify(text)
    if prob >= _MIN_LANG_CONFIDENCE or declared is None:
        return str(lang)
    return declared


@functools.cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _declared_language(html: str) -> str | None:
    match = _LANG_ATTR.search(html[:5000].encode("utf-8", "ignore"))
    return match.group(1).decode().lower()[:2] if match else None


def _clean(value: Any) -> str:
    return " ".join(str(value).split()) if value else ""


def _strip_title(text: str, title: str) -> str:
    """trafilatura keeps an in-article <h1>; drop it when it only repeats the title."""
    lines = text.strip().split("\n")
    if title and lines and _clean(lines[0]) == title:
        lines = lines[1:]
    return "\n".join(line.strip() for line in lines if line.strip())


def _authors(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    parts = re.split(r";|\band\b|\bund\b", str(value))
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
