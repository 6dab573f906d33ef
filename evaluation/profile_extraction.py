"""Per-page CPU of what a derivation worker does, part by part, against bare ``trafilatura.extract``.

One process, ``time.process_time`` around each part (so the shared machine's load matters less than in
``evaluation.bench_pipeline``), the 439 pages of ``../shared/eval``, bare trafilatura and our path interleaved
page by page. Parts are timed by wrapping the functions in place, so a part inside another is also counted in
it (``trafilatura sequence`` and ``metadata`` are inside ``extract``).

``python -m evaluation.profile_extraction [--rounds N]``
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from evaluation import shared_dir
from evaluation.bench_pipeline import load_pages

_PARTS = [
    ("ingest.extraction", "check_budget", "  size and element budget"),
    ("ingest.extraction", "cap_attributes", "  markup: attribute cap"),
    ("ingest.extraction", "drop_forbidden_references", "  markup: forbidden references"),
    ("ingest.extraction", "_metadata", "  trafilatura metadata (with date search)"),
    ("trafilatura.core", "extract_metadata", "  trafilatura metadata (with date search)"),  # before 2026-12-02
    ("trafilatura.core", "trafilatura_sequence", "  trafilatura cascade"),
    ("ingest.extraction", "detect_language", "  language id"),
]


#: Set while bare trafilatura runs: its parts are counted apart.
_IN_BARE = [False]


def _wrap(acc: dict[str, float], module: Any, name: str, label: str) -> None:
    fn = getattr(module, name, None)
    if fn is None:
        return

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[f"bare: {label.strip()}" if _IN_BARE[0] else label] += time.process_time() - started

    setattr(module, name, timed)


def measure(rounds: int = 1) -> dict[str, float]:
    """CPU ms per page by part (bare trafilatura and ours, ``rounds`` passes over the pages)."""
    import importlib

    import trafilatura
    from threadpoolctl import threadpool_limits

    from ingest import extraction
    from ingest.config import PipelineOptions
    from ingest.documents import article_url
    from ingest.errors import ExtractionError
    from ingest.tagging import Tagger

    threadpool_limits(limits=1)  # as in the workers
    pages = load_pages(shared_dir() / "eval")
    texts = [p.html.decode("utf-8", "replace") for p in pages]
    options = PipelineOptions()
    tagger = Tagger(options.tagging)
    extraction.detect_language("Ministers met officials from Paris on Monday.")  # the workers preload the model
    for text in texts[:20]:  # warm caches outside the timing
        trafilatura.extract(text)
        with contextlib.suppress(ExtractionError):
            extraction.extract(text, url="http://127.0.0.1/warm")
    acc: dict[str, float] = defaultdict(float)
    for module, name, label in _PARTS:
        _wrap(acc, importlib.import_module(module), name, label)

    def timed(label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[label] += time.process_time() - started

    for _ in range(rounds):
        for page, text in zip(pages, texts, strict=True):
            url = "http://127.0.0.1" + page.path
            _IN_BARE[0] = True
            timed("bare trafilatura.extract", trafilatura.extract, text)
            _IN_BARE[0] = False
            try:
                ex = timed("extract (ingest.extraction)", extraction.extract, text, url=url)
            except ExtractionError:
                continue
            timed("canonical URL", article_url, html=text, final_url=url, extracted_url=ex.url)
            language = ex.language or "en"
            timed("tagging", tagger.tag, title=ex.title, body=ex.body, language=language, description=ex.description)
    n = len(pages) * rounds
    return {label: 1000 * seconds / n for label, seconds in acc.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.profile_extraction", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the pages (default 2)")
    args = parser.parse_args(argv)
    if not (shared_dir() / "eval").is_dir():
        print(f"evaluation data not found under {shared_dir() / 'eval'} (set NEWS_SHARED_DIR)")
        return 2
    parts = measure(args.rounds)
    order = ["bare trafilatura.extract", "bare: trafilatura cascade", "extract (ingest.extraction)"]
    order += [*dict.fromkeys(p[2] for p in _PARTS), "canonical URL", "tagging"]
    for label in order:
        print(f"{label:45s} {parts.get(label, 0.0):6.2f} ms/page")
    ours = parts["extract (ingest.extraction)"] + parts["canonical URL"] + parts["tagging"]
    print(f"{'worker path (extract + canonical URL + tagging)':45s} {ours:6.2f} ms/page")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
