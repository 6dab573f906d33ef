"""Article extraction: HTML in, main text and metadata out (trafilatura does the work).

trafilatura is imported lazily so that importing :mod:`ingest` (for example from a DAG file) stays cheap.
"""

from __future__ import annotations

import array
import functools
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil import parser as dateparser

from ingest.config import ExtractionOptions
from ingest.errors import ExtractionError, JunkText, NotAnArticle, SoftNotFound
from ingest.markup import cap_attributes, drop_forbidden_references, flattened
from ingest.metadata import clean_authors, placeholder_title, strip_site
from ingest.pagekind import JUNK_SHARE, MAX_WORD_CHARS, consent_wall, junk_text, not_found_page

logger = logging.getLogger(__name__)

_DATE_PARAMS: dict[str, Any] = {
    "extensive_search": False,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}
#: A page may be dated up to this far past its fetch time (its time zone's "today" is ahead of UTC's).
DATE_AHEAD = timedelta(days=1)
#: What :func:`parse_datetime` fills a field with that the string lacks (dateutil's default is today).
_NO_DATE = datetime(1, 1, 1)
#: ``lang`` (or ``xml:lang``) on ``<html>``, not ``data-lang`` or ``data-i18n-lang``; the primary subtag only.
_LANG_ATTR = re.compile(rb"<html\b[^>]*?[\s\"'](?:xml:)?lang\s*=\s*[\"']?([A-Za-z]{2,3})(?![A-Za-z])", re.IGNORECASE)
#: Three-letter (ISO 639-2) codes pages use for the languages the tagger knows. Other three-letter codes are no
#: declaration: their first two letters may be another language's code ("ger" cut to "ge").
_LANG_639_2 = {"eng": "en", "deu": "de", "ger": "de"}
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
    #: True when no markup names the date and htmldate's extensive search read it from the text, where it also
    #: makes dates up (a copyright year as 1 January, a year-month as its 1st): then a feed's date wins.
    published_guessed: bool
    language: str | None
    site_name: str | None
    url: str | None


def extract(
    html: str, *, url: str, options: ExtractionOptions | None = None, fetched_at: datetime | None = None
) -> Extracted:
    """Extract one article; raise :class:`ExtractionError` when the page holds no article text.

    ``fetched_at`` bounds the page's date (a day ahead at most): the capture's time, not the worker's clock, so
    that a replay months later derives the same date. Without it, now."""
    options = options or ExtractionOptions()
    check_budget(html, url=url, options=options)
    html = cap_attributes(drop_forbidden_references(html))
    latest = (fetched_at or datetime.now(UTC)) + DATE_AHEAD
    doc, guessed = _bare_extraction(html, url, options, latest) or (None, False)
    title = _clean(getattr(doc, "title", None))
    body = _strip_title(getattr(doc, "text", None) or "", title)
    if len(body) < options.min_body_chars and (deep := flattened(html)) is not None:
        # nested past libxml2's limit, the rest of the page was dropped: once more on a flattened tree
        again, again_guessed = _bare_extraction(deep, url, options, latest) or (None, False)
        again_title = _clean(getattr(again, "title", None))
        again_body = _strip_title(getattr(again, "text", None) or "", again_title)
        if len(again_body) > len(body):
            doc, guessed, title, body = again, again_guessed, again_title, again_body
    if doc is None:
        raise ExtractionError("no article content found", reason="no_content", url=url)
    if len(body) < options.min_body_chars:
        raise ExtractionError(f"body too short ({len(body)} chars)", reason="body_too_short", url=url)
    if junk_text(body):
        raise JunkText(
            f"no words: at least {JUNK_SHARE:.0%} of the text is ASCII tokens over {MAX_WORD_CHARS} characters",
            url=url,
        )
    if consent_wall(title, body):
        raise NotAnArticle("a consent notice, not the article (the publisher asks for consent first)", url=url)
    if not_found_page(title, body):
        raise SoftNotFound("a not-found page served as a page (status 200)", url=url)

    declared = _declared_language(html)
    raw_date = getattr(doc, "date", None)
    site_name = _clean(getattr(doc, "sitename", None)) or None
    authors = _authors(getattr(doc, "author", None))
    if options.clean_metadata:
        title = strip_site(title, site_name, url)
        authors = clean_authors(authors, site_name, url)
    return Extracted(
        title=title,
        body=body,
        lead=lead_of(body),
        description=_clean(getattr(doc, "description", None)),
        authors=authors,
        published=parse_datetime(raw_date),
        published_has_time=_has_time(raw_date),
        published_guessed=guessed,
        # a thousand characters identify the language as well as the whole text, at half the cost
        language=detect_language(f"{title}\n{body[:1000]}", declared=declared),
        site_name=site_name,
        url=_clean(getattr(doc, "url", None)) or None,
    )


def _bare_extraction(html: Any, url: str, options: ExtractionOptions, latest: datetime) -> tuple[Any, bool] | None:
    """trafilatura's document for ``html`` (a string or an lxml tree we own) and whether its date is a guess
    (:func:`_find_date`), or None when it finds no content.

    What ``trafilatura.bare_extraction(..., with_metadata=True)`` returns for the fields we read, with the same
    single parse and the same cascade, less two of its metadata passes whose output nothing here reads
    (categories and tags, licence): 2 of its 6.6 ms of metadata per page, 9 % of an article's extraction
    (``tests/unit/test_extraction_equivalence.py`` checks the fields against trafilatura's on the real pages).
    """
    from trafilatura.core import trafilatura_sequence  # lazy: heavy import
    from trafilatura.settings import Extractor
    from trafilatura.utils import load_html
    from trafilatura.xml import xmltotxt

    try:
        extractor = Extractor(
            output_format="python",
            fast=options.fast,
            precision=options.favor_precision,
            comments=options.include_comments,
            tables=False,
            url=url,
            with_metadata=True,
            date_params=_DATE_PARAMS,
        )
        tree = load_html(html, extractor.max_file_size)
        if tree is None:
            return None
        document, guessed = _metadata(tree, url, latest)
        body, text, _, comments = trafilatura_sequence(tree, extractor, extractor.url or document.url)
        if len(text) < extractor.min_output_size and len(comments) < extractor.min_output_comm_size:
            return None
        document.text = xmltotxt(body, extractor.formatting)
        return document, guessed
    except (TypeError, ValueError):  # what trafilatura itself turns into "no document"
        return None
    except Exception as exc:  # trafilatura raises assorted lxml/ValueError types on broken markup
        raise ExtractionError(f"trafilatura failed: {exc!r}", reason="extraction_failed", url=url) from exc


def _metadata(tree: Any, url: str, latest: datetime) -> tuple[Any, bool]:
    """``trafilatura.metadata.extract_metadata`` step by step, without categories, tags and licence; and whether
    the date was only guessed from the text (:func:`_find_date`)."""
    from courlan import extract_domain
    from trafilatura import metadata as tm

    document = tm.examine_meta(tree)
    if document.author and " " not in document.author:
        document.author = None
    try:
        document = tm.extract_meta_json(tree, document)
    except Exception as err:  # as trafilatura: bugs in its JSON-LD reader cost the JSON-LD fields only
        logger.debug("JSON-LD metadata not read: %s", err)
    if not document.title:
        document.title = tm.extract_title(tree)
    if not document.author:
        document.author = tm.extract_author(tree)
    if not document.url:
        document.url = tm.extract_url(tree, url)
    if document.url:
        document.hostname = extract_domain(document.url, fast=True)
    document.date, guessed = _find_date(tree, document.url, latest)
    if not document.sitename:
        document.sitename = tm.extract_sitename(tree)
    if document.sitename:
        document.sitename = document.sitename.lstrip("@")
        if document.sitename and "." not in document.sitename and not document.sitename[0].isupper():
            document.sitename = document.sitename.title()
    elif document.url and (match := tm.META_URL.match(document.url)):
        document.sitename = match[1]
    if placeholder_title(document.title, document.sitename, url):
        document.title = _headline(tree, document.sitename, url) or document.title
    document.clean_and_trim()
    return document, guessed


def _find_date(tree: Any, url: str | None, latest: datetime) -> tuple[str | None, bool]:
    """htmldate's date for the page, and whether it is a guess.

    First from the markup and the URL (meta tags, JSON-LD, ``<time>``, the path); only when they name none, by
    htmldate's extensive search through the text, whose result may be made up and is marked so. A date htmldate
    fails on (an offset of +25:00 raises in its range check) is no date: it never costs the article.
    """
    from htmldate import find_date

    params = {**_DATE_PARAMS, "url": url, "max_date": latest.astimezone(UTC).replace(tzinfo=None)}
    for extensive in (False, True):
        try:
            found = find_date(tree, **{**params, "extensive_search": extensive})
        except (ValueError, OverflowError, TypeError) as exc:
            logger.debug("page date not read: %r", exc)
            return None, False
        if found:
            return found, extensive
    return None, False


def _headline(tree: Any, site_name: str | None, url: str) -> str | None:
    """The page's headline when its title names only the site or a template word ("Home | Site"): the first
    ``<h1>`` of its article or main element, else the first ``<h1>`` that is no placeholder (a logo's ``<h1>``
    holds the site's name). Read before trafilatura's extraction, which prunes the tree."""
    for path in ("//article//h1", "//main//h1", "//h1"):
        for element in tree.xpath(path)[:20]:
            text = " ".join(element.text_content().split())
            if len(text.split()) >= 2 and len(text) <= 300 and not placeholder_title(text, site_name, url):
                return text
    return None


def check_budget(html: str, *, url: str, options: ExtractionOptions) -> None:
    """Refuse a page too big to parse in bounded time (size in bytes, elements counted as start tags)."""
    # a character is at most 4 bytes and every start tag has a "<": the exact counts only when they might matter
    size = len(html) if len(html) * 4 <= options.max_html_bytes else len(html.encode("utf-8", "surrogatepass"))
    if size > options.max_html_bytes:
        raise ExtractionError(
            f"page of {size} bytes is over the extraction budget of {options.max_html_bytes}",
            reason="extraction_too_large",
            url=url,
        )
    elements = html.count("<")
    if elements > options.max_elements and (elements := len(_START_TAG.findall(html))) > options.max_elements:
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
    """Parse an ISO-like date string; naive results are taken as UTC. Fields the string lacks are never filled
    in from today ("Monday" or "14:05" alone is year 1, which no caller takes as a date), and an offset that
    cannot exist (+25:00) is no date."""
    if not value:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = dateparser.isoparse(str(value))
        except (ValueError, OverflowError):
            try:
                parsed = dateparser.parse(str(value), default=_NO_DATE)
            except (ValueError, OverflowError):
                logger.debug("unparseable date %r", value)
                return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        logger.debug("date with an impossible offset %r", value)
        return None
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
    """py3langid's identifier, its model read from the disk cache (:mod:`ingest.cache`) when it is there.

    py3langid decompresses its 4.6 MB LZMA model (to about 70 MB of arrays) on every load: 0.4-0.9 s of CPU in
    every forkserver and extracting process. Cached uncompressed, the same arrays load in about 0.05 s; the
    identifier built from them is py3langid's own (``tests/unit/test_extraction_langid.py``).
    """
    from py3langid.langid import LanguageIdentifier

    from ingest import cache

    model = cache.cached_arrays(
        "langid-model",
        {"packages": cache.versions(("py3langid", "numpy")), "code": cache.fingerprint(_pack_langid)},
        _pack_langid,
        check=_check_langid,
    )
    return LanguageIdentifier(
        model["ptc"],
        model["pc"],
        model["classes"].tolist(),
        _as_array(model["nextmove"]),
        model["output"].tolist(),
        norm_probs=True,
        tk_row=_as_array(model["row"]),
    )


def _pack_langid() -> dict[str, Any]:
    """py3langid's model as it loads it (:func:`py3langid.modelio.load_model`), as plain NumPy arrays."""
    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    return {
        "ptc": np.asarray(ptc),
        "pc": np.asarray(pc),
        "classes": np.array(classes, dtype=str),
        "nextmove": np.frombuffer(nextmove, dtype=np.dtype(nextmove.typecode)),
        "row": np.frombuffer(row, dtype=np.dtype(row.typecode)),
        "output": np.asarray(output, dtype=np.int64),
    }


def _check_langid(model: Any) -> None:
    ptc, pc, classes, row, output = model["ptc"], model["pc"], model["classes"], model["row"], model["output"]
    if ptc.ndim != 2 or ptc.shape[1] != len(pc) or len(classes) != len(pc) or len(row) != len(output):
        raise ValueError("inconsistent language model arrays")


def _as_array(values: Any) -> array.array[int]:
    """A 1-D unsigned NumPy array as the stdlib ``array`` py3langid's tokenizer indexes (its own type)."""
    return array.array(values.dtype.char, values.tobytes())


def _declared_language(html: str) -> str | None:
    match = _LANG_ATTR.search(html[:5000].encode("utf-8", "ignore"))
    if match is None:
        return None
    code = match.group(1).decode().lower()
    return code if len(code) == 2 else _LANG_639_2.get(code)


def _clean(value: Any) -> str:
    return " ".join(str(value).split()) if value else ""


#: trafilatura cuts a metadata value of more than 10,000 characters to 9,999 and an ellipsis.
_CUT_VALUE_CHARS = 10_000


def _strip_title(text: str, title: str) -> str:
    """trafilatura keeps an in-article <h1>; drop it when it only repeats the title (which trafilatura may have
    cut: a 1 MB heading stayed at the top of the body and was the whole lead)."""
    lines = text.strip().split("\n")
    if title and lines:
        first = _clean(lines[0])
        cut = len(title) >= _CUT_VALUE_CHARS and title.endswith("…") and first.startswith(title[:-1])
        if first == title or cut:
            lines = lines[1:]
    return "\n".join(line.strip() for line in lines if line.strip())


def _authors(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    parts = re.split(r";|\band\b|\bund\b", str(value))
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
