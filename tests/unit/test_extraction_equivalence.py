"""Our trafilatura call (one parse, metadata without categories, tags and licence) gives what
``trafilatura.bare_extraction(..., with_metadata=True)`` gives, field for field, on real pages (read in place).

It calls trafilatura's cascade and metadata steps directly, so a trafilatura upgrade that changes them must
fail here rather than change documents quietly.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evaluation.bench_pipeline import load_pages
from ingest import extraction
from ingest.config import ExtractionOptions
from ingest.markup import cap_attributes, drop_forbidden_references
from tests.conftest import shared_path

pytestmark = pytest.mark.unit

#: Dates are bounded by the fetch time (a day ahead); the same bound for both sides.
LATEST_UTC = datetime(2026, 12, 4, tzinfo=UTC)
LATEST = LATEST_UTC.replace(tzinfo=None)
FIELDS = ("title", "author", "date", "description", "sitename", "url", "hostname", "text")


def _pages() -> list[tuple[str, str]]:
    """(url, html) of every second benchmark page: fundus pages at their real URLs (metadata reads them)."""
    return [
        (page.source_url or f"https://example.org{page.path}", page.html.decode("utf-8", "replace"))
        for page in load_pages(shared_path("eval"))[::2]
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "options", [ExtractionOptions(), ExtractionOptions(fast=False, favor_precision=True)], ids=["default", "precision"]
)
def test_same_fields_as_trafilatura_bare_extraction(options: ExtractionOptions) -> None:
    import trafilatura

    pages = _pages()
    assert len(pages) >= 200
    differences = []
    for url, raw in pages:
        html = cap_attributes(drop_forbidden_references(raw))
        theirs = trafilatura.bare_extraction(
            html,
            url=url,
            favor_precision=options.favor_precision,
            fast=options.fast,
            include_comments=options.include_comments,
            include_tables=False,
            with_metadata=True,
            # ours searches the markup first and the text only when that finds nothing; the result is the same
            date_extraction_params={**extraction._DATE_PARAMS, "extensive_search": True, "max_date": LATEST},
        )
        found = extraction._bare_extraction(html, url, options, LATEST_UTC)
        ours = found[0] if found else None
        assert (theirs is None) == (ours is None), url
        for field in FIELDS if ours is not None else ():
            if getattr(theirs, field) != getattr(ours, field):
                differences.append((url, field, getattr(theirs, field), getattr(ours, field)))
    assert not differences, differences[:5]


def test_a_page_without_content_is_no_document() -> None:
    assert (
        extraction._bare_extraction(
            "<html><body></body></html>", "https://example.org/a", ExtractionOptions(), LATEST_UTC
        )
        is None
    )
