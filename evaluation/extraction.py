"""Extraction quality of :func:`ingest.extraction.extract` on real pages (read in place from ``../shared/eval``).

* scrapinghub article-extraction-benchmark: body precision/recall/F1 over multisets of word 4-gram shingles,
  normalised per page and averaged, exactly as that benchmark defines them (so the numbers compare with its
  published table: trafilatura 2.0.0 F1 0.958).
* fundus parser test data (German-heavy, 40 countries): title agreement, publish-date agreement (same day) and
  body token F1 against the reviewed gold. Title agreement is also printed per half of a fixed hash split
  (:data:`TITLE_SPLIT_SALT`), and so is byline agreement (the same names as the gold's): the title and byline
  cleaning of :mod:`ingest.metadata` was built on the tuning half's errors only; the untouched half is read as a
  figure.

``python -m evaluation.extraction`` ends with one ``key=value`` line.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import scrapinghub_pages, shared_dir
from ingest.config import ExtractionOptions
from ingest.errors import ExtractionError
from ingest.extraction import Extracted, extract, parse_datetime
from ingest.metadata import fold

_TOKEN = re.compile(r"\w+", re.UNICODE)
#: Salt of the fundus title split (by page file): "tuning" pages are those whose salted hash is even.
TITLE_SPLIT_SALT = "title split "


def title_split(html_path: str) -> str:
    """``tuning`` or ``untouched``: the half of the fundus pages a title rule may (not) be chosen on."""
    return "tuning" if hashlib.sha256((TITLE_SPLIT_SALT + html_path).encode()).digest()[0] % 2 == 0 else "untouched"


def _shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])


def shingle_scores(true: str, pred: str) -> tuple[float, float, float]:
    """Normalised (tp, fp, fn) of one page, as the benchmark computes them."""
    t, p = _shingles(true), _shingles(pred)
    tp = float(sum((t & p).values()))
    fp = float(sum((p - t).values()))
    fn = float(sum((t - p).values()))
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def benchmark_metrics(scores: list[tuple[float, float, float]]) -> dict[str, float]:
    def prec(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else (0.0 if tp == fp == 0 else tp / (tp + fp))

    def rec(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else (0.0 if tp == fn == 0 else tp / (tp + fn))

    precision = statistics.mean(prec(*s) for s in scores if s[0] + s[1] > 0)
    recall = statistics.mean(rec(*s) for s in scores if s[0] + s[2] > 0)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}


def _try_extract(html: str, url: str, options: ExtractionOptions) -> Extracted | None:
    try:
        return extract(html, url=url, options=options)
    except ExtractionError:
        return None


def scrapinghub(base: Path, options: ExtractionOptions) -> dict[str, float]:
    scores, failed = [], 0
    for page in scrapinghub_pages(base):
        result = _try_extract(page.text(), page.url, options)
        failed += result is None
        scores.append(shingle_scores(page.gold_body, result.body if result else ""))
    return {**benchmark_metrics(scores), "pages": len(scores), "no_article": failed}


def _token_f1(pred: str, gold: str) -> float:
    p, g = Counter(_TOKEN.findall(pred.lower())), Counter(_TOKEN.findall(gold.lower()))
    overlap = sum((p & g).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(p.values()), overlap / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def _gold_body(gold: dict[str, Any]) -> str:
    body = gold.get("body") or {}
    parts = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        parts += (section.get("headline") or []) + (section.get("paragraphs") or [])
    return "\n".join(parts)


def _same_names(got: Sequence[str], gold: Sequence[str]) -> bool:
    """Whether the bylines name the same authors, without regard to case, accents, spacing and order."""
    return {fold(a) for a in got if fold(a)} == {fold(a) for a in gold if fold(a)}


def fundus(base: Path, options: ExtractionOptions) -> dict[str, float]:
    rows = [json.loads(line) for line in (base / "manifest.jsonl").read_text("utf-8").splitlines() if line]
    gold_files: dict[str, dict[str, Any]] = {}
    titles = dates = dated = failed = 0
    by_split: dict[str, list[bool]] = {"tuning": [], "untouched": []}
    authors_by_split: dict[str, list[bool]] = {"tuning": [], "untouched": []}
    body_f1: list[float] = []
    by_lang: dict[str, list[float]] = {}
    for row in rows:
        if row["gold_json"] not in gold_files:
            gold_files[row["gold_json"]] = json.loads((base / row["gold_json"]).read_text("utf-8"))
        gold = gold_files[row["gold_json"]][row["gold_key"]]
        html = gzip.decompress((base / row["html"]).read_bytes()).decode("utf-8", "replace")
        result = _try_extract(html, row["url"], options)
        if result is None:
            failed += 1
            body_f1.append(0.0)
            by_split[title_split(row["html"])].append(False)
            authors_by_split[title_split(row["html"])].append(not gold.get("authors"))
            continue
        agrees = _token_f1(result.title, str(gold.get("title") or "")) >= 0.9
        titles += agrees
        by_split[title_split(row["html"])].append(agrees)
        authors_by_split[title_split(row["html"])].append(_same_names(result.authors, gold.get("authors") or []))
        gold_date = parse_datetime(gold.get("publishing_date"))
        if gold_date is not None:
            dated += 1
            dates += result.published is not None and result.published.date() == gold_date.date()
        f1 = _token_f1(result.body, _gold_body(gold))
        body_f1.append(f1)
        by_lang.setdefault(result.language or "?", []).append(f1)
    n = len(rows)
    return {
        "pages": n,
        "no_article": failed,
        "title_acc": titles / n,
        **{f"title_acc_{k}": sum(v) / len(v) if v else 0.0 for k, v in by_split.items()},
        **{f"title_pages_{k}": float(len(v)) for k, v in by_split.items()},
        "authors_acc": sum(sum(v) for v in authors_by_split.values()) / n,
        **{f"authors_acc_{k}": sum(v) / len(v) if v else 0.0 for k, v in authors_by_split.items()},
        "date_acc": dates / dated if dated else 0.0,
        "body_f1_mean": statistics.mean(body_f1),
        "body_f1_median": statistics.median(body_f1),
        "de_body_f1_mean": statistics.mean(by_lang.get("de", [0.0])),
        "de_pages": len(by_lang.get("de", [])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--precision", action="store_true", help="favor_precision=True, for comparison")
    parser.add_argument("--fallbacks", action="store_true", help="fast=False (readability/jusText), for comparison")
    parser.add_argument(
        "--raw-metadata",
        action="store_true",
        help="clean_metadata=False (titles and bylines as trafilatura gives them)",
    )
    args = parser.parse_args(argv)
    options = ExtractionOptions(
        favor_precision=args.precision, fast=not args.fallbacks, clean_metadata=not args.raw_metadata
    )
    root = shared_dir()
    if not (root / "eval").is_dir():
        print(f"evaluation data not found under {root} (set NEWS_SHARED_DIR)")
        return 2
    started = time.perf_counter()
    sh = scrapinghub(root / "eval" / "scrapinghub-article-extraction-benchmark", options)
    fu = fundus(root / "eval" / "fundus-parser-testdata", options)
    seconds = time.perf_counter() - started
    print(f"scrapinghub benchmark ({sh['pages']} pages, {sh['no_article']} without article):")
    print(
        f"  precision={sh['precision']:.3f} recall={sh['recall']:.3f} F1={sh['f1']:.3f}"
        "  (published: trafilatura 2.0.0 F1 0.958)"
    )
    print(f"fundus gold ({fu['pages']} pages, {fu['no_article']} without article):")
    print(
        f"  title_acc={fu['title_acc']:.3f} date_acc={fu['date_acc']:.3f} body_f1 mean={fu['body_f1_mean']:.3f}"
        f" median={fu['body_f1_median']:.3f}; German pages: {fu['de_pages']} mean body_f1={fu['de_body_f1_mean']:.3f}"
    )
    print(
        f"  title_acc by split: untouched {fu['title_acc_untouched']:.3f} ({fu['title_pages_untouched']:.0f} pages),"
        f" tuning {fu['title_acc_tuning']:.3f} ({fu['title_pages_tuning']:.0f} pages; title rules were chosen here)"
    )
    print(
        f"  authors (same names as the gold byline) {fu['authors_acc']:.3f}; by split: untouched"
        f" {fu['authors_acc_untouched']:.3f}, tuning {fu['authors_acc_tuning']:.3f} (byline rules were chosen here)"
    )
    pages = sh["pages"] + fu["pages"]
    print(f"{pages} pages in {seconds:.1f}s ({pages / seconds:.0f} pages/s incl. decompression and scoring)")
    print(
        f"scrapinghub_f1={sh['f1']:.3f} scrapinghub_precision={sh['precision']:.3f} "
        f"scrapinghub_recall={sh['recall']:.3f} fundus_title_acc={fu['title_acc']:.3f} "
        f"fundus_date_acc={fu['date_acc']:.3f} fundus_body_f1={fu['body_f1_mean']:.3f} "
        f"fundus_title_acc_untouched={fu['title_acc_untouched']:.3f} fundus_authors_acc={fu['authors_acc']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
