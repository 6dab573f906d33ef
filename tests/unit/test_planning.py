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
