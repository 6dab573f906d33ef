"""How often :func:`ingest.pagekind.consent_wall`, :func:`~ingest.pagekind.not_found_page` or
:func:`~ingest.pagekind.junk_text` would throw away a real article: every text of ``../shared/eval``
that is an article (CASIE, WikiRef, 10kGNAD, fundus's gold bodies) and the 439 bench pages through the pipeline's
own extraction. All of them are articles, so every hit is a false one; the closest misses (the largest share of
notice sentences) are printed to show the margin.

``python -m evaluation.pagekind``; ends with ``articles=N consent_walls=N not_found_pages=N junk_texts=N
max_notice_share=R max_junk_share=R``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator, Sequence

from evaluation.bench_pipeline import load_pages
from evaluation.tagging import eval_dir, load_10kgnad, load_casie, load_fundus, load_wikiref
from ingest import pagekind


def _texts() -> Iterator[tuple[str, str, str]]:
    """(where, title, body) of every article."""
    from ingest.errors import ExtractionError
    from ingest.extraction import extract

    root = eval_dir()
    for loader in (load_casie, load_wikiref, load_10kgnad, load_fundus):
        for doc in loader(root):
            yield f"{doc.source}:{doc.ident}", doc.title, doc.body
    for page in load_pages(root):
        try:
            extracted = extract(page.html.decode("utf-8", "replace"), url=f"http://bench.example{page.path}")
        except ExtractionError:
            continue
        yield f"bench:{page.path}", extracted.title, extracted.body


def _share(title: str, body: str) -> float:
    notice, counted = pagekind.notice_sentences(title, body)
    return notice / counted if counted else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--closest", type=int, default=5, help="how many of the closest misses to print")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    walls: list[str] = []
    not_found: list[str] = []
    junk: list[str] = []
    top_junk = 0.0
    shares: list[tuple[float, int, str]] = []
    n = 0
    for where, title, body in _texts():
        n += 1
        if pagekind.consent_wall(title, body):
            walls.append(where)
        if pagekind.not_found_page(title, body):
            not_found.append(where)
        if pagekind.junk_text(body):
            junk.append(where)
        top_junk = max(top_junk, pagekind.junk_share(body))
        shares.append((_share(title, body), len(body), where))
    shares.sort(reverse=True)
    for where in walls:
        print(f"FALSE consent wall: {where}")
    for where in not_found:
        print(f"FALSE not-found page: {where}")
    for where in junk:
        print(f"FALSE junk text: {where}")
    print(f"closest (notice share, body chars; a wall needs >= {pagekind.MIN_SHARE} and <= {pagekind.MAX_CHARS}):")
    for share, chars, where in shares[: args.closest]:
        print(f"  {share:.2f} {chars:6d} {where}")
    top = shares[0][0] if shares else 0.0
    print(f"largest share of junk tokens: {top_junk:.3f} (junk from {pagekind.JUNK_SHARE})")
    print(
        f"articles={n} consent_walls={len(walls)} not_found_pages={len(not_found)} junk_texts={len(junk)} "
        f"max_notice_share={top:.3f} max_junk_share={top_junk:.3f}"
    )
    return 1 if walls or not_found or junk else 0


if __name__ == "__main__":
    raise SystemExit(main())
