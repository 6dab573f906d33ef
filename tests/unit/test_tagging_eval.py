"""The tagging evaluation runs end to end on a tiny data set written here in the layout of the real one."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from evaluation import tagging as evaluation

pytestmark = pytest.mark.unit

CASIE_ARTICLES = {
    "1": ("Ransomware attack hits city hall", "Hackers encrypted the city's servers and demanded a ransom.", "Ransom"),
    "2": (
        "Phishing emails target bank customers",
        "A phishing campaign with fake login pages stole passwords.",
        "Phishing",
    ),
    "3": (
        "Vendor patches router flaw",
        "Researchers found a vulnerability; a security update fixes it.",
        "PatchVulnerability",
    ),
}


def write_dataset(root: Path) -> None:
    casie = root / "casie-cyberattack-events" / "data"
    (casie / "source").mkdir(parents=True)
    (casie / "annotation").mkdir(parents=True)
    for ident, (title, text, event) in CASIE_ARTICLES.items():
        (casie / "source" / f"{ident}.txt").write_text(
            f"<title>{title}</title>\n<source> https://example.org/{ident} </source>\n<date> 2018_01_01 </date>\n"
            f"<text>\n{text}\n</text>\n",
            encoding="utf-8",
        )
        annotation = {"cyberevent": {"hopper": [{"events": [{"type": "Attack", "subtype": event}]}]}}
        (casie / "annotation" / f"{ident}.json").write_text(json.dumps(annotation), encoding="utf-8")
    wikiref = root / "wikiref-news-topic-clusters" / "WikiRef220"
    wikiref.mkdir(parents=True)
    (wikiref / "premier.league.1.txt").write_text(
        "Late goal wins the derby\n\nThe striker's attack in stoppage time decided the match.", encoding="utf-8"
    )
    (wikiref / "debt.crisis.greece.1.txt").write_text(
        "Greece and creditors agree bailout\n\nThe European Union and the IMF agreed a bailout with Greece after "
        "talks between finance ministers of the eurozone.",
        encoding="utf-8",
    )
    gnad = root / "10kGNAD-german-news-topics"
    gnad.mkdir(parents=True)
    (gnad / "test.csv").write_text(
        "International;'Außenminister beraten über Sanktionen gegen Russland. Brüssel – Die EU-Außenminister "
        "wollen die Sanktionen gegen Moskau verlängern, sagte die Diplomatin.'\n"
        "Sport;'Rapid gewinnt das Derby. Wien – Ein später Angriff brachte den Sieg.'\n"
        "Web;'Neues Smartphone vorgestellt. Das Gerät hat eine gute Kamera.'\n",
        encoding="utf-8",
    )
    bench = root / "scrapinghub-article-extraction-benchmark"
    (bench / "html").mkdir(parents=True)
    pages = {
        "a1": ("Ministers agree sanctions on Russia", SANCTIONS_EN),
        "b2": ("Local bakery wins a prize", BAKERY_EN),
    }
    truth = {}
    for key, (title, body) in pages.items():
        html = f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        html += "".join(f"<p>{p}</p>" for p in body.split("\n")) + "</article></body></html>"
        (bench / "html" / f"{key}.html.gz").write_bytes(gzip.compress(html.encode("utf-8")))
        truth[key] = {"articleBody": body, "url": f"https://example.org/{key}"}
    (bench / "ground-truth.json").write_text(json.dumps(truth), encoding="utf-8")


SANCTIONS_EN = (
    "The foreign ministers of the European Union agreed on Monday to extend sanctions against Russia over the war in "
    "Ukraine, after talks with the United States and Britain in Brussels.\nThe sanctions target banks and energy "
    "companies, diplomats said. Moscow called the decision hostile and threatened to retaliate against the EU."
)
BAKERY_EN = (
    "A family bakery in the old town won the regional bread prize on Saturday for its rye loaf.\nThe owners said the "
    "recipe has not changed in forty years, and customers queued around the block to buy the winning bread."
)


CLOSING = re.compile(
    r"cyberattack_recall=\d\.\d{3} cyberattack_fpr=\d\.\d{3} geopolitics_f1=\d\.\d{3} "
    r"cyberattack_f1=\d\.\d{3} geopolitics_f1_de=\d\.\d{3} geopolitics_f1_en=\d\.\d{3}"
)


def test_report_on_a_tiny_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_dataset(tmp_path)
    assert evaluation.main(["--data", str(tmp_path), "--errors", "2"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert CLOSING.fullmatch(lines[-1]), lines[-1]
    assert "documents: {'10kgnad': 3, 'casie': 3, 'wikiref': 2}" in out
    assert "docs/s per core" in out
    # the fresh source is reported apart, and not in the documents the closing line counts
    assert "== fresh source, never tuned on, not in the closing line: scrapinghub pages (2 en/de)" in out
    # every figure is printed for both halves, the untouched one first
    assert "untouched  P=" in out and "tuning     P=" in out
    # the closing line is computed on the untouched half only
    docs = [
        *evaluation.load_casie(tmp_path),
        *evaluation.load_wikiref(tmp_path),
        *evaluation.load_10kgnad(tmp_path),
    ]
    evaluation.mark_splits(docs)
    untouched = {d.ident for d in docs if d.split == "untouched"}
    # --errors never shows an untouched document
    for line in lines:
        if line.startswith("["):
            assert line.split()[1] not in untouched, line


def test_loaders_read_the_real_layout(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    casie = list(evaluation.load_casie(tmp_path))
    # typed only PatchVulnerability: security news without an attack, a cyberattack negative
    assert [d.cyber_gold for d in casie] == [True, True, False]
    assert casie[0].gold_subtopics == frozenset({"ransomware"})
    assert casie[2].gold_subtopics == frozenset({"vulnerability"})
    gnad = list(evaluation.load_10kgnad(tmp_path))
    assert [(d.label, d.geo_gold, d.cyber_gold) for d in gnad] == [
        ("International", True, False),
        ("Sport", False, False),
        ("Web", False, None),
    ]
    assert gnad[0].body.startswith("Außenminister")
    topics = {d.label: d.geo_gold for d in evaluation.load_wikiref(tmp_path)}
    assert topics == {"premier.league": False, "debt.crisis.greece": True}


def test_the_fresh_source_is_read_through_the_pipelines_extraction(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    docs = {d.ident: d for d in evaluation.load_scrapinghub(tmp_path)}
    assert set(docs) == {"a1", "b2"}
    assert docs["a1"].title == "Ministers agree sanctions on Russia" and docs["a1"].language == "en"
    assert docs["a1"].body == SANCTIONS_EN  # the benchmark's gold body, not the extracted one
    assert docs["a1"].source == "scrapinghub" and docs["a1"].geo_gold is None  # unlabelled until labels apply


def test_prf() -> None:
    m = evaluation.PRF()
    for gold, pred in [(True, True), (True, False), (False, True), (False, False), (False, False)]:
        m.add(gold, pred)
    assert (m.precision, m.recall, m.f1) == (0.5, 0.5, 0.5)
    assert m.fpr == pytest.approx(1 / 3)


def test_missing_data_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluation.main(["--data", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().out


def test_split_is_a_fixed_hash_of_source_and_ident() -> None:
    def docs() -> list[evaluation.Doc]:
        gnad = [evaluation.Doc("10kgnad", f"test.csv:{i}", "de", "", "text") for i in range(1, 401)]
        return [*gnad, *(evaluation.Doc("casie", str(i), "en", "", "text") for i in range(400))]

    first, second = docs(), docs()
    evaluation.mark_splits(first)
    evaluation.mark_splits(second)
    assert [d.split for d in first] == [d.split for d in second]  # the same split every run
    for source in ("10kgnad", "casie"):
        share = sum(d.split == "untouched" for d in first if d.source == source) / 400
        assert 0.4 < share < 0.6, (source, share)  # about half of each source
    other = docs()
    evaluation.mark_splits(other, salt="another salt")
    assert [d.split for d in other] != [d.split for d in first]
    # the earlier sessions' 10 % holdout is still marked, to quantify what tuning on the rest was worth
    assert sum(d.old_holdout for d in first) == 40
    assert not any(d.old_holdout for d in first if d.source != "10kgnad")


def test_hand_labels_override_the_proxy(tmp_path: Path) -> None:
    labels = tmp_path / "labels.toml"
    labels.write_text('[10kgnad."test.csv:3"]\ncyberattack = true\n', encoding="utf-8")
    write_dataset(tmp_path)
    gnad = list(evaluation.load_10kgnad(tmp_path))
    assert evaluation.apply_labels(gnad, evaluation.load_labels(labels)) == 1
    assert [d.cyber_gold for d in gnad] == [False, False, True]


def test_fundus_loader_reads_english_and_german_pages(tmp_path: Path) -> None:
    folder = tmp_path / "fundus-parser-testdata"
    (folder / "de").mkdir(parents=True)
    (folder / "uk").mkdir(parents=True)
    pages = {
        "de/Zeitung.json": {
            "V1": {
                "title": "Außenminister beraten über Sanktionen",
                "body": {
                    "summary": ["Die Außenminister der EU wollen die Sanktionen gegen Russland verlängern."],
                    "sections": [{"headline": [], "paragraphs": ["Das sagte die Diplomatin am Montag in Brüssel."]}],
                },
            }
        },
        "uk/Paper.json": {
            "V1": {
                "title": "Ministers discuss sanctions",
                "body": {"summary": [], "sections": [{"paragraphs": ["The ministers met in Brussels on Monday."]}]},
            }
        },
    }
    for name, gold in pages.items():
        (folder / name).write_text(json.dumps(gold), encoding="utf-8")
    manifest = [
        {"country": "de", "html": "de/Zeitung.html.gz", "gold_json": "de/Zeitung.json", "gold_key": "V1"},
        {"country": "uk", "html": "uk/Paper.html.gz", "gold_json": "uk/Paper.json", "gold_key": "V1"},
    ]
    (folder / "manifest.jsonl").write_text("\n".join(json.dumps(m) for m in manifest), encoding="utf-8")
    docs = list(evaluation.load_fundus(tmp_path))
    assert [(d.ident, d.language, d.home) for d in docs] == [
        ("de/Zeitung.html.gz", "de", "de"),
        ("uk/Paper.html.gz", "en", "gb"),
    ]
    assert docs[0].description.startswith("Die Außenminister") and "Diplomatin" in docs[0].body
    assert all(d.cyber_gold is None and d.geo_gold is None for d in docs)  # scored only where hand-labelled
