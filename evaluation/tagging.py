"""Tagging evaluation on real labelled news, read in place from ``../shared/eval`` (``NEWS_SHARED_DIR`` overrides).

Run ``python -m evaluation.tagging [--errors N]``. Data and labels:

* cyberattack positives: CASIE articles with at least one Databreach, Phishing or Ransom event (English);
  gold subtopics from the event types (Databreach → data_breach, Phishing → phishing, Ransom → ransomware,
  Discover/PatchVulnerability → vulnerability). CASIE articles with only vulnerability events are reported
  separately (they must get the vulnerability subtopic; they count toward neither recall nor false positives).
* cyberattack negatives: all WikiRef220 articles (English) and 10kGNAD articles outside the Web desk (German).
* geopolitics, German proxy: 10kGNAD desk ``International`` = positive, every other desk = negative.
* held-out split: a fixed 10% of the 10kGNAD articles (``HOLDOUT_SEED``) is reported on its own and left out of
  ``--errors`` dumps, so rules can be designed on the other 90% and checked on articles nobody looked at.
* geopolitics, English: WikiRef220 topics judged by hand (see ``WIKIREF_GEOPOLITICS``); topics whose coverage is
  mixed are left out of the English score.

The report ends with exactly one line ``cyberattack_recall=R cyberattack_fpr=R geopolitics_f1=R`` (R = the
German-proxy F1 for geopolitics).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from evaluation import shared_dir
from ingest.config import TaggingOptions
from ingest.tagging import Tagger, TagResult

CASIE_ATTACK = {"Databreach": "data_breach", "Phishing": "phishing", "Ransom": "ransomware"}
CASIE_VULN = {"DiscoverVulnerability", "PatchVulnerability"}
SUBTOPICS = ("data_breach", "phishing", "ransomware", "vulnerability")
#: The 10kGNAD held-out split: this share of the articles, drawn once with this seed (never change either).
HOLDOUT_SEED = 20261127
HOLDOUT_FRACTION = 0.1

#: WikiRef topic (file-name prefix) → is its coverage geopolitics? ``None`` = mixed, left out of the score.
#: Paris attacks: terrorism by the Islamic State with France's military and diplomatic response; Greek/Cypriot
#: debt crises and the Greek elections: EU/IMF/ECB negotiations between governments. MH370: an air accident whose
#: coverage mixes an international search with diplomatic friction (China-Malaysia), so mixed; Barack Obama: mixed.
WIKIREF_GEOPOLITICS: dict[str, bool | None] = {
    "ParisAttacks2015": True,
    "debt.crisis.greece": True,
    "greek.elections": True,
    "cypriot.financial.crisis": True,
    "malaysia.airlines.flight": None,
    "barack.obama": None,
    "michelle.obama": False,
    "premier.league": False,
    "samsung.galaxy.s5": False,
    "smartphone": False,
    "tohoku.earthquake.tsunami": False,
    "NBA.draft": False,
    "Rolling.Stones": False,
    "U2": False,
    "stephen.hawking": False,
    "wall.street": False,
}


@dataclass
class Doc:
    source: str  # casie / wikiref / 10kgnad
    ident: str
    language: str
    title: str
    body: str
    label: str = ""  # CASIE event set, WikiRef topic, 10kGNAD desk
    gold_subtopics: frozenset[str] = frozenset()
    cyber_gold: bool | None = None  # None = not scored for cyberattack
    geo_gold: bool | None = None  # None = not scored for geopolitics
    home: str | None = None  # the outlet's country, when known
    holdout: bool = False  # in the held-out split (reported apart, never dumped by --errors)
    result: TagResult | None = field(default=None, repr=False)


def eval_dir() -> Path:
    return shared_dir() / "eval"


# --- loaders ----------------------------------------------------------------------------------------------

_TAG = re.compile(r"<(title|text)>(.*?)</\1>", re.S)


def load_casie(root: Path) -> Iterator[Doc]:
    data = root / "casie-cyberattack-events" / "data"
    for ann_path in sorted((data / "annotation").glob("*.json"), key=lambda p: int(p.stem)):
        src = data / "source" / f"{ann_path.stem}.txt"
        if not src.exists():
            continue
        ann = json.loads(ann_path.read_text(encoding="utf-8"))
        types = {
            str(ev.get("subtype") or ev.get("type"))
            for hopper in ann.get("cyberevent", {}).get("hopper", [])
            for ev in hopper.get("events", [])
        }
        raw = src.read_text(encoding="utf-8", errors="replace")
        parts = {m.group(1): m.group(2).strip() for m in _TAG.finditer(raw)}
        gold = {CASIE_ATTACK[t] for t in types if t in CASIE_ATTACK}
        if types & CASIE_VULN:
            gold.add("vulnerability")
        is_attack = bool(types & CASIE_ATTACK.keys())
        yield Doc(
            source="casie",
            ident=ann_path.stem,
            language="en",
            title=parts.get("title", ""),
            body=parts.get("text", ""),
            label="+".join(sorted(types)),
            gold_subtopics=frozenset(gold),
            cyber_gold=True if is_attack else None,
        )


def wikiref_topic(name: str) -> str:
    if name.startswith("ParisAttacks2015"):
        return "ParisAttacks2015"
    return re.sub(r"\.\d+\.txt$", "", name)


def load_wikiref(root: Path) -> Iterator[Doc]:
    folder = root / "wikiref-news-topic-clusters" / "WikiRef220"
    for path in sorted(folder.glob("*.txt")):
        raw = path.read_text(encoding="utf-8", errors="replace").strip()
        title, _, body = raw.partition("\n")
        topic = wikiref_topic(path.name)
        yield Doc(
            source="wikiref",
            ident=path.name,
            language="en",
            title=title.strip(),
            body=body.strip(),
            label=topic,
            cyber_gold=False,
            geo_gold=WIKIREF_GEOPOLITICS.get(topic),
        )


def load_10kgnad(root: Path) -> Iterator[Doc]:
    path = root / "10kGNAD-german-news-topics" / "test.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.reader(fh, delimiter=";", quotechar="'")):
            if len(row) < 2:
                continue
            desk, text = row[0], ";".join(row[1:])
            yield Doc(
                source="10kgnad",
                ident=f"test.csv:{i + 1}",
                language="de",
                title="",
                body=text,
                label=desk,
                cyber_gold=None if desk == "Web" else False,
                geo_gold=desk == "International",
                home="at",  # DER STANDARD, Vienna
            )


def mark_holdout(docs: list[Doc], fraction: float = HOLDOUT_FRACTION, seed: int = HOLDOUT_SEED) -> None:
    """Flag a fixed random share of the 10kGNAD articles as held out (same draw on every run)."""
    idents = sorted((d.ident for d in docs if d.source == "10kgnad"), key=lambda i: int(i.rsplit(":", 1)[1]))
    chosen = set(random.Random(seed).sample(idents, round(len(idents) * fraction)))
    for d in docs:
        d.holdout = d.source == "10kgnad" and d.ident in chosen


# --- metrics ----------------------------------------------------------------------------------------------


@dataclass
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, gold: bool, pred: bool) -> None:
        if gold and pred:
            self.tp += 1
        elif gold:
            self.fn += 1
        elif pred:
            self.fp += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    def line(self) -> str:
        return (
            f"P={self.precision:.3f} R={self.recall:.3f} F1={self.f1:.3f} FPR={self.fpr:.3f} "
            f"(tp={self.tp} fp={self.fp} fn={self.fn} tn={self.tn})"
        )


def _has(doc: Doc, tag: str) -> bool:
    assert doc.result is not None
    return tag in doc.result.tags


def _subs(doc: Doc) -> set[str]:
    assert doc.result is not None
    return {s.split(".", 1)[1] for s in doc.result.subtopics if s.startswith("cyberattack.")}


def _why(doc: Doc, tag: str) -> str:
    assert doc.result is not None
    ev = doc.result.evidence.get(tag, {})
    groups = ev.get("groups", {})
    parts = []
    for name, g in groups.items():
        hits = ", ".join(list(g["hits"])[:6])
        parts.append(f"{name}[{hits}]")
    return f"conf={ev.get('confidence')} gate={ev.get('gate_met')} " + " ".join(parts)


def run(tagger: Tagger, root: Path, errors: int) -> int:
    docs: list[Doc] = []
    for loader in (load_casie, load_wikiref, load_10kgnad):
        try:
            docs.extend(loader(root))
        except FileNotFoundError as exc:
            print(f"missing data, skipped: {exc}")
    if not docs:
        print(f"no evaluation data under {root} (set NEWS_SHARED_DIR)")
        return 2
    mark_holdout(docs)

    start, cpu_start = time.perf_counter(), time.process_time()
    chars = 0
    for d in docs:
        d.result = tagger.tag(title=d.title, body=d.body, language=d.language, home_country=d.home)
        chars += len(d.title) + len(d.body)
    elapsed = max(time.perf_counter() - start, 1e-9)
    cpu = max(time.process_time() - cpu_start, 1e-9)

    counts = Counter(d.source for d in docs)
    print(f"Tagging evaluation, taxonomy {tagger.version}; data: {root}")
    print(f"documents: {dict(sorted(counts.items()))}")
    print(
        f"timing: {len(docs)} docs ({chars / 1e6:.1f} M chars) in {elapsed:.2f} s wall = "
        f"{len(docs) / elapsed:.0f} docs/s; {cpu:.2f} s CPU = {len(docs) / cpu:.0f} docs/s per core"
    )

    # -- cyberattack
    print("\n== cyberattack")
    cyber_all, cyber_lang = PRF(), {"en": PRF(), "de": PRF()}
    for d in docs:
        if d.cyber_gold is None:
            continue
        pred = _has(d, "cyberattack")
        cyber_all.add(d.cyber_gold, pred)
        cyber_lang[d.language].add(d.cyber_gold, pred)
    print(f"all      {cyber_all.line()}")
    for lang, m in cyber_lang.items():
        note = "  (no German cyber positives in the data: FPR only)" if lang == "de" else ""
        print(f"{lang}       {m.line()}{note}")
    neg_by_source: dict[str, PRF] = defaultdict(PRF)
    for d in docs:
        if d.cyber_gold is False:
            neg_by_source[f"{d.source}:{d.label}"].add(False, _has(d, "cyberattack"))
    flagged = {k: v.fp for k, v in sorted(neg_by_source.items()) if v.fp}
    print(f"false positives by source/label: {flagged or 'none'}")
    web = [d for d in docs if d.source == "10kgnad" and d.label == "Web"]
    if web:
        n = sum(_has(d, "cyberattack") for d in web)
        print(f"10kGNAD Web desk (unscored, tech news): {n}/{len(web)} tagged cyberattack")
    vuln_only = [d for d in docs if d.source == "casie" and d.cyber_gold is None]
    if vuln_only:
        got_sub = sum("vulnerability" in _subs(d) for d in vuln_only)
        got_tag = sum(_has(d, "cyberattack") for d in vuln_only)
        print(
            f"CASIE vulnerability-only ({len(vuln_only)}, unscored for the tag): vulnerability subtopic "
            f"{got_sub}/{len(vuln_only)} = {got_sub / len(vuln_only):.3f}; tagged cyberattack "
            f"{got_tag}/{len(vuln_only)} (exploitation reported or attack context)"
        )

    # -- subtopics on CASIE
    casie = [d for d in docs if d.source == "casie"]
    if casie:
        print("\n== cyberattack subtopics on CASIE (gold from event types; multi-label)")
        print(f"{'gold / predicted':<18}" + "".join(f"{s:>14}" for s in (*SUBTOPICS, "(none)")) + f"{'n':>7}")
        for gold in SUBTOPICS:
            rows = [d for d in casie if gold in d.gold_subtopics]
            cells = [sum(s in _subs(d) for d in rows) for s in SUBTOPICS]
            none = sum(not (_subs(d) & set(SUBTOPICS)) for d in rows)
            print(f"{gold:<18}" + "".join(f"{c:>14}" for c in (*cells, none)) + f"{len(rows):>7}")
        for sub in SUBTOPICS:
            m = PRF()
            for d in casie:
                m.add(sub in d.gold_subtopics, sub in _subs(d))
            print(f"{sub:<18}{m.line()}")
        other = Counter(s for d in casie for s in _subs(d) if s not in SUBTOPICS)
        print(f"other cyber subtopics assigned on CASIE (no gold): {dict(sorted(other.items()))}")

    # -- geopolitics
    print("\n== geopolitics")
    geo_lang = {"de": PRF(), "en": PRF()}
    geo_split = {False: PRF(), True: PRF()}
    for d in docs:
        if d.geo_gold is None:
            continue
        geo_lang[d.language].add(d.geo_gold, _has(d, "geopolitics"))
        if d.source == "10kgnad":
            geo_split[d.holdout].add(d.geo_gold, _has(d, "geopolitics"))
    print(f"de (10kGNAD International vs other desks, proxy) {geo_lang['de'].line()}")
    print(f"de  design split (90%)                           {geo_split[False].line()}")
    print(f"de  held-out split (10%, seed {HOLDOUT_SEED})           {geo_split[True].line()}")
    print(f"en (WikiRef topics judged by hand)               {geo_lang['en'].line()}")
    by_desk: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for d in docs:
        if d.source == "10kgnad":
            by_desk[d.label][0] += _has(d, "geopolitics")
            by_desk[d.label][1] += 1
    print("10kGNAD tagged geopolitics per desk: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(by_desk.items())))
    by_topic: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for d in docs:
        if d.source == "wikiref":
            by_topic[d.label][0] += _has(d, "geopolitics")
            by_topic[d.label][1] += 1
    print(
        "WikiRef tagged geopolitics per topic: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(by_topic.items()))
    )
    if casie:
        n = sum(_has(d, "geopolitics") for d in casie)
        print(f"CASIE tagged geopolitics (unlabelled, for reference): {n}/{len(casie)}")
    geo_subs = Counter(
        s for d in docs for s in (d.result.subtopics if d.result else ()) if s.startswith("geopolitics.")
    )
    print(f"geopolitics subtopics assigned: {dict(sorted(geo_subs.items()))}")

    if errors:
        _dump_errors(docs, errors)

    recall = cyber_all.recall
    fpr = cyber_all.fpr
    print(f"cyberattack_recall={recall:.3f} cyberattack_fpr={fpr:.3f} geopolitics_f1={geo_lang['de'].f1:.3f}")
    return 0


def _dump_errors(docs: list[Doc], n: int) -> None:
    docs = [d for d in docs if not d.holdout]
    classes = {
        "cyberattack false negatives (CASIE attack articles)": [
            (d, "cyberattack") for d in docs if d.cyber_gold is True and not _has(d, "cyberattack")
        ],
        "cyberattack false positives (negatives)": [
            (d, "cyberattack") for d in docs if d.cyber_gold is False and _has(d, "cyberattack")
        ],
        "geopolitics false positives": [
            (d, "geopolitics") for d in docs if d.geo_gold is False and _has(d, "geopolitics")
        ],
        "geopolitics false negatives": [
            (d, "geopolitics") for d in docs if d.geo_gold is True and not _has(d, "geopolitics")
        ],
    }
    for name, rows in classes.items():
        print(f"\n-- {name}: {len(rows)} (showing {min(n, len(rows))})")
        for d, tag in rows[:n]:
            text = " ".join((d.title + " | " + d.body).split())
            print(f"[{d.source} {d.ident} {d.label}] {text[:300]}")
            print(f"    {_why(d, tag)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.tagging", description=__doc__.split("\n")[0])
    parser.add_argument("--errors", type=int, default=0, metavar="N", help="dump N misclassified examples per class")
    parser.add_argument("--data", type=Path, default=None, help="evaluation folder (default: ../shared/eval)")
    args = parser.parse_args(argv)
    root = args.data or eval_dir()
    if not root.is_dir():
        print(f"evaluation data not found at {root} (set NEWS_SHARED_DIR to the folder holding eval/)")
        return 2
    return run(Tagger(TaggingOptions()), root, args.errors)


if __name__ == "__main__":
    sys.exit(main())
