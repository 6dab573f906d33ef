"""Story grouping: the scoring pieces and the evaluation metrics (no services)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from evaluation.stories import bcubed
from ingest.config import StoryOptions
from ingest.stories import (
    StoryGrouper,
    _Candidate,
    combine,
    content_terms,
    embedding_evidence,
    entity_evidence,
    idf_weights,
    lexical_evidence,
    shared_specific_mass,
    time_decay,
)

pytestmark = pytest.mark.unit
OPTS = StoryOptions()
T0 = datetime(2014, 12, 1, tzinfo=UTC)


def test_time_decay_inside_span_gentle_for_weeks_zero_beyond_window() -> None:
    assert time_decay(T0, T0 - timedelta(days=3), T0 + timedelta(days=3), OPTS) == pytest.approx(1.0)
    three_weeks = time_decay(T0 + timedelta(days=21), T0, T0, OPTS)
    assert 1.0 - OPTS.decay_weight < three_weeks < 0.9
    assert time_decay(T0 + timedelta(days=OPTS.window_days + 1), T0, T0, OPTS) == 0.0
    assert time_decay(T0 - timedelta(days=OPTS.window_days + 1), T0, T0, OPTS) == 0.0  # late arrival, old article


def test_entity_evidence_weighs_countries_less() -> None:
    story = {"company:sony": 3, "org:fbi": 2, "country:kp": 3}
    specific = entity_evidence(["company:sony", "org:fbi", "country:kp"], story, 3)
    country_only = entity_evidence(["country:kp"], story, 3)
    assert specific > 0.7
    assert country_only < 0.45
    assert entity_evidence([], story, 3) == 0.0
    assert entity_evidence(["org:nasa"], story, 3) == 0.0


def test_embedding_evidence_maps_the_narrow_e5_band() -> None:
    assert embedding_evidence(OPTS.embedding_low - 0.05, OPTS) == 0.0
    assert embedding_evidence(OPTS.embedding_high + 0.01, OPTS) == 1.0
    mid = (OPTS.embedding_low + OPTS.embedding_high) / 2
    assert embedding_evidence(mid, OPTS) == pytest.approx(0.5)


def test_combine_renormalises_over_available_evidence() -> None:
    cand = _Candidate(story={}, lexical=0.2, entities=0.9, embedding=0.8, cosine=0.9)
    with_all = combine(cand, has_entities=True, has_embedding=True, options=OPTS)
    w = OPTS.weight_lexical + OPTS.weight_entities + OPTS.weight_embedding
    expected = (0.2 * OPTS.weight_lexical + 0.9 * OPTS.weight_entities + 0.8 * OPTS.weight_embedding) / w
    assert with_all == pytest.approx(expected)
    no_gate = replace(OPTS, content_min=0.0)
    text_only = combine(cand, has_entities=False, has_embedding=False, options=no_gate)
    assert text_only == pytest.approx(0.2)
    strong_text = _Candidate(story={}, lexical=1.0)
    # off by default: strong text alone is the weighted mean; with lexical_alone it is enough by itself
    assert combine(strong_text, has_entities=True, has_embedding=True, options=OPTS) == pytest.approx(0.6)
    alone = replace(OPTS, lexical_alone=0.9)
    assert combine(strong_text, has_entities=True, has_embedding=True, options=alone) == pytest.approx(0.9)


def test_shared_entities_without_shared_content_do_not_join() -> None:
    """Same people, different matter (a president's biography vs his wife's speeches): entity evidence alone is
    not enough within one language; rare specific names shared with the story are."""
    cand = _Candidate(story={}, lexical=0.3, entities=1.0, embedding=0.4, cosine=0.87)
    assert OPTS.content_min > (0.3 + 0.4) / 2
    assert combine(cand, has_entities=True, has_embedding=True, options=OPTS) == 0.0
    rare = replace(cand, specific=OPTS.content_bypass_specific)
    assert combine(rare, has_entities=True, has_embedding=True, options=OPTS) > OPTS.join_threshold
    agreeing = replace(cand, lexical=0.4, embedding=0.6)
    assert combine(agreeing, has_entities=True, has_embedding=True, options=OPTS) > OPTS.join_threshold
    # across languages there is no lexical evidence: the two-signal rule applies instead of the content gate
    cross = replace(cand, lexical=0.0, same_language=0)
    assert combine(cross, has_entities=True, has_embedding=True, options=OPTS) > 0.0


def test_shared_specific_mass_counts_rare_non_place_entities() -> None:
    story = {"company:sony-pictures": 4, "actor:guardians-of-peace": 1, "person:barack-obama": 4, "country:kp": 4}
    article = ["company:sony-pictures", "actor:guardians-of-peace", "person:barack-obama", "country:kp", "org:x"]
    # no idf yet (small index): every shared non-place entity counts, scaled by story coverage (1 of 4 = full)
    assert shared_specific_mass(article, story, 4) == pytest.approx(3.0)
    idf = {"company:sony-pictures": 1.0, "actor:guardians-of-peace": 0.9, "person:barack-obama": 0.4}
    assert shared_specific_mass(article, story, 4, idf, rare_idf=0.8) == pytest.approx(1.9)
    assert shared_specific_mass(article, story, 8, idf, rare_idf=0.8) == pytest.approx(1.0 + 0.9 * 0.5)


def test_merge_order_is_deterministic() -> None:
    big = {"story_id": "st-b", "article_count": 5, "first_seen": "2014-12-02T00:00:00Z"}
    small = {"story_id": "st-a", "article_count": 2, "first_seen": "2014-12-01T00:00:00Z"}
    assert StoryGrouper._merge_order(big, small) == (big, small)
    assert StoryGrouper._merge_order(small, big) == (big, small)
    twin = {**big, "story_id": "st-c"}
    assert StoryGrouper._merge_order(twin, big)[0] is big


def test_content_terms_drop_stop_words_in_both_languages() -> None:
    terms = content_terms("The FBI blames North Korea for the Sony hack")
    assert {"fbi", "korea", "sony", "hack"} <= set(terms)
    assert not {"the", "for"} & set(terms)
    assert "nicht" not in content_terms("Nordkorea ist nicht für den Angriff auf Sony verantwortlich")


def test_bcubed_perfect_split_and_lumped() -> None:
    gold = {"a": "x", "b": "x", "c": "y", "d": "y"}
    perfect = bcubed(gold, {"a": "1", "b": "1", "c": "2", "d": "2"})
    assert (perfect.precision, perfect.recall, perfect.f1, perfect.pair_f1) == (1.0, 1.0, 1.0, 1.0)
    lumped = bcubed(gold, dict.fromkeys(gold, "1"))
    assert lumped.precision == pytest.approx(0.5) and lumped.recall == 1.0
    split = bcubed(gold, {k: k for k in gold})
    assert split.precision == 1.0 and split.recall == pytest.approx(0.5) and split.pair_f1 == 0.0
    only_x = bcubed(gold, {"a": "1", "b": "1", "c": "1", "d": "2"}, ["a", "b"])
    assert only_x.recall == 1.0 and only_x.precision == pytest.approx(2 / 3)


def test_options_are_overridable() -> None:
    assert replace(OPTS, join_threshold=0.9).join_threshold == 0.9


def test_distinctive_entity_overlap_counts_however_many_ids_the_article_names() -> None:
    story = {"company:sony": 4, "actor:guardians-of-peace": 4, "country:kp": 4}
    article = ["company:sony", "actor:guardians-of-peace", "country:us", "org:un", "org:fbi", "country:cn"]
    share_only = entity_evidence(article, story, 4)
    with_distinct = entity_evidence(article, story, 4, distinct_full=2.0)
    assert share_only < 0.5
    assert with_distinct == pytest.approx(1.0)
    # shared countries alone are no distinctive overlap
    assert entity_evidence(["country:kp", "country:us"], story, 4, distinct_full=2.0) == pytest.approx(
        entity_evidence(["country:kp", "country:us"], story, 4)
    )


def test_idf_weights_rare_ids_count_fully_and_need_enough_documents() -> None:
    opts = replace(OPTS, entity_idf_full=0.02, idf_floor=0.1, entity_idf_min_docs=100)
    idf = idf_weights({"country:us": 500, "company:sony": 10, "org:un": 1000}, 1000, opts)
    assert idf["company:sony"] == 1.0
    assert idf["org:un"] == pytest.approx(0.1)
    assert 0.1 < idf["country:us"] < 0.5
    assert idf_weights({"company:sony": 10}, 50, opts) == {}
    weighted = entity_evidence(["country:us", "company:sony"], {"country:us": 3}, 3, idf)
    assert weighted < entity_evidence(["country:us", "company:sony"], {"country:us": 3}, 3)


def test_lexical_evidence_needs_more_members_of_larger_stories() -> None:
    one_match = [0.25]  # one member as similar as lexical_full, the others not at all
    assert lexical_evidence(one_match, 1, OPTS) == pytest.approx(1.0)
    small, large = lexical_evidence(one_match, 3, OPTS), lexical_evidence(one_match, 36, OPTS)
    assert small == pytest.approx(1 / 3)
    assert large == pytest.approx(1 / 6)  # k = ceil(sqrt(36)) = 6
    assert lexical_evidence(one_match, 0, OPTS) == 0.0


def test_cross_language_needs_two_agreeing_signals() -> None:
    agree = _Candidate(story={}, entities=0.8, embedding=0.3, cosine=0.87, same_language=0)
    no_embedding_support = _Candidate(story={}, entities=0.9, embedding=0.0, cosine=0.80, same_language=0)
    weak_entities = _Candidate(story={}, entities=0.1, embedding=0.9, cosine=0.91, same_language=0)
    assert combine(agree, has_entities=True, has_embedding=True, options=OPTS) > OPTS.join_threshold
    assert combine(no_embedding_support, has_entities=True, has_embedding=True, options=OPTS) == 0.0
    assert combine(weak_entities, has_entities=True, has_embedding=True, options=OPTS) == 0.0
    entities_alone = _Candidate(story={}, entities=0.9, same_language=0)
    assert combine(entities_alone, has_entities=True, has_embedding=False, options=OPTS) > OPTS.join_threshold
