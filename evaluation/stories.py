"""Story grouping evaluation: ``python -m evaluation.stories`` (make eval-stories; ES must run).

Corpora (each run in its own ``eval-stories-<random>-*`` indices, deleted at the end):

(a) the project's sample corpus (``seeds/sample/manifest.toml``, pages extracted with ``ingest.extraction``),
    labels = the manifest's ``story`` field; plus the German seed article ``../shared/seed-article`` which must
    land in the Sony story. The seed file's header says ``date 2018-07``, which is not when it was published
    (it reports the events of 20 December 2014); it is streamed with 2014-12-21 and, for the record, the
    result with the header date is printed too.
(b) WikiRef220 (``../shared/eval``; ``NEWS_SHARED_DIR`` overrides), no timestamps: files sorted by name and
    shuffled with ``random.Random(220)`` (``--wikiref-seed`` for another order); the i-th article gets
    ``2016-01-01 + i * 2h`` (all within one window, so time plays no part). Event-like labels must each form
    one story, topic-like labels may split but never mix.
(c) CASIE (1,000 cyber articles 2017-2019) in date order: how many stories form; the largest are printed.

Metrics: B-cubed precision/recall/F1 (Bagga & Baldwin) and pairwise F1. Entities come from
``ingest.tagging`` when its data files exist (otherwise none: lexical + embeddings only). Ends with one line
``sample_sony_b3_f1=R wikiref_event_b3_f1=R wikiref_b3_precision=R``.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import sys
import time
import tomllib
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from evaluation import shared_dir
from ingest.config import PROJECT_ROOT, IndexOptions, StoryOptions, options_from_env
from ingest.embeddings import Embedder, default_embedder
from ingest.indexing import create_indices, drop_indices
from ingest.stories import Assignment, StoryGrouper

logger = logging.getLogger(__name__)

EVENT_LABELS = (
    "malaysia.airlines.flight",
    "ParisAttacks2015",
    "tohoku.earthquake.tsunami",
    "greek.elections",
    "cypriot.financial.crisis",
    "debt.crisis.greece",
)
SEED_ID = "seed-sony-de"
SEED_PUBLISHED = "2014-12-21T10:00:00+00:00"


# --- metrics ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    pair_f1: float
    items: int
    clusters: int


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def bcubed(gold: Mapping[str, str], pred: Mapping[str, str], items: Iterable[str] | None = None) -> Scores:
    """B-cubed and pairwise scores over ``items`` (default: all gold items), using the full clusterings."""
    chosen = sorted(items if items is not None else gold)
    by_pred: dict[str, list[str]] = defaultdict(list)
    by_gold: dict[str, list[str]] = defaultdict(list)
    for i in gold:
        by_pred[pred[i]].append(i)
        by_gold[gold[i]].append(i)
    p_sum = r_sum = 0.0
    for i in chosen:
        same_pred = by_pred[pred[i]]
        same_gold = by_gold[gold[i]]
        correct = sum(1 for j in same_pred if gold[j] == gold[i])
        p_sum += correct / len(same_pred)
        r_sum += correct / len(same_gold)
    n = len(chosen) or 1
    p, r = p_sum / n, r_sum / n
    # pairwise over pairs with at least one chosen item
    chosen_set = set(chosen)
    tp = fp = fn = 0
    all_items = sorted(gold)
    for a_idx, a in enumerate(all_items):
        for b in all_items[a_idx + 1 :]:
            if a not in chosen_set and b not in chosen_set:
                continue
            same_g, same_p = gold[a] == gold[b], pred[a] == pred[b]
            tp += same_g and same_p
            fp += same_p and not same_g
            fn += same_g and not same_p
    pp = tp / (tp + fp) if tp + fp else 1.0
    pr = tp / (tp + fn) if tp + fn else 1.0
    return Scores(p, r, _f1(p, r), _f1(pp, pr), len(chosen), len({pred[i] for i in chosen}))


# --- Elasticsearch scaffolding ------------------------------------------------------------------------------


def bulk_index(es: Elasticsearch, alias: str, docs: Sequence[Mapping[str, Any]], chunk: int = 500) -> None:
    for start in range(0, len(docs), chunk):
        ops: list[dict[str, Any]] = []
        for d in docs[start : start + chunk]:
            ops.append({"index": {"_index": alias, "_id": d["doc_id"]}})
            ops.append(dict(d))
        resp = es.bulk(operations=ops)
        if resp.get("errors"):
            bad = [i for i in resp["items"] if i["index"].get("error")][:3]
            raise RuntimeError(f"bulk indexing failed: {bad}")
    es.indices.refresh(index=alias)


def entity_function() -> Callable[[str, str, str], list[str]]:
    """Entity ids from ``ingest.tagging`` when it works here, else an empty list (logged once)."""
    try:
        from ingest.tagging import Tagger

        tagger = Tagger()
    except Exception as exc:
        print(f"  (no entity ids: ingest.tagging unavailable: {exc})")
        return lambda title, body, lang: []

    def entities(title: str, body: str, lang: str) -> list[str]:
        return list(tagger.tag(title=title, body=body, language=lang).entities)

    return entities


def run_stream(
    es: Elasticsearch,
    docs: Sequence[dict[str, Any]],
    options: StoryOptions,
    embedder: Embedder | None,
    name: str,
) -> tuple[dict[str, str], StoryGrouper, IndexOptions]:
    """Index ``docs`` in fresh indices, group them, return doc_id -> story_id (indices left for inspection)."""
    prefix = f"eval-stories-{uuid.uuid4().hex[:8]}-{name}"
    opts = IndexOptions(articles_alias=f"{prefix}-articles", stories_alias=f"{prefix}-stories")
    create_indices(es, opts)
    bulk_index(es, opts.articles_alias, docs)
    grouper = StoryGrouper(es, options, opts, embedder)
    assignments: list[Assignment] = grouper.assign_pending()
    mapping = {a.doc_id: a.story_id for a in assignments}
    # resolve merges that happened after an article was assigned
    es.indices.refresh(index=opts.articles_alias)
    resp = es.search(index=opts.articles_alias, size=10000, source_includes=["doc_id", "story_id"])
    for h in resp["hits"]["hits"]:
        mapping[h["_id"]] = h["_source"]["story_id"]
    return mapping, grouper, opts


def article(
    doc_id: str,
    title: str,
    body: str,
    language: str,
    published: str,
    outlet: str,
    entities: Callable[[str, str, str], list[str]],
    lead: str = "",
) -> dict[str, Any]:
    from ingest.extraction import lead_of

    lead = lead or lead_of(body)
    return {
        "doc_id": doc_id,
        "url": f"https://eval.invalid/{doc_id}",
        "title": title,
        "lead": lead,
        "body": body,
        "language": language,
        "outlet": outlet,
        "published_at": published,
        "entities": entities(title, body, language),
    }


# --- corpora --------------------------------------------------------------------------------------------------


def seed_article(entities: Callable[[str, str, str], list[str]], published: str) -> dict[str, Any] | None:
    path = shared_dir() / "seed-article" / "sony-hack-de-2014.txt"
    if not path.exists():
        return None
    text = path.read_text("utf-8").strip()
    text = re.sub(r"^date\s+\S+\s+", "", text)  # header line, not part of the article
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return article(SEED_ID, first, text, "de", published, "seed", entities)


def sample_docs(entities: Callable[[str, str, str], list[str]]) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    manifest = PROJECT_ROOT / "seeds" / "sample" / "manifest.toml"
    if not manifest.exists():
        return None
    from ingest.extraction import extract

    data = tomllib.loads(manifest.read_text("utf-8"))
    docs, gold = [], {}
    for entry in data.get("article", []):
        if entry.get("status", 200) != 200:
            continue
        page = manifest.parent / str(entry.get("file") or entry["path"]).lstrip("/")
        if not page.exists():
            continue
        html = page.read_text("utf-8", errors="replace")
        ex = extract(html, url=f"https://sample.invalid/{entry['path']}")
        doc_id = re.sub(r"[^\w.-]", "_", str(entry["path"]).strip("/"))
        published = ex.published.isoformat() if ex.published else str(entry["published"])
        title = ex.title or str(entry.get("title", ""))
        docs.append(
            article(
                doc_id, title, ex.body, ex.language or entry["language"], published, entry["outlet"], entities, ex.lead
            )
        )
        gold[doc_id] = str(entry["story"])
    return docs, gold


def wikiref_docs(
    entities: Callable[[str, str, str], list[str]], seed: int = 220
) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    folder = shared_dir() / "eval" / "wikiref-news-topic-clusters" / "WikiRef220"
    if not folder.exists():
        return None
    files = sorted(p.name for p in folder.glob("*.txt"))
    random.Random(seed).shuffle(files)
    start = datetime(2016, 1, 1, tzinfo=UTC)
    docs, gold = [], {}
    for i, name in enumerate(files):
        text = (folder / name).read_text("utf-8", errors="replace").strip()
        label = re.sub(r"( \(\d+\))?(\.\d+)?\.txt$", "", name)
        title, _, body = text.partition("\n")
        doc_id = f"wr-{i:03d}"
        published = (start + timedelta(hours=2 * i)).isoformat()
        docs.append(article(doc_id, title.strip(), body.strip() or title, "en", published, "wikiref", entities))
        gold[doc_id] = label
    return docs, gold


def casie_docs(entities: Callable[[str, str, str], list[str]], limit: int | None) -> list[dict[str, Any]] | None:
    folder = shared_dir() / "eval" / "casie-cyberattack-events" / "data" / "source"
    if not folder.exists():
        return None
    docs = []
    for path in sorted(folder.glob("*.txt")):
        raw = path.read_text("utf-8", errors="replace")

        def tag(name: str, raw: str = raw) -> str:
            m = re.search(rf"<{name}>(.*?)</{name}>", raw, re.S)
            return m.group(1).strip() if m else ""

        date = tag("date").replace("_", "-")
        try:
            published = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC).isoformat()
        except ValueError:
            continue
        url = tag("source")
        outlet = re.sub(r"^https?://(www\.)?", "", url).split("/")[0]
        docs.append(article(f"casie-{path.stem}", tag("title"), tag("text"), "en", published, outlet, entities))
    docs.sort(key=lambda d: (d["published_at"], d["doc_id"]))
    return docs[:limit] if limit else docs


# --- main ----------------------------------------------------------------------------------------------------


def _fmt(s: Scores) -> str:
    return (
        f"B3 P={s.precision:.3f} R={s.recall:.3f} F1={s.f1:.3f}  pairwise F1={s.pair_f1:.3f}  "
        f"({s.items} docs, {s.clusters} stories)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--es-url", default=os.environ.get("NEWS_INDEX_ES_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--no-embeddings", action="store_true", help="terms and entities only")
    parser.add_argument("--casie-limit", type=int, default=None, help="only the first N CASIE articles")
    parser.add_argument("--skip-casie", action="store_true")
    parser.add_argument("--skip-wikiref", action="store_true")
    parser.add_argument("--wikiref-seed", type=int, default=220, help="shuffle seed of the WikiRef stream order")
    parser.add_argument("--keep", action="store_true", help="keep the eval indices for inspection")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s %(message)s"
    )

    es = Elasticsearch(args.es_url, request_timeout=60)
    # NEWS_STORIES_<FIELD> variables override the defaults, as in the pipeline
    base = options_from_env(StoryOptions, "NEWS_STORIES_", os.environ)
    options = replace(base, use_embeddings=base.use_embeddings and not args.no_embeddings)
    embedder = default_embedder(options.use_embeddings)
    print(
        f"story grouping evaluation; embeddings: {'multilingual-e5-small' if embedder else 'off'}; options: {options}"
    )
    entities = entity_function()
    created: list[IndexOptions] = []
    results = {
        "sample_sony_b3_f1": float("nan"),
        "wikiref_event_b3_f1": float("nan"),
        "wikiref_b3_precision": float("nan"),
    }
    try:
        # (a) sample corpus + seed
        sample = sample_docs(entities)
        seed = seed_article(entities, SEED_PUBLISHED)
        if sample is None:
            print("\n(a) sample corpus: seeds/sample/manifest.toml not built yet: skipped")
        else:
            docs, gold = sample
            if seed is not None:
                docs.append(seed)
                gold[SEED_ID] = "sony-hack"
            t0 = time.perf_counter()
            pred, grouper, opts = run_stream(es, docs, options, embedder, "sample")
            created.append(opts)
            sony = [d for d, g in gold.items() if g == "sony-hack"]
            all_scores, sony_scores = bcubed(gold, pred), bcubed(gold, pred, sony)
            print(f"\n(a) sample corpus: {len(docs)} articles in {time.perf_counter() - t0:.1f}s")
            print(f"  all labels: {_fmt(all_scores)}")
            print(f"  sony-hack:  {_fmt(sony_scores)}")
            sony_story = Counter(pred[d] for d in sony).most_common(1)[0][0]
            outsiders = [d for d, s in pred.items() if s == sony_story and gold[d] != "sony-hack"]
            print(
                f"  Sony story {sony_story}: {sum(1 for d in sony if pred[d] == sony_story)}/{len(sony)} Sony pieces, "
                f"{len(outsiders)} distractors {outsiders}"
            )
            if seed is not None:
                print(f"  seed article joined the Sony story: {pred[SEED_ID] == sony_story} ({pred[SEED_ID]})")
            results["sample_sony_b3_f1"] = sony_scores.f1
            print(f"  ES requests/article {grouper.stats.queries_per_article:.2f}, merges {grouper.stats.merges}")
            if seed is not None:
                header = seed_article(entities, "2018-07-01T00:00:00+00:00")
                assert header is not None
                pred2, _, opts2 = run_stream(es, [*docs[:-1], header], options, embedder, "seeddate")
                created.append(opts2)
                print(
                    f"  (with the file header's date 2018-07 the seed lands in {pred2[SEED_ID]}: "
                    f"{'Sony story' if pred2[SEED_ID] == pred2[sony[0]] else 'its own story, outside the time window'})"
                )

        # (b) WikiRef220
        wiki = None if args.skip_wikiref else wikiref_docs(entities, args.wikiref_seed)
        if wiki is None:
            print(
                "\n(b) WikiRef220: skipped" + ("" if args.skip_wikiref else " (not found under the shared directory)")
            )
        else:
            docs, gold = wiki
            t0 = time.perf_counter()
            pred, grouper, opts = run_stream(es, docs, options, embedder, "wikiref")
            created.append(opts)
            overall = bcubed(gold, pred)
            events = bcubed(gold, pred, [d for d, g in gold.items() if g in EVENT_LABELS])
            print(
                f"\n(b) WikiRef220: {len(docs)} articles in {time.perf_counter() - t0:.1f}s "
                f"(order: sorted file names shuffled with seed {args.wikiref_seed}, dates 2016-01-01 + 2h each)"
            )
            print(f"  all 220:      {_fmt(overall)}")
            print(f"  event labels: {_fmt(events)}")
            for label in sorted(set(gold.values())):
                members = [d for d, g in gold.items() if g == label]
                stories = Counter(pred[d] for d in members)
                mixed = {s: sorted({gold[d] for d, p in pred.items() if p == s} - {label}) for s in stories}
                mixed = {s: m for s, m in mixed.items() if m}
                print(
                    f"  {label:28s} {len(members):3d} docs -> {len(stories):2d} stories, "
                    f"largest {stories.most_common(1)[0][1]:3d}"
                    + (f"; mixed with {sorted({x for m in mixed.values() for x in m})}" if mixed else "")
                )
            results["wikiref_event_b3_f1"] = events.f1
            results["wikiref_b3_precision"] = overall.precision
            print(f"  ES requests/article {grouper.stats.queries_per_article:.2f}, merges {grouper.stats.merges}")

        # (c) CASIE
        casie = None if args.skip_casie else casie_docs(entities, args.casie_limit)
        if casie is None:
            print("\n(c) CASIE: skipped")
        else:
            t0 = time.perf_counter()
            pred, grouper, opts = run_stream(es, casie, options, embedder, "casie")
            created.append(opts)
            sizes = Counter(pred.values())
            by_id = {d["doc_id"]: d for d in casie}
            hist = Counter(min(n, 10) for n in sizes.values())
            print(
                f"\n(c) CASIE: {len(casie)} articles -> {len(sizes)} stories in {time.perf_counter() - t0:.1f}s; "
                f"size histogram {{size: stories}} {dict(sorted(hist.items()))} (10 = 10+)"
            )
            lat = sorted(grouper.stats.latencies)
            if lat:
                print(
                    f"  grouping latency median {1000 * lat[len(lat) // 2]:.0f} ms, "
                    f"p95 {1000 * lat[int(len(lat) * 0.95)]:.0f} ms; "
                    f"ES requests/article {grouper.stats.queries_per_article:.2f}, merges {grouper.stats.merges}"
                )
            for sid, n in sizes.most_common(5):
                members = sorted((d for d, s in pred.items() if s == sid), key=lambda d: by_id[d]["published_at"])
                print(
                    f"  story {sid} ({n} articles, {by_id[members[0]]['published_at'][:10]} .. "
                    f"{by_id[members[-1]]['published_at'][:10]}):"
                )
                for d in members[:8]:
                    print(f"     {by_id[d]['published_at'][:10]}  {by_id[d]['title'][:100]}")
    finally:
        if not args.keep:
            for opts in created:
                drop_indices(es, opts)
        es.close()
    print(" ".join(f"{k}={v:.3f}" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
