"""Options for every stage, with their defaults in this one place.

Each stage takes one frozen dataclass. :class:`PipelineOptions` bundles them and can be built from the
environment: every field of every stage can be overridden by ``NEWS_<STAGE>_<FIELD>`` (for example
``NEWS_FETCH_MAX_BYTES=5000000`` or ``NEWS_INDEX_ES_URL=http://127.0.0.1:9200``). Tuples are comma separated,
booleans accept ``1/0/true/false/yes/no``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ingest.errors import ConfigurationError

logger = logging.getLogger(__name__)

#: An alias or index name Elasticsearch accepts, without wildcards, commas or a leading ``-``/``_``/``.``.
_ALIAS = re.compile(r"[a-z0-9][a-z0-9._-]*")

#: Project root when running from a checkout (``seeds/`` lives there); the wheel does not ship seeds.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
VERSION = "0.1.0"
DEFAULT_USER_AGENT = f"news-ingest/{VERSION} (news intelligence pipeline; +https://example.org/news-ingest/bot)"


@dataclass(frozen=True)
class FeedOptions:
    """Which feeds to poll and how to split them into Airflow tasks."""

    feeds_file: Path = PROJECT_ROOT / "seeds" / "feeds.toml"
    #: Feeds per mapped task instance (Airflow's max_map_length is 1024, so chunk).
    batch_size: int = 8
    #: Upper bound on entries taken from one feed document per poll.
    max_entries_per_feed: int = 300
    #: Feed documents this large or larger are parsed in a separate process with a deadline (feedparser is
    #: pure Python: up to about 2 s of CPU per MB of markup, measured, so a 20 MB document under the decoded
    #: cap held a capture task for 40 s). Smaller ones, every real feed seen, are parsed in the task itself.
    isolate_parse_above_bytes: int = 1024 * 1024
    #: Deadline of one isolated feed parse; past it the document is skipped as ``parse_timeout``. 0: none.
    parse_timeout_seconds: float = 15.0


@dataclass(frozen=True)
class FetchOptions:
    """HTTP behaviour: timeouts, limits, politeness and the SSRF guard."""

    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    #: Wall-clock cap per response, which defeats servers that trickle bytes.
    total_timeout: float = 30.0
    #: Wall-clock cap of one ``get()``: its redirect hops, retries and the waits between them together (the
    #: per-host politeness queue aside: it is this process's own). A name that is slow to resolve is not cut
    #: short (the system resolver has its own timeouts), but no request starts once the budget is spent.
    get_timeout: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    per_host_concurrency: int = 2
    #: Minimum seconds between two requests to the same host.
    per_host_delay: float = 0.25
    respect_robots: bool = True
    #: Destinations the SSRF guard lets through although they are not public (tests, the demo): ``host``,
    #: ``host:port``, ``ip[:port]``, ``[ipv6]:port``, ``cidr`` or ``[cidr]:port``. With a port, an entry admits
    #: only that host:port pair (``127.0.0.1:8765``), so a feed cannot reach the other services on the host.
    allow_hosts: tuple[str, ...] = ()
    #: Transient failures (connect errors, 502/503/504) are retried this many times with backoff.
    retries: int = 2
    retry_backoff: float = 0.5
    #: Threads fetching, extracting and tagging the new articles of one batch (per-host limits still apply).
    workers: int = 4
    #: Decoded (decompressed) body cap; a small gzip body that inflates beyond it is a "decompression_bomb".
    max_decompressed_bytes: int = 20 * 1024 * 1024
    #: 429/503 Retry-After up to this many seconds is waited out in place; longer raises "rate_limited".
    max_retry_after_wait: float = 10.0
    #: How long a host's robots.txt is cached by one fetcher.
    robots_cache_seconds: float = 3600.0
    #: Follow one same-site ``<meta http-equiv=refresh>`` interstitial of an article page ...
    follow_meta_refresh: bool = True
    #: ... when its delay is at most this many seconds (longer ones are page reloads, not interstitials).
    meta_refresh_max_delay: float = 10.0


@dataclass(frozen=True)
class StateOptions:
    """The durable polling state: validators, content hashes, feed health, seen articles."""

    path: Path = PROJECT_ROOT / "var" / "state.sqlite"
    #: After this many consecutive failures a feed is backed off exponentially.
    failure_threshold: int = 3
    max_backoff_seconds: float = 6 * 3600.0
    #: First backoff after reaching the failure threshold; doubles with every further failure.
    backoff_base_seconds: float = 300.0
    #: Upper bound on the wait a feed's Cache-Control max-age / <ttl> / Retry-After can impose.
    max_poll_interval_seconds: float = 24 * 3600.0
    #: SQLite busy timeout: how long a writer waits for another process's lock.
    busy_timeout_seconds: float = 30.0
    #: Retry queue for pages that failed transiently: after this many failed attempts the page is quarantined.
    retry_max_attempts: int = 5
    #: Wait before the first retry; doubles with every further failure, capped at ``retry_max_seconds``.
    retry_base_seconds: float = 900.0
    retry_max_seconds: float = 12 * 3600.0
    #: How many due retries one batch takes (``StateStore.due_retries(now, limit)``).
    retry_batch_size: int = 50


@dataclass(frozen=True)
class ArchiveOptions:
    """Where raw captures go: a local folder or any fsspec URL (s3://, gs://, ...)."""

    root: str = str(PROJECT_ROOT / "var" / "archive")
    #: A writer starts a new WARC file after this many bytes (and whenever the fetch hour changes).
    max_file_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class ExtractionOptions:
    """trafilatura settings and the per-page budget (chosen by ``make eval-extraction`` and ``make bench``)."""

    favor_precision: bool = False
    #: Skip trafilatura's fallback extractors (readability, jusText) and their comparison: ~20 % less CPU per page.
    #: Measured by make eval-extraction: scrapinghub body F1 0.961 (fallbacks: 0.959; precision mode with
    #: fallbacks, the earlier default: 0.959), fundus body F1 0.943 (0.952; 0.949).
    fast: bool = True
    include_comments: bool = False
    #: Cut the outlet's name from the title ("… - Golem.de", "… | CBC News") and from bylines beside a person's
    #: (:mod:`ingest.metadata`): fundus gold title agreement 0.795 -> 0.868, bylines 0.767 -> 0.798 (on the half no
    #: rule was chosen on: titles 0.759 -> 0.847, bylines 0.766 -> 0.774).
    clean_metadata: bool = True
    #: Pages whose extracted body is shorter than this are skipped as "no article".
    min_body_chars: int = 150
    #: Budget per page. trafilatura's XPath passes grow superlinearly with the element count (a 2 MB page of
    #: inline tags took 157 s), so a page over the size or element budget is skipped as "extraction_too_large"
    #: before it is parsed, and one that still takes longer than ``timeout_seconds`` is killed with its worker
    #: process and skipped as "extraction_timeout".
    max_html_bytes: int = 4 * 1024 * 1024
    max_elements: int = 60_000
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class ProcessOptions:
    """Deriving documents from the archive: the worker pool that extracts, tags and builds them."""

    #: Worker processes (extraction is CPU-bound and trafilatura's compiled XPath objects are not safe to share
    #: between threads). 0 = one per CPU core.
    workers: int = 0
    #: A worker is replaced after this many pages, which bounds the memory trafilatura/lxml may leak.
    max_pages_per_worker: int = 500
    #: Pages handed to the pool ahead of the one being collected (per worker): keeps every core busy while
    #: the parent indexes.
    prefetch_per_worker: int = 8
    #: Documents are deduplicated and bulk-indexed in groups of this many, in a background thread while the
    #: workers derive the next group (bounded memory on a day's replay; indexing overlaps extraction).
    index_batch: int = 200
    #: Fan-out of one processing run: a window is split into chunks of this many hours (one mapped task each).
    chunk_hours: int = 6


@dataclass(frozen=True)
class HealthOptions:
    """When a run is not green: failures beyond these shares of what was attempted fail the run's check."""

    max_feed_failure_share: float = 0.5
    max_page_failure_share: float = 0.5
    max_extraction_failure_share: float = 0.5

    def __post_init__(self) -> None:
        # A share above 1 (a percentage typed as 50) would keep every run green for ever: refuse it.
        for name in ("max_feed_failure_share", "max_page_failure_share", "max_extraction_failure_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigurationError(f"NEWS_HEALTH_{name.upper()}={value!r} is not a share between 0 and 1")


#: Confidence at which each tag is set (tags missing here use ``TaggingOptions.default_threshold``).
DEFAULT_TAG_THRESHOLDS: Mapping[str, float] = types.MappingProxyType({"cyberattack": 0.5, "geopolitics": 0.5})


@dataclass(frozen=True)
class TaggingOptions:
    """Taxonomy and gazetteer files, one threshold per tag, and the open-vocabulary name finder.

    A tag is set when its confidence reaches its threshold; the tags themselves are the taxonomy's ``[tags.*]``
    tables, so a new tag is one table there (plus, optionally, one entry in ``thresholds``). From the
    environment: ``NEWS_TAGGING_THRESHOLDS=cyberattack=0.6,geopolitics=0.5``.
    """

    taxonomy_path: Path = DATA_DIR / "taxonomy.toml"
    entities_path: Path = DATA_DIR / "entities.toml"
    thresholds: Mapping[str, float] = field(default_factory=lambda: DEFAULT_TAG_THRESHOLDS)
    default_threshold: float = 0.5
    #: ISO 3166 alpha-2 codes of the audience's own country (e.g. ``at`` for an Austrian outlet): politics there is
    #: domestic, politics elsewhere counts toward geopolitics. Empty = no country is domestic or foreign.
    home_countries: tuple[str, ...] = ()
    #: Open-vocabulary names (the ``names`` field): capitalised words and phrases scored against word-frequency
    #: lists (see ingest/tagging/names.py). At most ``max_names`` per document, the most mentioned first.
    names: bool = True
    max_names: int = 30
    #: zipf frequency (log10 per billion words + 9; "the" is about 7.7) from which a word is a common word
    name_common_zipf: float = 5.0
    #: German capitalises every noun: a single German word is a name only when rarer than this
    name_rare_zipf_de: float = 3.0
    #: a German phrase whose words are all at least this common is no name ("Ende Juni")
    name_phrase_common_zipf_de: float = 4.6

    def threshold(self, tag: str) -> float:
        return float(self.thresholds.get(tag, self.default_threshold))

    def __hash__(self) -> int:  # the mapping field is not hashable; its items are
        values = [getattr(self, f.name) for f in dataclasses.fields(self)]
        return hash(tuple(tuple(sorted(v.items())) if isinstance(v, Mapping) else v for v in values))

    # Options travel to the extraction worker processes: a read-only mapping is pickled as a plain dict.
    def __getstate__(self) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in self.__dict__.items()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, types.MappingProxyType(value) if isinstance(value, dict) else value)


@dataclass(frozen=True)
class StoryEvidenceOptions:
    """How an article is scored against a story (pure maths: ingest/stories/evidence.py).

    Within one language: ``score = (w_lex * lexical + w_keys * keys) / (w_lex + w_keys)`` times the conflict
    factor (different victims/places in title and lead) and the time factor. Across languages (judged per
    language pair): embedding evidence, confirmed by shared language-independent keys or strong alone.
    """

    #: Minimum score to join a story (else the article founds a new one).
    join_threshold: float = 0.4
    #: An article scoring at least this against two stories merges them (the smaller into the larger).
    merge_threshold: float = 0.7
    #: ... or, when it scores at least join_threshold against both, the two stories themselves (the smaller seen as
    #: one article: its centroid, the keys a share of its members name) score at least this against each other.
    #: Above 1: off.
    merge_pair_threshold: float = 0.6
    weight_lexical: float = 0.65
    weight_keys: float = 0.35
    #: TF-IDF cosine to the story's centroid (in the article's language) that counts as full lexical evidence.
    lexical_full: float = 0.6
    #: Within one language a join needs lexical evidence of at least this (shared entities alone say who is
    #: involved, not that it is the same matter), unless the shared distinctive keys weigh key_bypass or more.
    lexical_min: float = 0.15
    key_bypass: float = 2.5
    #: Without a shared distinctive key (a victim, a product, a person: see distinctive_idf) the lexical
    #: evidence alone must reach this: same-vocabulary pieces about different incidents stay apart.
    lexical_alone: float = 0.5
    #: A key carried by this share of a story's members counts fully for it (less: proportionally).
    key_share_full: float = 0.34
    #: Pseudo-weight added to the article's key mass (an article with one shared key is not "all keys shared").
    key_prior: float = 1.0
    #: Key evidence is also at least (summed weight of shared distinctive keys) / key_distinct_full: three shared
    #: specific names (a studio, a hacker group, a film) are full evidence however many other names an article has.
    key_distinct_full: float = 3.0
    #: Weights of key kinds that say little about the event (places); everything else counts 1.
    weight_country: float = 0.25
    weight_region: float = 0.25
    weight_city: float = 0.6
    #: Conflict: the article's distinctive title/lead keys (victims, targets, places) and the story's prominent
    #: ones are both present and disjoint: the score is multiplied by this.
    conflict_factor: float = 0.6
    #: Subject conflict: the article's title and lead name none of the story's subjects (the distinctive keys most
    #: of its members' titles name), while they name distinctive keys of their own: the score is multiplied by this.
    subject_conflict_factor: float = 0.6
    #: A subject is named in the titles of at least prominent_share of the members and at least this many: one
    #: title often names its event differently (tuning streams: 1 split same-event pairs).
    subject_min_members: int = 2
    #: A distinctive key has at least this idf weight (0..1 scale, see ``idf_full_share``).
    distinctive_idf: float = 0.75
    #: A story's key is prominent when at least this share of its members name it in title or lead.
    prominent_share: float = 0.5
    #: Across languages: E5 cosines sit in a narrow band; below ``embedding_low`` no evidence, from
    #: ``embedding_high`` full evidence (linear in between).
    embedding_low: float = 0.8
    embedding_high: float = 0.9
    #: Across languages a join needs key evidence of at least cross_min_keys, or a cosine of at least
    #: cross_strong_cosine (pieces that name only countries); the cross score is the weighted mean below.
    cross_min_keys: float = 0.2
    cross_strong_cosine: float = 0.885
    #: Without a vector on either side (no model, or off): across languages only shared keys can tell, with a key
    #: share of at least this and distinctive shared keys of at least cross_keys_distinctive.
    cross_keys_alone: float = 0.45
    cross_keys_distinctive: float = 1.0
    #: ... and, when the story has members in the article's language, shared keys that both sides' titles or
    #: leads name (``KeyEvidence.focused``): keys the story's members name only in passing are judged by the
    #: same-language path (lexical and keys together).
    cross_keys_alone_needs_focus: bool = True
    weight_cross_embedding: float = 0.75
    weight_cross_keys: float = 0.25
    #: Term weighting: ``idf = ln((1 + N + P) / (1 + df + P * p_background)) + 1`` over the window's articles,
    #: with P = idf_prior_docs pseudo-documents whose term probabilities come from general word frequencies
    #: (wordfreq), so the first articles of a stream are weighted sensibly and no index statistics are needed.
    idf_prior_docs: float = 200.0
    #: Key idf is scaled to 0..1: a key named by at most this share of the window's stories counts fully.
    idf_full_share: float = 0.01


@dataclass(frozen=True)
class StoryWindowOptions:
    """Which stories are candidates for an article, by time."""

    #: A story is a candidate for articles within this many days of its [first_seen, last_seen] span. 40, not 30:
    #: a one-article story takes its follow-up five weeks on (the sample corpus: the UN committee's vote on North
    #: Korea, 18 Nov, and the Security Council's first session on it, 22 Dec, in German); the time factor is 0.5
    #: there, so only strong evidence joins (CASIE tuning: the same stories, the same CPU time).
    window_days: float = 40.0
    #: Established stories (at least followup_min_articles) stay candidates for follow-ups up to followup_days
    #: after their last article, but only with a score of at least followup_threshold (strong evidence), which
    #: always suffices there (the time factor of such a story never falls below join_threshold /
    #: followup_threshold). 0.8, the bar the decay's floor had set (0.5 was written here, but 0.4 / 0.5 two weeks
    #: on made it 0.8); on the tuning streams 0.7 gave CASIE 0.814 / 0.911, 0.6 0.795 / 0.906 and 0.5 0.795 / 0.905
    #: (same-looking incidents weeks apart chained), against 0.814 / 0.912.
    followup_days: float = 120.0
    followup_min_articles: int = 3
    followup_threshold: float = 0.8
    #: Time factor inside the window: ``(1 - decay_weight) + decay_weight * exp(-gap_days / decay_days)``.
    decay_days: float = 5.0
    decay_weight: float = 0.5
    #: A published date more than this many days after the fetch time is wrong: the fetch time is used.
    future_tolerance_days: float = 2.0


@dataclass(frozen=True)
class StoryEmbeddingOptions:
    """Multilingual embeddings (ingest/embeddings.py), used for cross-language evidence only."""

    #: "cross_lingual": embed an article (in any language) only when no story in its language takes it and a
    #: candidate story with members in another language shares a key with it and could still reach the join
    #: threshold (that story's first member is embedded then, once); what a batch will probably need is embedded
    #: in one batched call first, and vectors are stored on the articles and reused. "all": embed every article.
    policy: str = "cross_lingual"
    #: ... and gives at least this key evidence (``Score.keys``). 0: any shared key, one country included (pieces
    #: that name only countries join on a strong embedding). 0.05 skips one common country among many unshared
    #: names (tuning streams: 25 % fewer embedded texts, same stories) but also a piece naming only a country
    #: that most stories of a large window name, hence off by default.
    min_key_share: float = 0.0
    #: Characters of title + lead that are embedded (speed is roughly linear in the text's tokens).
    chars: int = 300
    #: Representative members per language whose text a story keeps, embedded when first needed (the first).
    representatives: int = 1


@dataclass(frozen=True)
class StoryStoreOptions:
    """Reads and writes: batches, candidate retrieval, the writer lease."""

    #: Articles assigned in memory between two writes (one bulk + one refresh per batch).
    batch_size: int = 500
    #: Candidate stories scored per article (from shared terms, keys and vectors).
    candidates: int = 15
    #: Terms per article used to look candidates up, and terms per story indexed for that.
    query_terms: int = 25
    story_index_terms: int = 30
    #: Terms a story keeps (per language) for its centroid and document frequencies.
    story_terms: int = 200
    #: Body characters tokenized per article (title and lead always).
    body_chars: int = 3000
    #: A batch write holds the writer lease at most this long; a crashed grouper's lease expires after it.
    lease_seconds: float = 120.0
    #: How long a grouper waits for another one's batch write before giving up (retryable error).
    wait_seconds: float = 600.0
    #: Optimistic-concurrency retries when another grouper committed between our load and our write.
    conflict_retries: int = 5
    #: How many key terms / keys a story document lists (for analysts).
    max_key_terms: int = 12
    max_entities: int = 30


@dataclass(frozen=True)
class StoryOptions:
    """Online story grouping (ingest/stories/). Environment: ``NEWS_STORIES_<FIELD>`` for the top-level fields,
    ``NEWS_STORIES_<GROUP>_<FIELD>`` for the groups (e.g. ``NEWS_STORIES_EVIDENCE_JOIN_THRESHOLD=0.35``)."""

    enabled: bool = True
    use_embeddings: bool = True
    #: Fail (instead of a loud warning and grouping without vectors) when the embedding model cannot load.
    #: CI sets NEWS_STORIES_REQUIRE_EMBEDDINGS=1.
    require_embeddings: bool = False
    evidence: StoryEvidenceOptions = field(default_factory=StoryEvidenceOptions)
    window: StoryWindowOptions = field(default_factory=StoryWindowOptions)
    embedding: StoryEmbeddingOptions = field(default_factory=StoryEmbeddingOptions)
    store: StoryStoreOptions = field(default_factory=StoryStoreOptions)


@dataclass(frozen=True)
class IndexOptions:
    """Elasticsearch: where, which aliases, bulk sizing."""

    es_url: str = "http://127.0.0.1:9200"
    articles_alias: str = "news-articles"
    stories_alias: str = "news-stories"
    #: Run metrics (one document per task run, see :mod:`ingest.metrics`). Unset: derived from
    #: ``articles_alias`` (``news-articles`` -> ``news-runs``, ``test-x-articles`` -> ``test-x-runs``), so that
    #: throwaway aliases of tests and evaluations never touch the shared ``news-runs`` index.
    runs_alias: str | None = None
    #: Documents per bulk request, chosen by measurement (`make bench` on the local node: 980 / 1,313 / 1,303 docs/s
    #: at 100 / 200 / 400 in one run, 1,185 / 1,453 / 1,543 / 1,620 up to 800 in another; past 200 the runs disagree
    #: within their spread, so 200; docs/measurements.md).
    chunk_size: int = 200
    max_chunk_bytes: int = 10 * 1024 * 1024
    max_retries: int = 5
    request_timeout: float = 30.0
    refresh: bool = False

    def __post_init__(self) -> None:
        # Checked here, not at the first request: an empty alias would read (and write) every index of the
        # cluster, and a URL without scheme or host surfaces as a ValueError deep inside the client.
        url = urlsplit(self.es_url.strip())
        try:
            valid = url.scheme in ("http", "https") and bool(url.hostname) and (url.port or 1) > 0
        except ValueError:  # a port that is not a number
            valid = False
        if not valid:
            raise ConfigurationError(
                f"NEWS_INDEX_ES_URL={self.es_url!r} is not an Elasticsearch URL (expected e.g. http://127.0.0.1:9200)"
            )
        for name in ("articles_alias", "stories_alias", "runs_alias"):
            alias = getattr(self, name)
            if alias is None and name == "runs_alias":
                continue
            if not _ALIAS.fullmatch(alias or ""):
                raise ConfigurationError(
                    f"NEWS_INDEX_{name.upper()}={alias!r} is not a usable alias name (lowercase letters, digits, "
                    "'-', '_' and '.', not starting with '-', '_' or '.')"
                )

    @property
    def runs(self) -> str:
        """The run metrics alias (``runs_alias`` or the sibling of ``articles_alias``)."""
        if self.runs_alias:
            return self.runs_alias
        base = self.articles_alias
        return base[: -len("articles")] + "runs" if base.endswith("articles") else f"{base}-runs"

    @property
    def stories_clock(self) -> str:
        """The story writer clock's plain index beside the stories alias (see :mod:`ingest.stories.store`)."""
        return f"{self.stories_alias}-writer"


@dataclass(frozen=True)
class PipelineOptions:
    """All stage options together; the only object the DAG and the CLI pass around."""

    feeds: FeedOptions = field(default_factory=FeedOptions)
    fetch: FetchOptions = field(default_factory=FetchOptions)
    state: StateOptions = field(default_factory=StateOptions)
    archive: ArchiveOptions = field(default_factory=ArchiveOptions)
    extraction: ExtractionOptions = field(default_factory=ExtractionOptions)
    process: ProcessOptions = field(default_factory=ProcessOptions)
    health: HealthOptions = field(default_factory=HealthOptions)
    tagging: TaggingOptions = field(default_factory=TaggingOptions)
    stories: StoryOptions = field(default_factory=StoryOptions)
    index: IndexOptions = field(default_factory=IndexOptions)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineOptions:
        """Defaults overridden by ``NEWS_<STAGE>_<FIELD>`` variables."""
        env = os.environ if env is None else env
        parts: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            stage_cls = _stage_class(f.type)
            parts[f.name] = options_from_env(stage_cls, f"NEWS_{f.name.upper()}_", env)
        return cls(**parts)


_T = TypeVar("_T")

_STAGES: dict[str, type[Any]] = {
    c.__name__: c
    for c in (
        FeedOptions,
        FetchOptions,
        StateOptions,
        ArchiveOptions,
        ExtractionOptions,
        ProcessOptions,
        HealthOptions,
        TaggingOptions,
        StoryOptions,
        StoryEvidenceOptions,
        StoryWindowOptions,
        StoryEmbeddingOptions,
        StoryStoreOptions,
        IndexOptions,
    )
}


def _stage_class(annotation: Any) -> type[Any]:
    if isinstance(annotation, str):
        return _STAGES[annotation]
    return typing.cast(type[Any], annotation)


def options_from_env(cls: type[_T], prefix: str, env: Mapping[str, str]) -> _T:
    """Build ``cls`` with each field overridden by ``{prefix}{FIELD}`` where that variable is set; a field that is
    itself an options dataclass reads ``{prefix}{FIELD}_{SUBFIELD}``."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = prefix + f.name.upper()
        if dataclasses.is_dataclass(hints[f.name]):
            values[f.name] = options_from_env(hints[f.name], name + "_", env)
        elif name in env:
            values[f.name] = _parse(env[name], hints[f.name], name)
    known = {prefix + f.name.upper() for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for name in sorted(env):
        if name.startswith(prefix) and name not in known and not any(name.startswith(k + "_") for k in known):
            logger.warning("%s is not an option of %s (ignored; see ingest/config.py)", name, cls.__name__)
    return cls(**values)


def _parse(raw: str, hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if raw.strip() == "":
            return None
        return _parse(raw, args[0], name)
    if origin is tuple:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    if origin in (dict, Mapping):
        # "key=value,key=value"
        value_hint = typing.get_args(hint)[1] if typing.get_args(hint) else str
        pairs: dict[str, Any] = {}
        for item in (i.strip() for i in raw.split(",")):
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigurationError(f"{name}={raw!r}: expected key=value pairs separated by commas")
            pairs[key.strip()] = _parse(value.strip(), value_hint, name)
        return types.MappingProxyType(pairs)
    try:
        if hint is bool:
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
        if hint is Path:
            return Path(raw)
        return raw
    except ValueError as exc:
        raise ConfigurationError(f"{name}={raw!r} is not a valid {getattr(hint, '__name__', hint)}") from exc
