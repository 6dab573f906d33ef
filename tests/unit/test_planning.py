"""Planning a backfill window with the instants Airflow hands over (pendulum DateTimes)."""

from __future__ import annotations

from datetime import UTC, datetime

import pendulum
import pytest

from ingest.config import PipelineOptions
from ingest.pipeline.planning import plan_window

pytestmark = pytest.mark.unit


def test_a_backfill_day_from_airflows_pendulum_interval_is_four_chunks() -> None:
    start = pendulum.datetime(2014, 11, 25, tz="UTC")
    specs = plan_window(start, start.add(days=1), PipelineOptions(), by="publish")
    assert [(s["start"], s["end"]) for s in specs] == [
        ("2014-11-25T00:00:00+00:00", "2014-11-25T06:00:00+00:00"),
        ("2014-11-25T06:00:00+00:00", "2014-11-25T12:00:00+00:00"),
        ("2014-11-25T12:00:00+00:00", "2014-11-25T18:00:00+00:00"),
        ("2014-11-25T18:00:00+00:00", "2014-11-26T00:00:00+00:00"),
    ]
    assert all(s["by"] == "publish" for s in specs)
    stdlib = plan_window(datetime(2014, 11, 25, tzinfo=UTC), datetime(2014, 11, 26, tzinfo=UTC), PipelineOptions())
    assert [(s["start"], s["end"]) for s in stdlib] == [(s["start"], s["end"]) for s in specs]


@pytest.mark.parametrize(("by", "feeds"), [("publish", ()), ("capture", ("taktrate-ticker",))])
def test_backfill_params_on_a_single_run_are_refused_in_the_forms_words(by: str, feeds: tuple[str, ...]) -> None:
    """Ops meet this in the trigger form: the message names its labels and the value to pick."""
    from ingest.errors import ConfigurationError
    from ingest.pipeline import plan_process_run

    with pytest.raises(ConfigurationError) as info:
        plan_process_run(PipelineOptions(), run_type="manual", interval=None, by=by, feeds=feeds)
    for words in ("'Window by'", "'Feeds'", "'What to derive'", "This run's data interval", "scope=interval"):
        assert words in str(info.value), words
