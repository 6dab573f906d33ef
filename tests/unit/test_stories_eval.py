"""The cross-language evaluation stream is built from the rows it labels, and keeps its labels apart from the
distractors (read from the real shared data)."""

from __future__ import annotations

from collections import Counter

import pytest

from evaluation import stories as evaluation
from tests.conftest import shared_path

pytestmark = pytest.mark.unit


def test_paris_stream_holds_the_labelled_pieces_and_apart_from_its_distractors(monkeypatch: pytest.MonkeyPatch) -> None:
    root = shared_path("eval", "10kGNAD-german-news-topics").parent.parent
    shared_path("eval", "wikiref-news-topic-clusters", "WikiRef220")
    monkeypatch.setattr(evaluation, "shared_dir", lambda: root)
    stream = evaluation.paris_stream(lambda title, body, lang: {}, distractors=20)
    assert stream is not None and stream.split == "studied"
    labels = Counter(stream.gold[d] for d in stream.items())
    assert labels == {"paris-attacks-2015": 36 + 4, "brussels-attacks-2016": 2}
    by_id = {d["doc_id"]: d for d in stream.docs}
    assert {by_id[d]["language"] for d in stream.items() if d.startswith("paris-de-")} == {"de"}
    assert len(stream.distractors) == 20 + len(evaluation.PARIS_PASSING)
    assert not stream.distractors & set(stream.items())
    assert [d["published_at"] for d in stream.docs] == sorted(d["published_at"] for d in stream.docs)
    # the pieces that name Paris only in passing are distractors, never labelled members
    assert {f"paris-de-{row:04d}" for row in evaluation.PARIS_PASSING} <= stream.distractors
    # the CASIE streams use 10kGNAD's first 120 rows: none of them is in this stream
    assert all(int(d.rsplit("-", 1)[1]) >= 120 for d in by_id if d.startswith("paris-de-"))


def test_paris_stream_refuses_a_row_that_is_not_the_labelled_article(monkeypatch: pytest.MonkeyPatch) -> None:
    root = shared_path("eval", "10kGNAD-german-news-topics").parent.parent
    shared_path("eval", "wikiref-news-topic-clusters", "WikiRef220")
    monkeypatch.setattr(evaluation, "shared_dir", lambda: root)
    row, _, label, published = evaluation.PARIS_GERMAN[0]
    digest = evaluation.PARIS_GERMAN[0][1]
    monkeypatch.setattr(evaluation, "PARIS_GERMAN", ((row + 1, digest, label, published),))
    with pytest.raises(ValueError, match="not the labelled article"):
        evaluation.paris_stream(lambda title, body, lang: {}, distractors=1)


def test_scrapinghub_streams_hold_every_labelled_story_and_split_by_story(monkeypatch: pytest.MonkeyPatch) -> None:
    root = shared_path("eval", "scrapinghub-article-extraction-benchmark").parent.parent
    monkeypatch.setattr(evaluation, "shared_dir", lambda: root)
    whole, tuning, untouched = evaluation.scrapinghub_streams(lambda title, body, lang: {})
    assert (whole.split, tuning.split, untouched.split) == ("all", "tuning", "untouched")
    labels = Counter(whole.gold[d] for d in whole.items())
    assert labels == {story: len(pages) for story, pages in evaluation.SCRAPINGHUB_STORIES.items()}
    # the halves partition the stream, and a story never spans both
    assert {d["doc_id"] for d in tuning.docs} | {d["doc_id"] for d in untouched.docs} == set(whole.gold)
    assert not {d["doc_id"] for d in tuning.docs} & {d["doc_id"] for d in untouched.docs}
    assert not {tuning.gold[d] for d in tuning.items()} & {untouched.gold[d] for d in untouched.items()}
    assert all(d["published_at"] and d["title"] for d in whole.docs)


def test_a_scrapinghub_prefix_must_name_one_page(monkeypatch: pytest.MonkeyPatch) -> None:
    root = shared_path("eval", "scrapinghub-article-extraction-benchmark").parent.parent
    monkeypatch.setattr(evaluation, "shared_dir", lambda: root)
    monkeypatch.setattr(evaluation, "SCRAPINGHUB_STORIES", {"too-wide": ("0",)})
    with pytest.raises(ValueError, match="names"):
        evaluation.scrapinghub_streams(lambda title, body, lang: {})
