"""Evidence that an article belongs to a story: pure maths over in-memory records (no Elasticsearch).

* **Lexical** (within one language): cosine of the article's TF-IDF vector and the story's centroid in that
  language (the sum of its members' vectors: the story as a whole, never its last member, so a story cannot
  grow by chaining through its most peripheral member), over ``lexical_full``.
* **Keys** (language independent): the idf-weighted share of the article's keys (entity ids, names, CVE ids)
  that the story carries in at least ``key_share_full`` of its members; places weigh less.
* **Conflict** (tells incidents apart): the article's distinctive title/lead keys (the victim, the target, the
  place, the malware) and the story's prominent ones both exist and are disjoint, and the story's text does not name
  the article's names either: different incidents told in the same words (ransomware in Atlanta vs. in Baltimore).
  The score is multiplied by ``conflict_factor``. **Subject conflict**: the story's subjects (distinctive keys that
  most of its members' titles name, at least ``subject_min_members``) are not in the article's title or lead, and
  the article's own distinctive title/lead keys are not prominent in the story: another event that names the
  story's subject only in passing (Foxit's patches, then Adobe's); times ``subject_conflict_factor``.
* **Cross-language**, judged per language pair (a story's members in the article's language never hide its
  members in other languages): the cosine of the article's embedding and the story's embedding centroid in each
  other language, confirmed by shared keys, or strong enough alone (pieces that name only countries). Keys on this
  path include the names one side's tagger missed but its text writes, also inside compounds ("Nasa-Raumkapsel
  Orion" names ``name:nasa`` and ``name:orion``): :func:`cross_named`. Shared keys alone (no vectors needed) join
  a story that also has members in the article's language only when both sides' titles/leads name them.
* **Story pairs**: :func:`story_as_article` sees a story as one article (its centroid, the keys a share of its
  members name), so two stories can be scored against each other before they are merged.
* **Time**: a mild decay inside ``window_days``; established stories take follow-ups up to ``followup_days``
  only with a score of at least ``followup_threshold``, and with that score at any gap (:func:`time_factor`).

Term weights: ``idf = ln((1 + N + P) / (1 + df + P * p)) + 1`` where N and df count the articles of the stories in
the window (their stored document frequencies) and P pseudo-documents have the term with probability ``p`` from
general word frequencies (wordfreq). No index statistics: regrouping never depends on deleted documents.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np

from ingest.cache import fingerprint
from ingest.config import StoryEvidenceOptions, StoryWindowOptions
from ingest.embeddings import Matrix
from ingest.stories import features as _features
from ingest.stories.features import (
    PLACE_KINDS,
    ArticleFeatures,
    key_kind,
    key_named,
    key_words,
    stem,
    stem_frequencies,
    stop_words,
    text_words,
    tokens,
    zipf,
)
from ingest.stories.priors import cached_table
from ingest.stories.record import Side, Story

#: Words per document assumed when turning a word frequency into a document probability.
_DOC_WORDS = 300.0


class TermStats:
    """Document frequencies of terms and keys over the window's stories (the sum of their stored counts)."""

    def __init__(self, options: StoryEvidenceOptions) -> None:
        self.options = options
        self.df: Counter[str] = Counter()
        self.docs = 0
        #: keys count per *story*: a key that a big story's articles all name still identifies one event
        self.key_df: Counter[str] = Counter()
        self.stories = 0
        self._key_cache: dict[str, tuple[int, int, float]] = {}
        #: per language, each term's prior document frequency once looked up (the priors are fixed tables)
        self._priors: dict[str, dict[str, float]] = {}

    def add(self, story: Story) -> None:
        self.df.update(story.df)
        self.docs += story.size
        self.key_df.update(story.key_counts.keys())
        self.stories += 1

    def remove(self, story: Story) -> None:
        self.df.subtract(story.df)
        self.docs -= story.size
        for k in [k for k in story.df if self.df[k] <= 0]:
            del self.df[k]
        self.key_df.subtract(story.key_counts.keys())
        self.stories -= 1
        for k in [k for k in story.key_counts if self.key_df[k] <= 0]:
            del self.key_df[k]

    def idf(self, term: str, language: str) -> float:
        return self.idf_function(language)(term)

    def idf_function(self, language: str) -> Callable[[str], float]:
        """``idf`` for one language as a fast local function (scoring calls it for every term of every candidate)."""
        prior_df = _prior_df(language, self.options.idf_prior_docs)
        seen = self._priors.setdefault(language, {})
        df = self.df
        top = math.log(1.0 + self.docs + self.options.idf_prior_docs) + 1.0
        log = math.log

        def idf(term: str) -> float:
            prior = seen.get(term)
            if prior is None:
                prior = seen[term] = prior_df.get(term, 0.0)
            return top - log(1.0 + df.get(term, 0) + prior)

        return idf

    def key_weight(self, key: str) -> float:
        """Distinctiveness of a key in [0, 1] times the weight of its kind (places weigh less).

        Like term idf, but over the window's *stories* (a key all of one big story's articles name still points to
        one event) plus pseudo-documents; a found name (``name:...``) is named in those as often as its word is used
        in general language (``name:police`` is common).
        """
        df = self.key_df.get(key, 0)
        cached = self._key_cache.get(key)
        if cached is not None and cached[0] == self.stories and cached[1] == df:
            return cached[2]
        o = self.options
        full = math.log(1.0 / o.idf_full_share)
        prior = o.idf_prior_docs
        p = name_probability(key)
        idf = math.log((1.0 + self.stories + prior) / (1.0 + df + prior * p)) / full
        weight = min(1.0, max(0.05, idf)) * kind_weight(key, o)
        self._key_cache[key] = (self.stories, df, weight)
        return weight


@lru_cache(maxsize=64)
def _prior_df(language: str, prior_docs: float) -> Mapping[str, float]:
    """Pseudo-document frequency of each stem: ``prior_docs`` times its document probability in general language.

    Cached for many languages (~60k stems, a few MB each; building one takes 0.2-2 s): with 16, a batch of pages in
    26 languages rebuilt them 95 times, 21 of grouping's 35 CPU seconds over the 437 pages of bench_pipeline. Also
    cached on disk (:mod:`ingest.stories.priors`), so that a fresh process does not build them again."""
    if not language:
        return {}
    key = {
        "language": language,
        "prior_docs": prior_docs,
        "doc_words": _DOC_WORDS,
        "code": fingerprint(_build_prior_df, stem_frequencies, _features._frequency_bands, _features._stemmer),
        "stems": [_features._MIN_STEM_FREQUENCY, _features._STEMMERS.get(language)],
    }
    return cached_table(f"idf-prior-{language}", key, lambda: _build_prior_df(language, prior_docs))


def _build_prior_df(language: str, prior_docs: float) -> dict[str, float]:
    return {t: prior_docs * (1.0 - math.exp(-_DOC_WORDS * f)) for t, f in stem_frequencies(language).items()}


@lru_cache(maxsize=100_000)
def name_probability(key: str) -> float:
    """How likely a general-language document uses a found name's word (0 for gazetteer ids and phrases)."""
    if not key.startswith("name:") or " " in key:
        return 0.0
    word = key[5:]
    freq = max(
        10 ** (zipf(word, "en") - 9.0) if zipf(word, "en") else 0.0,
        10 ** (zipf(word, "de") - 9.0) if zipf(word, "de") else 0.0,
    )
    return 1.0 - math.exp(-_DOC_WORDS * freq)


def kind_weight(key: str, options: StoryEvidenceOptions) -> float:
    kind = key_kind(key)
    if kind == "country":
        return options.weight_country
    if kind == "region":
        return options.weight_region
    if kind == "city":
        return options.weight_city
    return 1.0


def tfidf(terms: Mapping[str, float], language: str, stats: TermStats) -> dict[str, float]:
    """``terms`` weighted by idf and L2-normalised."""
    idf = stats.idf_function(language)
    weighted = {t: w * idf(t) for t, w in terms.items()}
    norm = math.sqrt(sum(v * v for v in weighted.values()))
    return {t: v / norm for t, v in weighted.items()} if norm else {}


def lexical_cosine(
    article: Mapping[str, float], story_terms: Mapping[str, float], language: str, stats: TermStats
) -> float:
    """Cosine of the article's TF-IDF vector (already weighted) and the story side's centroid."""
    if not article or not story_terms:
        return 0.0
    idf = stats.idf_function(language)
    dot = norm = 0.0
    get = article.get
    for t, w in story_terms.items():
        x = w * idf(t)
        norm += x * x
        a = get(t)
        if a is not None:
            dot += a * x
    return dot / math.sqrt(norm) if norm else 0.0


@dataclass(frozen=True)
class KeyEvidence:
    share: float
    #: summed weight of shared distinctive (non-place) keys
    distinctive: float
    conflict: bool
    #: the part of ``distinctive`` that both the article's and the story's titles/leads name (what they are about)
    focused: float = 0.0
    #: the story's subjects (the distinctive keys most of its members' titles name) are not where the article says
    #: what it is about (its title and lead), while it has distinctive title/lead keys of its own: another event
    #: that shares names only in passing (Foxit's patches, then Adobe's, each naming the other)
    subject_conflict: bool = False


def key_evidence(
    keys: Iterable[str],
    focus: Iterable[str],
    story: Story,
    stats: TermStats,
    options: StoryEvidenceOptions,
    extra: Mapping[str, int] | None = None,
    focus_words: frozenset[str] | None = None,
) -> KeyEvidence:
    """``extra``: keys the story names only in its text (:func:`cross_named`), counted as named by that many of its
    members. ``focus_words``: the words of the article's title and lead (see :func:`subject_named`); without them
    no subject conflict is judged."""
    size = max(story.size, 1)
    key_counts: Mapping[str, int] = {**story.key_counts, **extra} if extra else story.key_counts
    total = covered = distinctive = focused = 0.0
    article_keys = set(keys)
    article_focus = set(focus)
    for k in sorted(article_keys):
        w = stats.key_weight(k)
        total += w
        count = key_counts.get(k, 0)
        if not count:
            continue
        coverage = min(1.0, count / (options.key_share_full * size))
        covered += w * coverage
        if key_kind(k) not in PLACE_KINDS and w >= options.distinctive_idf:
            distinctive += w * coverage
            if k in article_focus and story.focus_counts.get(k, 0):
                focused += w * min(1.0, story.focus_counts[k] / (options.key_share_full * size))
    share = covered / (total + options.key_prior) if total else 0.0
    if options.key_distinct_full > 0:
        share = max(share, min(1.0, distinctive / options.key_distinct_full))
    # conflict: the article's title/lead names distinctive keys (who was hit, by what, where) and the story has
    # never named any of them, neither as a key nor (names) in its text, while it has distinctive names of its own:
    # another incident, told in the same words
    mine = {k for k in focus if _distinctive(k, stats, options)}
    theirs = any(
        c >= options.prominent_share * size and _distinctive(k, stats, options) for k, c in story.focus_counts.items()
    )
    conflict = (
        bool(mine) and theirs and not (mine & set(key_counts)) and not any(_named_in_text(k, story) for k in mine)
    )
    subject = False
    if mine and focus_words is not None and not conflict:
        subjects = story_subjects(story, stats, options)
        need = options.prominent_share * size
        subject = (
            bool(subjects)
            and not any(subject_named(k, article_focus, focus_words) for k in subjects)
            and not any(story.focus_counts.get(k, 0) >= need for k in mine)
        )
    return KeyEvidence(share, distinctive, conflict, focused, subject)


def story_subjects(story: Story, stats: TermStats, options: StoryEvidenceOptions) -> list[str]:
    """The distinctive keys that at least ``prominent_share`` of the story's members name in their titles."""
    need = max(options.prominent_share * max(story.size, 1), options.subject_min_members)
    return sorted(k for k, c in story.title_counts.items() if c >= need and _distinctive(k, stats, options))


def subject_named(key: str, focus: Iterable[str], focus_words: frozenset[str]) -> bool:
    """Whether an article's title or lead names ``key``: as a key, or by all of its words (taggers write one name
    as several phrases: "City of Atlanta", "Atlanta")."""
    return key in focus or key_named(key, focus_words)


@lru_cache(maxsize=100_000)
def _name_words(key: str) -> tuple[str, ...]:
    stops = stop_words()
    return tuple(w for w in tokens(key[5:].lower()) if w not in stops) if key.startswith("name:") else ()


@lru_cache(maxsize=4096)
def _rep_words(text: str) -> frozenset[str]:
    return text_words(text)


def _names(key: str, words: frozenset[str]) -> bool:
    parts = _name_words(key)
    return bool(parts) and all(w in words for w in parts)


def cross_named(article: ArticleFeatures, story: Story) -> tuple[frozenset[str], dict[str, int]]:
    """Names shared across languages that only one side's tagger found: (the story's names that the article's
    words name, the article's names that the story's other-language sides name in their text: their first members'
    words or their terms; each counted as named by one member).

    A name is usually written the same in English and German, but German writes it into compounds
    ("Nasa-Raumkapsel Orion", "Opec-Staaten") that taggers do not report, so a pair of pieces on one event can
    share no key at all. Only open-vocabulary names (``name:...``): gazetteer ids are normalised already.
    """
    forward = frozenset(
        k for k in story.key_counts if k not in article.keys and k.startswith("name:") and _names(k, article.words)
    )
    reverse: dict[str, int] = {}
    names = [k for k in sorted(article.keys) if k.startswith("name:") and k not in story.key_counts]
    for lang, side in sorted(story.sides.items()):
        if not names or lang == article.language or not side.count:
            continue
        reps = [_rep_words(text) for _, text in side.reps]
        for k in names:
            if any(_names(k, words) for words in reps) or _side_names(k, lang, side):
                reverse[k] = 1
        names = [k for k in names if k not in reverse]
    return forward, reverse


def _named_in_text(key: str, story: Story) -> bool:
    """Whether the story's own text names an open-vocabulary name (``name:...``): every word of it is among the
    terms of one of its language sides.

    The tagging stage's names are surface phrases, at most ``TaggingOptions.max_names`` per article ("Antonis
    Samaras" here, "Samaras" there; "Parliament" a name in one piece and not listed in the next), so a name missing
    from the story's keys is no proof that the story never named it. Gazetteer ids are normalised: their absence is.
    """
    return any(_side_names(key, language, side) for language, side in story.sides.items())


def _side_names(key: str, language: str, side: Side) -> bool:
    """Whether every word of an open-vocabulary name is among the terms (stems) of one language side."""
    parts = _name_words(key)
    return bool(parts) and bool(side.terms) and all(stem(w, language) in side.terms for w in parts)


def _distinctive(key: str, stats: TermStats, options: StoryEvidenceOptions) -> bool:
    return (
        key_kind(key) != "country"
        and key_kind(key) != "region"
        and stats.key_weight(key) >= options.distinctive_idf * kind_weight(key, options)
    )


def embedding_evidence(cos: float, options: StoryEvidenceOptions) -> float:
    span = options.embedding_high - options.embedding_low
    if span <= 0:
        return 1.0 if cos >= options.embedding_high else 0.0
    return min(1.0, max(0.0, (cos - options.embedding_low) / span))


def time_gap_days(when: datetime, story: Story) -> float:
    if when > story.last_seen:
        return (when - story.last_seen).total_seconds() / 86400.0
    if when < story.first_seen:
        return (story.first_seen - when).total_seconds() / 86400.0
    return 0.0


def time_factor(
    gap: float, story: Story, options: StoryWindowOptions, *, join_threshold: float, before: bool = False
) -> tuple[float, float]:
    """(factor, minimum score): 0 outside the window. An established story (``followup_min_articles``) takes
    articles after it up to ``followup_days``, and its factor never falls below ``join_threshold /
    followup_threshold``: evidence of ``followup_threshold`` joins it however late the follow-up comes (past
    ``window_days`` nothing weaker does). Without that floor the decay's own (``1 - decay_weight``) made the bar
    ``join_threshold / (1 - decay_weight)`` two weeks on, whatever ``followup_threshold`` said."""
    w = options.decay_weight
    factor = (1.0 - w) + w * math.exp(-gap / max(options.decay_days, 1e-9))
    if not before and story.size >= options.followup_min_articles and gap <= options.followup_days:
        if options.followup_threshold > 0:
            factor = max(factor, min(1.0, join_threshold / options.followup_threshold))
        return factor, (options.followup_threshold if gap > options.window_days else 0.0)
    if gap <= options.window_days:
        return factor, 0.0
    return 0.0, 1.0


@dataclass(frozen=True)
class Score:
    """Why an article scored what it did against one story."""

    story_id: str
    score: float
    path: str  # "same" | "cross" | "none"
    lexical: float = 0.0
    keys: float = 0.0
    distinctive: float = 0.0
    conflict: bool = False
    cosine: float | None = None
    gap_days: float = 0.0
    #: key evidence on the cross-language path (names found in the other side's text too, see cross_named)
    cross_keys: float = 0.0
    #: the factor the conflicts apply to the same-language evidence (1: none; see KeyEvidence)
    conflict_factor: float = 1.0


def score(
    article: ArticleFeatures,
    weighted_terms: Mapping[str, float],
    story: Story,
    stats: TermStats,
    evidence: StoryEvidenceOptions,
    window: StoryWindowOptions,
    side_vectors: Mapping[str, Matrix] | None = None,
) -> Score:
    """The article's score against ``story`` (see the module docstring). ``side_vectors``: the story's unit
    embedding centroid per language, for the cross-language path (when the article has a vector)."""
    gap = time_gap_days(article.published, story)
    factor, minimum = time_factor(
        gap, story, window, join_threshold=evidence.join_threshold, before=article.published < story.first_seen
    )
    if factor <= 0.0:
        return Score(story.story_id, 0.0, "none", gap_days=gap)
    keys = key_evidence(
        article.keys,
        article.focus,
        story,
        stats,
        evidence,
        focus_words=article.focus_words,
    )
    conflict = conflict_factor(keys, evidence)
    same = lexical = 0.0
    side = story.sides.get(article.language)
    if side is not None and side.count and side.terms:
        lexical = min(1.0, lexical_cosine(weighted_terms, side.terms, article.language, stats) / evidence.lexical_full)
        supported = keys.focused > 0.0 or lexical >= evidence.lexical_alone
        if supported and (lexical >= evidence.lexical_min or keys.distinctive >= evidence.key_bypass):
            total = evidence.weight_lexical + evidence.weight_keys
            same = (evidence.weight_lexical * lexical + evidence.weight_keys * keys.share) / total * conflict
    cross = 0.0
    best_cos: float | None = None
    others = [lang for lang, s in story.sides.items() if lang != article.language and s.count]
    xkeys = keys
    if others:
        forward, reverse = cross_named(article, story)
        if forward or reverse:
            xkeys = key_evidence(
                article.keys | forward,
                article.focus,
                story,
                stats,
                evidence,
                reverse,
                focus_words=article.focus_words,
            )
    keys_x = xkeys.share
    conflict_x = conflict_factor(xkeys, evidence)
    own_side = side is not None and side.count > 0 and bool(side.terms)
    if (
        others
        and (xkeys.focused > 0.0 or not (own_side and evidence.cross_keys_alone_needs_focus))
        and keys_x >= evidence.cross_keys_alone
        and xkeys.distinctive >= evidence.cross_keys_distinctive
    ):
        # shared distinctive keys alone (also when there are no vectors); when the story has members in the
        # article's language, the same-language path judges keys that are mentioned in passing: here they count
        # only when both sides' titles/leads name them (a sanctions piece naming Crimea and Obama, as the
        # ruble story's members did in passing, is not the ruble story)
        cross = keys_x * conflict_x
    if article.vector is not None and side_vectors:
        for lang, vec in sorted(side_vectors.items()):
            if lang == article.language:
                continue
            cos = float(np.dot(article.vector, vec))
            best_cos = cos if best_cos is None else max(best_cos, cos)
            e = embedding_evidence(cos, evidence)
            if e <= 0.0 or (keys_x < evidence.cross_min_keys and cos < evidence.cross_strong_cosine):
                continue
            total = evidence.weight_cross_embedding + evidence.weight_cross_keys
            value = (evidence.weight_cross_embedding * e + evidence.weight_cross_keys * keys_x) / total
            cross = max(cross, value * conflict_x)
    raw = max(same, cross)
    final = raw * factor if raw >= minimum else 0.0
    path = "none" if final <= 0 else ("cross" if cross > same else "same")
    return Score(
        story.story_id,
        final,
        path,
        lexical,
        keys.share,
        keys.distinctive,
        keys.conflict,
        best_cos,
        gap,
        keys_x if others else 0.0,
        conflict,
    )


def story_as_article(story: Story, near: Story, options: StoryEvidenceOptions) -> ArticleFeatures:
    """A story seen as one article, to judge whether it and ``near`` tell one event: its main language's centroid,
    the keys at least ``key_share_full`` of its members name (its prominent title/lead keys as focus), at the time
    of its span nearest to ``near``'s. What the story as a whole says, not what one member says in passing."""
    language, side = max(story.sides.items(), key=lambda kv: (kv[1].count, kv[0] == "en", kv[0]))
    norm = math.sqrt(sum(v * v for v in side.terms.values()))
    terms = {t: v / norm for t, v in side.terms.items()} if norm else {}
    size = max(story.size, 1)
    keys = frozenset(k for k, c in story.key_counts.items() if c >= options.key_share_full * size)
    focus = frozenset(k for k, c in story.focus_counts.items() if c >= options.prominent_share * size and k in keys)
    words: set[str] = set()
    for k in focus:
        words.update(key_words(k))
    when = min(max(near.first_seen, story.first_seen), story.last_seen)
    return ArticleFeatures(
        doc_id=story.story_id,
        language=language,
        published=when,
        title=story.headline,
        terms=terms,
        keys=keys,
        focus=focus,
        surface={},
        embed_text="",
        focus_words=frozenset(words),
    )


def conflict_factor(keys: KeyEvidence, evidence: StoryEvidenceOptions) -> float:
    """The factor a conflict applies to a score (1: none)."""
    if keys.conflict:
        return evidence.conflict_factor
    if keys.subject_conflict:
        return evidence.subject_conflict_factor
    return 1.0
