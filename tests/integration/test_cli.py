"""The CLI as users run it (a subprocess: real exit codes, real pipes) against the real Elasticsearch with the
sample corpus indexed: search, story, summary, feed-health, replay, and every error path with its exit code."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from evaluation import netguard
from ingest.cli import ExitCode
from ingest.state import StateStore
from tests.conftest import SampleIndex

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED_TITLE = "Hackerangriff legt Netzwerk von Sony Pictures lahm"


def _env(sample: SampleIndex, **extra: str) -> dict[str, str]:
    o = sample.options
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        # the loopback-only net of tests/conftest.py, in the CLI's process too
        "PYTHONPATH": os.environ["PYTHONPATH"],
        netguard.LOG_ENV: os.environ[netguard.LOG_ENV],
        "NEWS_INDEX_ES_URL": o.index.es_url,
        "NEWS_INDEX_ARTICLES_ALIAS": o.index.articles_alias,
        "NEWS_INDEX_STORIES_ALIAS": o.index.stories_alias,
        "NEWS_STATE_PATH": str(o.state.path),
        "NEWS_FEEDS_FEEDS_FILE": str(o.feeds.feeds_file),
        "NEWS_ARCHIVE_ROOT": o.archive.root,
        "NEWS_STORIES_USE_EMBEDDINGS": "false",
    }
    return {**env, **extra}


def _cli(sample: SampleIndex, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(sample, **env),
        check=False,
    )


def _json(sample: SampleIndex, *args: str) -> Any:
    proc = _cli(sample, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _one_line_error(proc: subprocess.CompletedProcess[str], code: ExitCode, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def _seed(sample: SampleIndex) -> dict[str, Any]:
    return next(a for a in sample.manifest if a["title"] == SEED_TITLE)


# --- search ------------------------------------------------------------------------------------------------


def test_search_filters(es: Elasticsearch, sample_index: SampleIndex) -> None:
    data = _json(sample_index, "search", "--tag", "cyberattack", "--lang", "de", "--limit", "100")
    assert data["hits"] and data["total"] == len(data["hits"])
    assert all(h["language"] == "de" and "cyberattack" in h["tags"] for h in data["hits"])
    expected = es.count(
        index=sample_index.options.index.articles_alias,
        query={
            "bool": {
                "filter": [{"term": {"tags": "cyberattack"}}, {"term": {"language": "de"}}],
                "must_not": [{"term": {"is_duplicate": True}}],
            }
        },
    )["count"]
    assert data["total"] == expected
    both = _json(sample_index, "search", "--tag", "cyberattack", "--tag", "geopolitics", "--limit", "100")
    assert both["hits"] and all({"cyberattack", "geopolitics"} <= set(h["tags"]) for h in both["hits"])


def test_search_hides_duplicates_by_default(sample_index: SampleIndex) -> None:
    copy = next(a for a in sample_index.manifest if a.get("duplicate_of"))
    default = _json(sample_index, "search", "Social Security", "--limit", "100")
    everything = _json(sample_index, "search", "Social Security", "--include-duplicates", "--limit", "100")
    assert copy["url"] not in {h["url"] for h in default["hits"]}
    assert copy["url"] in {h["url"] for h in everything["hits"]}
    assert everything["total"] == default["total"] + 1


def test_search_by_date_entity_outlet_and_story(sample_index: SampleIndex) -> None:
    day = _json(sample_index, "search", "--from", "2014-12-19", "--to", "2014-12-19", "--limit", "100")
    assert day["hits"], "a date alone as --to includes that day"
    for hit in day["hits"]:
        published = datetime.fromisoformat(hit["published_at"]).astimezone(UTC)
        assert published.date() == datetime(2014, 12, 19).date(), hit
    gop = _json(sample_index, "search", "--entity", "Guardians of Peace", "--limit", "100")
    assert gop["hits"]
    assert _json(sample_index, "search", "--entity", "guardians of peace", "--limit", "100")["total"] == gop["total"]
    assert (
        _json(sample_index, "search", "--entity", "actor:guardians-of-peace", "--limit", "100")["total"] == gop["total"]
    )
    sony = _json(sample_index, "search", "--entity", "sony", "--limit", "100")
    outlet = _json(sample_index, "search", "--outlet", "taktrate", "--limit", "100")
    assert outlet["hits"] and {h["outlet"] for h in outlet["hits"]} == {"Taktrate"}
    story_id = next(h["story_id"] for h in sony["hits"] if h["title"] == SEED_TITLE)
    members = _json(sample_index, "search", "--story", story_id, "--limit", "100")
    assert members["hits"] and {h["story_id"] for h in members["hits"]} == {story_id}


def test_search_takes_tags_and_subtopics_as_analysts_type_them(sample_index: SampleIndex) -> None:
    exact = _json(sample_index, "search", "--tag", "cyberattack", "--limit", "100")
    assert exact["total"] > 0
    assert _json(sample_index, "search", "--tag", "Cyberattack", "--limit", "100")["total"] == exact["total"]
    breach = _json(sample_index, "search", "--subtopic", "cyberattack.data_breach", "--limit", "100")
    assert breach["total"] > 0
    assert _json(sample_index, "search", "--subtopic", "data_breach", "--limit", "100")["total"] == breach["total"]


def test_search_without_hits_says_so(sample_index: SampleIndex) -> None:
    proc = _cli(sample_index, "search", "zzqxv-nothing-matches-this")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("no articles match")


def test_search_prints_an_aligned_table(sample_index: SampleIndex) -> None:
    proc = _cli(sample_index, "search", "sony pictures", "--lang", "de")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if "published" in line)
    for name in ("lang", "outlet", "tags", "title", "story"):
        assert name in header
    assert "Sony" in proc.stdout and proc.stderr == ""
    widths = {len(line) for line in lines if line.startswith(("┃", "│", "┏", "┡", "└"))}
    assert len(widths) == 1, "every row of the table has the same width"


# --- story and summary --------------------------------------------------------------------------------------


def test_story_by_url_and_by_id(sample_index: SampleIndex) -> None:
    seed = _seed(sample_index)
    data = _json(sample_index, "story", seed["url"])
    assert seed["url"] in {a["url"] for a in data["articles"]}
    assert {a["language"] for a in data["articles"]} == {"en", "de"}
    proc = _cli(sample_index, "story", data["story_id"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Story {data['story_id']}: ")
    assert SEED_TITLE in proc.stdout
    # the Sony story is tagged, and its header says so (it printed "tags: -")
    assert "cyberattack" in data["story"]["tags"] and data["story"]["subtopics"]
    assert "tags: cyberattack" in proc.stdout.splitlines()[1]


def test_summary_json_counts_what_is_indexed(es: Elasticsearch, sample_index: SampleIndex) -> None:
    data = _json(sample_index, "summary")
    index = sample_index.options.index
    assert data["articles"] == es.count(index=index.articles_alias)["count"]
    assert data["with_story"] == data["articles"]
    assert data["stories"] >= 5
    assert data["language"].keys() == {"en", "de"}
    proc = _cli(sample_index, "summary")
    assert proc.returncode == 0 and proc.stdout.startswith(f"Articles: {data['articles']} ")


# --- replay -------------------------------------------------------------------------------------------------


def test_replay_says_whether_it_regrouped(sample_index: SampleIndex) -> None:
    today = datetime.now(UTC).date()
    window = ("--start", str(today - timedelta(days=1)), "--end", str(today + timedelta(days=1)))
    data = _json(sample_index, "replay", *window)
    assert data["window"]["start"].startswith(str(today - timedelta(days=1)))
    # a replay of what is indexed rebuilds the same documents: nothing created, nothing rewritten
    assert data["created"] == data["updated"] == 0 and data["unchanged"] == data["articles_built"] > 0
    assert data["stories"]["assigned"] == 0 and data["stories"]["disabled"] is False
    proc = _cli(sample_index, "replay", *window, "--no-stories")
    assert proc.returncode == 0, proc.stderr
    assert "stories: not regrouped (--no-stories)" in proc.stdout


# --- feed health ----------------------------------------------------------------------------------------------


def test_feed_health_by_name_and_the_unhealthy_exit_code(sample_index: SampleIndex, tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    shutil.copy(sample_index.options.state.path, state)
    rows = _json(sample_index, "feed-health", "--state", str(state))
    feeds_file = sample_index.options.feeds.feeds_file
    names = {line.split('"')[1] for line in feeds_file.read_text().splitlines() if line.startswith("name = ")}
    assert {r["name"] for r in rows} == names
    assert all(r["healthy"] and r["status"] == "ok" and r["last_status"] == 200 for r in rows)
    assert _cli(sample_index, "feed-health", "--state", str(state), "--fail-on-unhealthy").returncode == 0

    broken = next(r for r in rows if r["name"] == "taktrate-security")
    with StateStore(sample_index.options.state.__class__(path=state)) as store:
        for _ in range(store.options.failure_threshold):
            store.record_failure(broken["url"], "http_503: Service Unavailable", now=datetime.now(UTC))
    proc = _cli(sample_index, "feed-health", "--state", str(state), "--fail-on-unhealthy")
    assert proc.returncode == ExitCode.UNHEALTHY, proc.stderr
    first_row = next(line for line in proc.stdout.splitlines() if "taktrate-security" in line)
    assert "backing off" in first_row and "http_503" in first_row
    assert "1 unhealthy" in proc.stdout
    rows = _json(sample_index, "feed-health", "--state", str(state))
    assert rows[0]["name"] == "taktrate-security" and rows[0]["backoff_seconds"] > 0


# --- errors: one line, the right exit code --------------------------------------------------------------------


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_elasticsearch_down(sample_index: SampleIndex) -> None:
    dead = f"http://127.0.0.1:{_dead_port()}"
    for args in (("summary",), ("search", "sony"), ("story", "st-x"), ("summary", "--json")):
        proc = _cli(sample_index, *args, NEWS_INDEX_ES_URL=dead)
        _one_line_error(proc, ExitCode.ES_UNAVAILABLE, "unreachable", "Connection refused")
        assert "caused by" not in proc.stderr, "the innermost cause, not the transport's nested reprs"
        assert proc.stdout == ""


def test_missing_index(sample_index: SampleIndex) -> None:
    proc = _cli(sample_index, "search", "sony", NEWS_INDEX_ARTICLES_ALIAS="test-no-such-articles")
    _one_line_error(proc, ExitCode.INDEX_MISSING, "setup-index")


def test_bad_configuration(sample_index: SampleIndex) -> None:
    proc = _cli(sample_index, "summary", NEWS_INDEX_ES_URL="127.0.0.1:9200")
    _one_line_error(proc, ExitCode.CONFIG, "NEWS_INDEX_ES_URL='127.0.0.1:9200' is not an Elasticsearch URL")
    # an empty alias would search every index of the cluster
    proc = _cli(sample_index, "search", "sony", NEWS_INDEX_ARTICLES_ALIAS="")
    _one_line_error(proc, ExitCode.CONFIG, "NEWS_INDEX_ARTICLES_ALIAS=''")
    proc = _cli(
        sample_index, "replay", "--start", "2014-12-01", "--end", "2014-12-02", NEWS_ARCHIVE_ROOT="/nonexistent/archive"
    )
    _one_line_error(proc, ExitCode.CONFIG, "no archive at /nonexistent/archive")
    proc = _cli(sample_index, "summary", NEWS_INDEX_REQUEST_TIMEOUT="soon")
    _one_line_error(proc, ExitCode.CONFIG, "NEWS_INDEX_REQUEST_TIMEOUT='soon' is not a valid float")
    proc = _cli(sample_index, "feed-health", NEWS_FEEDS_FEEDS_FILE="/nonexistent/feeds.toml")
    _one_line_error(proc, ExitCode.CONFIG, "cannot read feed file")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("search", "--from", "2014-13-01"), "'2014-13-01' is not a date"),
        (("search", "--from", "2014-12-01", "--to", "2014-11-01"), "is not after the start"),
        (("replay", "--start", "2014-12-02", "--end", "2014-12-01"), "is not after the start"),
        (("replay", "--start", "yesterday", "--end", "2014-12-01"), "is not a date"),
        (("search", "--limit", "0"), "--limit"),
        (("search", "--no-such-option"), "No such option"),
        (("search", "--tag", "cyber"), "unknown 'cyber': did you mean cyberattack?"),
        (("search", "--subtopic", "breach"), "--subtopic: unknown 'breach'"),
        (("replay", "--start", "2014-12-01", "--end", "2014-12-02", "--stage", "bogus"), "unknown stage 'bogus'"),
        (("replay", "--start", "2014-12-01", "--end", "2014-12-02", "--stage", "index"), "at least one of"),
        (("replay", "--start", "2014-12-01", "--end", "2014-12-02", "--feed", "taktrate"), "did you mean taktrate-"),
        (("run", "--feed", "no-such-feed"), "unknown feed 'no-such-feed'"),
        (("story", " "), "give a story id"),
    ],
)
def test_bad_command_lines(sample_index: SampleIndex, args: tuple[str, ...], needle: str) -> None:
    _one_line_error(_cli(sample_index, *args), ExitCode.USAGE, needle)


def test_not_found(sample_index: SampleIndex) -> None:
    _one_line_error(_cli(sample_index, "story", "https://example.org/never-indexed"), ExitCode.NOT_FOUND, "no indexed")


def test_wrong_state_path_creates_nothing(sample_index: SampleIndex, tmp_path: Path) -> None:
    wrong = tmp_path / "typo" / "state.sqlite"
    proc = _cli(sample_index, "feed-health", "--state", str(wrong))
    _one_line_error(proc, ExitCode.CONFIG, str(wrong))
    assert not wrong.parent.exists()


@pytest.mark.parametrize(
    "args",
    [("search", "--limit", "100"), ("search", "--limit", "100", "--json"), ("summary",), ("--help",), ("search", "-h")],
)
def test_closed_pipe(sample_index: SampleIndex, args: tuple[str, ...]) -> None:
    """``news-ingest search ... | head -1``: the reader is gone before the output is written."""
    with subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(sample_index),
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert code == ExitCode.BROKEN_PIPE
    assert err.strip().splitlines() == ["error: output closed before everything was written (broken pipe)"]


def test_output_that_cannot_be_written(sample_index: SampleIndex) -> None:
    """A full disk (``/dev/full``) is one line too, not a traceback."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "ingest.cli", "--help"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(sample_index),
            timeout=120,
            check=False,
        )
    _one_line_error(proc, ExitCode.FAILED, "No space left on device")
