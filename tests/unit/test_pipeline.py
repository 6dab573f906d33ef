"""Pure parts of the pipeline: mode resolution, reports, summaries, environment options."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import PipelineOptions
from ingest.errors import ConfigurationError, FetchError
from ingest.pipeline import BatchReport, resolve_mode, summarize

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("mode", "run_type", "expected"),
    [
        ("auto", "scheduled", "live"),
        ("auto", "manual", "live"),
        ("auto", "backfill", "replay"),
        ("live", "backfill", "live"),
        ("replay", "manual", "replay"),
    ],
)
def test_mode_resolution(mode: str, run_type: str, expected: str) -> None:
    assert resolve_mode(mode, run_type=run_type) == expected


def test_unknown_mode_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        resolve_mode("sometimes", run_type=None)


def test_skips_are_counted_by_stage_and_reason() -> None:
    report = BatchReport()
    report.skip(FetchError("HTTP 404", reason="http_404", url="http://a.example/1"), stage="page")
    report.skip(FetchError("HTTP 404", reason="http_404", url="http://a.example/2"), stage="page")
    report.skip(FetchError("timed out", reason="timeout", url="http://b.example/feed"), stage="feed")
    out = report.as_dict()
    assert out["skipped"] == {"feed:timeout": 1, "page:http_404": 2}
    assert [e["url"] for e in out["errors"]] == ["http://a.example/1", "http://a.example/2", "http://b.example/feed"]


def test_summary_adds_up_batches() -> None:
    a = BatchReport(feeds=2, created=3, skipped={"page:http_404": 1}).as_dict()  # type: ignore[arg-type]
    b = BatchReport(feeds=1, created=1, updated=2, skipped={"page:http_404": 1, "feed:timeout": 1}).as_dict()  # type: ignore[arg-type]
    total = summarize([a, b], {"assigned": 4})
    assert total["batches"] == 2
    assert (total["feeds"], total["created"], total["updated"]) == (3, 4, 2)
    assert total["skipped"] == {"feed:timeout": 1, "page:http_404": 2}
    assert total["stories"] == {"assigned": 4}


def test_every_option_can_come_from_the_environment(tmp_path: Path) -> None:
    options = PipelineOptions.from_env(
        {
            "NEWS_FEEDS_FEEDS_FILE": str(tmp_path / "feeds.toml"),
            "NEWS_FETCH_ALLOW_HOSTS": "127.0.0.1, 10.0.0.0/8",
            "NEWS_FETCH_RESPECT_ROBOTS": "no",
            "NEWS_FETCH_MAX_BYTES": "1000",
            "NEWS_STORIES_EVIDENCE_JOIN_THRESHOLD": "0.4",
            "NEWS_INDEX_ARTICLES_ALIAS": "staging-articles",
        }
    )
    assert options.feeds.feeds_file == tmp_path / "feeds.toml"
    assert options.fetch.allow_hosts == ("127.0.0.1", "10.0.0.0/8")
    assert options.fetch.respect_robots is False
    assert options.fetch.max_bytes == 1000
    assert options.stories.evidence.join_threshold == 0.4
    assert options.index.articles_alias == "staging-articles"
    assert options.index.stories_alias == "news-stories"  # untouched default


def test_bad_environment_values_are_reported_by_name() -> None:
    with pytest.raises(ConfigurationError, match="NEWS_FETCH_MAX_BYTES"):
        PipelineOptions.from_env({"NEWS_FETCH_MAX_BYTES": "ten"})
    with pytest.raises(ConfigurationError, match="NEWS_FETCH_RESPECT_ROBOTS"):
        PipelineOptions.from_env({"NEWS_FETCH_RESPECT_ROBOTS": "maybe"})
