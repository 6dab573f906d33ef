"""Shared fixtures.

Airflow reads its configuration once, at first import, so the environment for it is set here, at collection
time, before any test module can import ``airflow``: a throwaway ``AIRFLOW_HOME`` with an SQLite database, the
project's ``dags/`` and ``plugins/`` folders, no examples.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from evaluation.devserver import SampleServer
    from ingest.config import IndexOptions, PipelineOptions

ROOT = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="news-ingest-airflow-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
)
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

ES_URL = os.environ.get("NEWS_INDEX_ES_URL", "http://127.0.0.1:9200")


def _loopback_only() -> Path:
    """Nothing a test does may reach an address outside 127.0.0.0/8, not even a DNS query (resolving a name such
    as ``example.invalid`` asks the system's remote resolver). :mod:`evaluation.netguard` refuses such connects
    and lookups below every library, in this process and, through ``PYTHONPATH``, in every Python process a test
    starts (Airflow, the CLI); tests that need a name resolved use a stub. Returns the file where every process
    records what it refused, which :func:`_no_traffic_outside_loopback` turns into a failure."""
    from evaluation import netguard

    netguard.install()
    log = _AIRFLOW_HOME.parent / f"news-ingest-netguard-{os.getpid()}.log"
    log.touch()
    atexit.register(log.unlink, missing_ok=True)
    os.environ[netguard.LOG_ENV] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (netguard.SITE_DIR, os.environ.get("PYTHONPATH")) if p)
    return log


NETGUARD_LOG = _loopback_only()


@pytest.fixture(autouse=True)
def _no_traffic_outside_loopback() -> Iterator[None]:
    """Fail the test during which anything (the pipeline, a library, a child process) tried to leave loopback:
    the refusal alone would look like a dead host, which the pipeline records as a skip and goes on."""
    from evaluation import netguard

    before, offset = len(netguard.attempts()), NETGUARD_LOG.stat().st_size
    yield
    tried = [f"{a.operation} {a.target}" for a in netguard.attempts()[before:]]
    with NETGUARD_LOG.open(encoding="utf-8") as fh:
        fh.seek(offset)
        tried += [line.strip() for line in fh if line.strip() and not line.startswith(f"{os.getpid()} ")]
    if tried:
        pytest.fail(f"traffic outside 127.0.0.0/8 was attempted (and refused): {tried}", pytrace=False)


#: CI sets this: a test that needs ../shared then fails instead of skipping when the data is missing.
REQUIRE_SHARED = os.environ.get("NEWS_REQUIRE_SHARED", "").strip().lower() in {"1", "true", "yes", "on"}


def shared_path(*parts: str) -> Path:
    """A path under the read-only shared data (``../shared`` or ``$NEWS_SHARED_DIR``); skip the test when it is
    missing, or fail it when ``NEWS_REQUIRE_SHARED=1`` (CI: a green run must not hide missing data)."""
    base = Path(os.environ.get("NEWS_SHARED_DIR", ROOT.parent / "shared"))
    path = base.joinpath(*parts)
    if not path.exists():
        message = f"shared data not available: {path} (set NEWS_SHARED_DIR)"
        if REQUIRE_SHARED:
            pytest.fail(f"{message}; NEWS_REQUIRE_SHARED=1 makes this a failure")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def es() -> Iterator[Elasticsearch]:
    """A client for the real local Elasticsearch (started by ``make es-start``)."""
    from elasticsearch import Elasticsearch

    client = Elasticsearch(ES_URL, request_timeout=30)
    try:
        client.cluster.health(wait_for_status="yellow", timeout="30s")
    except Exception as exc:  # a clear message instead of a stack of connection errors
        pytest.fail(f"Elasticsearch is not reachable at {ES_URL}: run `make es-start` ({exc})")
    yield client
    client.close()


@pytest.fixture
def index_options(es: Elasticsearch) -> Iterator[IndexOptions]:
    """Unique aliases for one test; their indices and templates are deleted afterwards."""
    from ingest.config import IndexOptions

    prefix = f"test-{uuid.uuid4().hex[:10]}"
    options = IndexOptions(
        es_url=ES_URL, articles_alias=f"{prefix}-articles", stories_alias=f"{prefix}-stories", refresh=True
    )
    yield options
    names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True))
    if names:  # wildcard deletes are refused (action.destructive_requires_name)
        es.indices.delete(index=",".join(names))
    for alias in (options.articles_alias, options.stories_alias, options.runs):
        es.options(ignore_status=404).indices.delete_index_template(name=f"{alias}-template")


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty ``NEWS_CACHE_DIR``, and none of its tables remembered by this process before or after."""
    from ingest import cache, extraction
    from ingest.stories import features
    from ingest.tagging import lexicon

    def forget() -> None:
        lexicon.frequencies.cache_clear()
        extraction._identifier.cache_clear()
        features._frequencies.cache_clear()

    monkeypatch.setenv(cache.ENV, str(tmp_path))
    forget()
    yield tmp_path
    forget()


@pytest.fixture
def sample_server() -> Iterator[SampleServer]:
    """The bundled sample corpus served on 127.0.0.1."""
    from evaluation.devserver import SampleServer

    with SampleServer() as server:
        yield server


@pytest.fixture
def pipeline_options(tmp_path: Path, index_options: IndexOptions, sample_server: SampleServer) -> PipelineOptions:
    """Options for a run over the sample corpus: local state, archive, feed file and the test aliases."""
    from ingest.config import PipelineOptions

    feeds_file = sample_server.render_feeds_file(tmp_path / "feeds.toml")
    base = PipelineOptions()
    return replace(
        base,
        feeds=replace(base.feeds, feeds_file=feeds_file),
        fetch=replace(base.fetch, allow_hosts=("127.0.0.1",), per_host_delay=0.0),
        state=replace(base.state, path=tmp_path / "state.sqlite"),
        archive=replace(base.archive, root=str(tmp_path / "archive")),
        index=index_options,
    )


@dataclass(frozen=True)
class SampleIndex:
    """The sample corpus indexed and grouped into stories once (per test module), under unique aliases."""

    options: PipelineOptions
    base_url: str
    #: ``[[article]]`` tables of seeds/sample/manifest.toml, with ``url`` set to the address it was served at.
    manifest: tuple[dict[str, Any], ...]


@pytest.fixture(scope="module")
def sample_index(es: Elasticsearch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleIndex]:
    """Run the pipeline over the sample corpus (live poll + story grouping) into throwaway aliases."""
    import tomllib

    from evaluation.devserver import SampleServer
    from ingest import pipeline
    from ingest.config import IndexOptions, PipelineOptions
    from ingest.feeds import load_feed_sources

    tmp = tmp_path_factory.mktemp("sample-index")
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    index = IndexOptions(
        es_url=ES_URL, articles_alias=f"{prefix}-articles", stories_alias=f"{prefix}-stories", refresh=True
    )
    base = PipelineOptions()
    try:
        with SampleServer() as server:
            feeds_file = server.render_feeds_file(tmp / "feeds.toml")
            options = replace(
                base,
                feeds=replace(base.feeds, feeds_file=feeds_file),
                fetch=replace(base.fetch, allow_hosts=("127.0.0.1",), per_host_delay=0.0),
                state=replace(base.state, path=tmp / "state.sqlite"),
                archive=replace(base.archive, root=str(tmp / "archive")),
                index=index,
            )
            pipeline.run_live(load_feed_sources(feeds_file), es, options)
            base_url = server.base_url
        pipeline.group_stories(es, options)
        es.indices.refresh(index=f"{index.articles_alias},{index.stories_alias}")
        manifest = tomllib.loads((ROOT / "seeds" / "sample" / "manifest.toml").read_text("utf-8"))["article"]
        yield SampleIndex(options, base_url, tuple({**a, "url": base_url + a["path"]} for a in manifest))
    finally:
        names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True))
        if names:
            es.indices.delete(index=",".join(names))
        for spec_alias in (index.articles_alias, index.stories_alias, index.runs):
            es.options(ignore_status=404).indices.delete_index_template(name=f"{spec_alias}-template")
