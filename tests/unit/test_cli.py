"""The CLI's input checks without Elasticsearch: tags and subtopics against the taxonomy, names against a list,
the Elasticsearch URL and alias names of ``NEWS_INDEX_*``, and the transport error message."""

from __future__ import annotations

from dataclasses import replace

import pytest
import typer
from elasticsearch import Elasticsearch
from elasticsearch import TransportError as ClientTransportError

from ingest.cli.app import _taxonomy, choices, language_codes, taxonomy_labels
from ingest.config import IndexOptions, PipelineOptions
from ingest.elastic import translate
from ingest.errors import ConfigurationError, ElasticsearchUnavailable

pytestmark = pytest.mark.unit

TAGS = ("cyberattack", "geopolitics")
SUBTOPICS = ("cyberattack.data_breach", "cyberattack.ransomware", "geopolitics.sanctions", "other.sanctions")


def test_tags_and_subtopics_in_any_case_and_by_their_last_part() -> None:
    assert taxonomy_labels(["Cyberattack", " geopolitics "], TAGS, "--tag") == TAGS
    assert taxonomy_labels(["ransomware", "CYBERATTACK.DATA_BREACH"], SUBTOPICS, "--subtopic") == (
        "cyberattack.ransomware",
        "cyberattack.data_breach",
    )


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("cyber", "did you mean cyberattack? known: cyberattack, geopolitics"),
        ("weather", "unknown 'weather': known: cyberattack, geopolitics"),
    ],
)
def test_an_unknown_tag_is_a_usage_error_naming_the_known_ones(value: str, needle: str) -> None:
    with pytest.raises(typer.BadParameter, match=r"^unknown ") as info:
        taxonomy_labels([value], TAGS, "--tag")
    assert needle in info.value.message


def test_an_ambiguous_short_subtopic_is_refused() -> None:
    with pytest.raises(typer.BadParameter, match="unknown 'sanctions'"):
        taxonomy_labels(["sanctions"], SUBTOPICS, "--subtopic")


def test_the_taxonomy_file_gives_the_known_tags_and_subtopics() -> None:
    tags, subtopics = _taxonomy(PipelineOptions())
    assert tags == TAGS
    assert "cyberattack.ransomware" in subtopics and all(s.split(".")[0] in tags for s in subtopics)


def test_choices_suggest_the_closest_names_and_shorten_long_lists() -> None:
    assert choices(["b"], ["a", "b"], "--feed", "feed") == ["b"]
    with pytest.raises(typer.BadParameter) as info:
        choices(["taktrate"], ["taktrate-ticker", "other"], "--feed", "feed")
    assert "did you mean taktrate-ticker?" in info.value.message
    many = [f"feed-{i:02d}" for i in range(30)]
    with pytest.raises(typer.BadParameter) as info:
        choices(["zzz"], many, "--feed", "feed")
    assert "... (30 in all)" in info.value.message and "feed-29" not in info.value.message


@pytest.mark.parametrize("url", ["notaurl", "127.0.0.1:9200", "http://127.0.0.1:abc", "ftp://127.0.0.1:9200", ""])
def test_an_unusable_elasticsearch_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"NEWS_INDEX_ES_URL=.* is not an Elasticsearch URL"):
        IndexOptions(es_url=url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9200", "https://user:pw@127.0.0.1:9243/", "http://localhost"])
def test_usable_elasticsearch_urls(url: str) -> None:
    assert IndexOptions(es_url=url).es_url == url


@pytest.mark.parametrize(
    ("field", "value"),
    [("articles_alias", ""), ("stories_alias", "news-*"), ("articles_alias", "News"), ("runs_alias", "_runs")],
)
def test_an_alias_that_would_address_other_indices_is_refused(field: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"NEWS_INDEX_{field.upper()}="):
        replace(IndexOptions(), **{field: value})


def test_the_environment_is_checked_when_read() -> None:
    with pytest.raises(ConfigurationError, match="NEWS_INDEX_ARTICLES_ALIAS=''"):
        PipelineOptions.from_env({"NEWS_INDEX_ARTICLES_ALIAS": ""})


def test_an_unreachable_node_is_reported_by_its_innermost_cause() -> None:
    es = Elasticsearch("http://127.0.0.1:9", max_retries=1, retry_on_timeout=False, request_timeout=2)
    with pytest.raises(ClientTransportError) as info:
        es.info()
    error = translate(info.value, "index summary")
    assert isinstance(error, ElasticsearchUnavailable)
    assert "Connection refused" in str(error) and "caused by" not in str(error), str(error)


def test_a_next_poll_in_the_past_reads_due() -> None:
    from datetime import UTC, datetime, timedelta

    from ingest.cli.output import next_poll

    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert next_poll(now - timedelta(minutes=5), now) == "due"
    assert next_poll(now + timedelta(minutes=12), now) == "in 12m"
    assert next_poll(None, now) == "-"


def test_languages_are_read_as_the_index_stores_them() -> None:
    assert language_codes(["de", " EN ", "deu", "de-AT"], "--lang") == ("de", "en", "de", "de")


@pytest.mark.parametrize("value", ["german", "xx", "", "und", "e1"])
def test_a_language_that_is_no_code_is_a_usage_error(value: str) -> None:
    with pytest.raises(typer.BadParameter, match=r"^unknown language .*ISO 639-1"):
        language_codes([value], "--lang")
