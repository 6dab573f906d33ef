"""Our trafilatura call (one parse, metadata without categories, tags and licence) gives what
``trafilatura.bare_extraction(..., with_metadata=True)`` gives, field for field, on real pages (read in place).

It calls trafilatura's cascade and metadata steps directly, so a trafilatura upgrade that changes them must
fail here rather than change documents quietly.
"""

from __future__ import annotations

import gzip
import json

import pytest

from ingest import extraction
from ingest.config import ExtractionOptions
from ingest.markup import cap_attributes, drop_forbidden_references
from tests.conftest import shared_path

pytestmark = pytest.mark.unit

FIELDS = ("title", "author", "date", "description", "sitename", "url", "hostname", "text")


def _pages() -> list[tuple[str, str]]:
    """(url, html) of every second scrapinghub and fundus page."""
    pages: list[tuple[str, str]] = []
    sh = shared_path("eval", "scrapinghub-article-extraction-benchmark")
    for key in sorted(json.loads((sh / "ground-truth.json").read_text("utf-8")))[::2]:
        html = gzip.decompress((sh / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8", "replace")
        pages.append((f"https://example.org/{key}", html))
    fu = shared_path("eval", "fundus-parser-testdata")
    rows = [json.loads(line) for line in (fu / "manifest.jsonl").read_text("utf-8").splitlines() if line.strip()]
    for row in rows[::2]:
        pages.append((row["url"], gzip.decompress((fu / row["html"]).read_bytes()).decode("utf-8", "replace")))
    return pages


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
            date_extraction_params=extraction._DATE_PARAMS,
        )
        ours = extraction._bare_extraction(html, url, options)
        assert (theirs is None) == (ours is None), url
        for field in FIELDS if ours is not None else ():
            if getattr(theirs, field) != getattr(ours, field):
                differences.append((url, field, getattr(theirs, field), getattr(ours, field)))
    assert not differences, differences[:5]


def test_a_page_without_content_is_no_document() -> None:
    assert (
        extraction._bare_extraction("<html><body></body></html>", "https://example.org/a", ExtractionOptions()) is None
    )
