"""Pure parts of the pipeline: the error boundary, reports, summaries, health, environment options."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import HealthOptions, PipelineOptions
from ingest.errors import ConfigurationError, FetchError, InternalError, StateStoreError, contain
from ingest.pipeline import BatchReport, RunUnhealthy, check_health, health_problems, summarize

pytestmark = pytest.mark.unit


def test_unhealthy_runs_are_named() -> None:
    options = HealthOptions()
    all_feeds_failed = {"feeds_polled": 8, "feeds_failed": 8, "skipped": {"feed:timeout": 8}}
    assert health_problems(all_feeds_failed, options) == ["8 of 8 feeds failed (100% > 50%)"]
    with pytest.raises(RunUnhealthy, match="8 of 8 feeds"):
        check_health(all_feeds_failed, options)
    some_pages = {"feeds_polled": 8, "pages_attempted": 10, "skipped": {"page:http_404": 2, "page:timeout": 1}}
    assert health_problems(some_pages, options) == []
    assert health_problems(some_pages, HealthOptions(max_page_failure_share=0.2)) == [
        "3 of 10 pages failed (30% > 20%)"
    ]
    extraction = {"pages_read": 4, "skipped": {"extract:extraction_timeout": 2, "derive:internal_error:KeyError": 1}}
    assert health_problems(extraction, options) == ["3 of 4 extractions failed (75% > 50%)"]
    assert health_problems({}, options) == []  # nothing attempted is not a failure


def test_contain_turns_any_item_error_into_a_skip_and_lets_infrastructure_through() -> None:
    skip = contain(KeyError("title"), url="http://a.example/1")
    assert isinstance(skip, InternalError)
    assert (skip.reason, skip.url, skip.permanent) == ("internal_error:KeyError", "http://a.example/1", False)
    page = FetchError("HTTP 404", reason="http_404")
    assert contain(page, url="http://a.example/2") is page and page.url == "http://a.example/2"
    with pytest.raises(StateStoreError):
        contain(StateStoreError("disk full"))
    with pytest.raises(KeyboardInterrupt):
        contain(KeyboardInterrupt())


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


def test_options_survive_the_trip_to_a_worker_process() -> None:
    """The extraction pool pickles the options into every worker."""
    import pickle

    options = PipelineOptions.from_env({"NEWS_TAGGING_THRESHOLDS": "cyberattack=0.6"})
    copy = pickle.loads(pickle.dumps(options))
    assert copy == options
    assert copy.tagging.threshold("cyberattack") == 0.6
    assert hash(copy.tagging) == hash(options.tagging)


@pytest.mark.parametrize("value", ["50", "-0.1", "1.5"])
def test_a_failure_share_outside_0_and_1_is_a_configuration_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.errors import ConfigurationError

    monkeypatch.setenv("NEWS_HEALTH_MAX_FEED_FAILURE_SHARE", value)
    with pytest.raises(ConfigurationError, match=r"NEWS_HEALTH_MAX_FEED_FAILURE_SHARE=.* is not a share"):
        PipelineOptions.from_env()
