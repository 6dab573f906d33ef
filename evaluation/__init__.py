"""Evaluation harnesses and benchmarks (``make eval-*``, ``make bench``).

They read the shared evaluation data in place (``../shared`` next to the checkout, or ``$NEWS_SHARED_DIR``)
and never copy it into the project.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ingest.config import PROJECT_ROOT


def shared_dir() -> Path:
    """The read-only shared data folder (it may be missing: callers say what they need from it)."""
    return Path(os.environ.get("NEWS_SHARED_DIR", PROJECT_ROOT.parent / "shared"))


class ScrapinghubPage(NamedTuple):
    """One page of the scrapinghub article-extraction benchmark: its id, URL, gold body and raw HTML."""

    key: str
    url: str
    gold_body: str
    html: bytes

    def text(self) -> str:
        return self.html.decode("utf-8", "replace")


def scrapinghub_pages(folder: Path) -> Iterator[ScrapinghubPage]:
    """The benchmark's pages in id order (``folder`` holds ``ground-truth.json`` and ``html/``), read in place."""
    truth: dict[str, dict[str, object]] = json.loads((folder / "ground-truth.json").read_text("utf-8"))
    for key, gold in sorted(truth.items()):
        html = gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes())
        yield ScrapinghubPage(key, str(gold.get("url") or ""), str(gold.get("articleBody") or ""), html)
