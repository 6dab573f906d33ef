"""The tagger: chains the stages of :mod:`ingest.tagging` for one document and assembles its result."""

from __future__ import annotations

import dataclasses
import functools
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ingest.config import TaggingOptions
from ingest.errors import ConfigurationError
from ingest.tagging.data import load_gazetteer, load_index, load_taxonomy
from ingest.tagging.names import Name, NameFinder
from ingest.tagging.patterns import Match
from ingest.tagging.scoring import Hit, Scorer
from ingest.tagging.text import DATELINE, DATELINE_WINDOW, Doc, normalise_language, split_zones

__all__ = ["TagResult", "Tagger", "entity_ids"]

#: how far (characters) a country may stand before the title of the person acting for it ("Ungarns neuer
#: Außenminister", "the Hungarian foreign minister")
_TITLE_REACH = 40


@dataclass(frozen=True)
class TagResult:
    """What the tagger says about one document; :meth:`as_fields` gives the Elasticsearch fields."""

    tags: tuple[str, ...]
    subtopics: tuple[str, ...]
    #: canonical gazetteer ids (``country:kp``, ``org:fbi``, ``person:kim-jong-un``), sorted
    entities: tuple[str, ...]
    #: the gazetteer's display names of ``entities``, in the same order
    entity_names: tuple[str, ...]
    #: confidence per top tag (every tag of the taxonomy, set or not)
    scores: Mapping[str, float]
    evidence: Mapping[str, Any]
    taxonomy_version: str
    #: open-vocabulary names the gazetteer does not know (``name:kim jong un``), sorted; see ingest/tagging/names.py
    names: tuple[str, ...] = ()

    def as_fields(self) -> dict[str, Any]:
        return {
            "tags": list(self.tags),
            "subtopics": list(self.subtopics),
            "entities": list(self.entities),
            "entity_names": list(self.entity_names),
            "names": list(self.names),
            "tag_scores": {tag: float(score) for tag, score in self.scores.items()},
            "tag_evidence": _plain(self.evidence),
            "taxonomy_version": self.taxonomy_version,
        }


def _plain(value: Any) -> Any:
    """Deep copy into plain JSON types (dict/list/str/int/float/bool)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class Tagger:
    """Deterministic rule tagger; cheap to construct (the compiled data is cached per path)."""

    def __init__(self, options: TaggingOptions | None = None) -> None:
        self.options = options or TaggingOptions()
        self._taxonomy = load_taxonomy(Path(self.options.taxonomy_path))
        self._gazetteer = load_gazetteer(Path(self.options.entities_path))
        self._index = load_index(Path(self.options.taxonomy_path), Path(self.options.entities_path))
        self._scorer = Scorer(self._taxonomy, self._gazetteer)
        self._thresholds = {tag: self.options.threshold(tag) for tag in self._taxonomy.tags}
        unknown = sorted(set(self.options.thresholds) - set(self._taxonomy.tags))
        if unknown:
            raise ConfigurationError(f"thresholds for tags the taxonomy does not have: {unknown}")
        self._finders: dict[str, NameFinder] = {}

    @property
    def tags(self) -> tuple[str, ...]:
        """The taxonomy's top tags, in file order."""
        return self._taxonomy.tags

    @property
    def version(self) -> str:
        """Taxonomy and gazetteer versions together; recorded on every document as ``taxonomy_version``."""
        return f"{self._taxonomy.version}+entities.{self._gazetteer.version}"

    def entity_ids(self, text: str, language: str | None = None) -> tuple[str, ...]:
        """Canonical gazetteer ids mentioned in ``text`` (sorted, unique)."""
        doc = Doc({"body": text}, normalise_language(language, text))
        return tuple(sorted({h.key for h in self._scorer.entity_hits(doc, self._index[doc.lang].match(doc))}))

    def name_ids(self, text: str, language: str | None = None) -> tuple[str, ...]:
        """Open-vocabulary name ids in ``text`` (sorted, unique; gazetteer entities excluded): the ``names`` of a
        document whose body is ``text``."""
        doc = Doc({"body": text}, normalise_language(language, text))
        return tuple(sorted(n.id for n in self._names(doc, self._index[doc.lang].match(doc))))

    def tag(
        self,
        *,
        title: str,
        body: str,
        language: str | None = None,
        description: str = "",
        home_country: str | None = None,
    ) -> TagResult:
        """Tag one document. ``home_country`` (ISO alpha-2, e.g. the outlet's) overrides the configured ones."""
        tax = self._taxonomy
        codes = (home_country,) if home_country else self.options.home_countries
        home = frozenset(f"country:{c.strip().lower()}" for c in codes if c and c.strip())
        lang = normalise_language(language, f"{title}\n{description}\n{body}")
        doc = Doc(split_zones(title, body, description, tax.lead_chars), lang)
        matches = self._index[lang].match(doc)
        dateline = self._dateline(doc)
        entity_hits = self._scorer.entity_hits(doc, matches, dateline["span"])
        names = self._state_actors(doc, self._names(doc, matches), matches)
        name_hits = [
            Hit(n.id, z, s, True, actor=n.actor) for n in names for z, s in zip(n.zones, n.sentences, strict=True)
        ]
        dateline = {k: v for k, v in dateline.items() if k != "span"}
        home_dateline = bool(home and dateline["countries"] and set(dateline["countries"]) <= home)

        scores: dict[str, float] = {}
        evidence: dict[str, Any] = {"language": lang, "home": sorted(home)}
        confidences: dict[str, float] = {}
        for rule in tax.rules:
            result = self._scorer.score(rule, doc, matches, entity_hits, home, home_dateline, name_hits)
            confidences[rule.name] = result.confidence
            if rule.parent is None:
                scores[rule.name] = result.confidence
                evidence[rule.name] = result.evidence
            elif result.score > 0:
                evidence[rule.name] = result.evidence

        tags = tuple(t for t in tax.tags if confidences[t] >= self._thresholds[t])
        subtopics: list[str] = []
        for rule in tax.rules:
            if rule.parent is None:
                continue
            threshold = tax.subtopic_threshold if rule.threshold is None else rule.threshold
            if confidences[rule.name] >= threshold and (rule.standalone or rule.parent in tags):
                subtopics.append(rule.name)

        found = sorted({h.key for h in entity_hits})
        evidence["entities"] = self._scorer.entity_evidence(entity_hits)
        kept = self._top_names(names)
        if kept:
            evidence["names"] = {
                n.id: {
                    "surface": n.surface,
                    "mentions": len(n.zones),
                    **({"title": n.title} if n.title else {}),
                    **({"acts_for": n.actor} if n.actor else {}),
                }
                for n in kept[: tax.max_surfaces]
            }
        if dateline["place"]:
            evidence["dateline"] = {**dateline, "home": home_dateline}
        return TagResult(
            tags=tags,
            subtopics=tuple(subtopics),
            entities=tuple(found),
            entity_names=tuple(self._gazetteer.entities[e].name for e in found),
            scores=MappingProxyType(scores),
            evidence=evidence,
            taxonomy_version=self.version,
            names=tuple(sorted(n.id for n in kept)),
        )

    def _names(self, doc: Doc, matches: Mapping[str, list[Match]]) -> list[Name]:
        if not self.options.names:
            return []
        finder = self._finders.get(doc.lang)
        if finder is None:
            finder = self._finders[doc.lang] = NameFinder(
                doc.lang,
                common_zipf=self.options.name_common_zipf,
                rare_zipf_de=self.options.name_rare_zipf_de,
                phrase_common_zipf_de=self.options.name_phrase_common_zipf_de,
            )
        spans = sorted((m.start, m.end) for owner, ms in matches.items() if owner.startswith("entity:") for m in ms)
        covered: list[tuple[int, int]] = []
        for s, e in spans:  # merge overlapping gazetteer matches
            if covered and s < covered[-1][1]:
                covered[-1] = (covered[-1][0], max(covered[-1][1], e))
            else:
                covered.append((s, e))
        return finder.find(doc, covered)

    def _state_actors(self, doc: Doc, names: list[Name], matches: Mapping[str, list[Match]]) -> list[Name]:
        """Names introduced by a title of state office right after a country ("der ungarische Außenminister X",
        "Hungary's foreign minister X") act for that country in every sentence that names them."""
        if not any(n.political for n in names):
            return names
        entities = self._gazetteer.entities
        countries = sorted(
            (m.end, entities[m.owner.removeprefix("entity:")].actor)
            for owner, ms in matches.items()
            if owner.startswith("entity:")
            for m in ms
            if entities[owner.removeprefix("entity:")].actor.startswith("country:")
        )
        ends = [end for end, _ in countries]
        out: list[Name] = []
        for name in names:
            if name.political and name.title_at >= 0:
                k = bisect_right(ends, name.title_at) - 1
                if k >= 0:
                    end, actor = countries[k]
                    near = name.title_at - end <= _TITLE_REACH
                    if near and doc.sentence(end - 1) == doc.sentence(name.title_at):
                        name = dataclasses.replace(name, actor=actor)
            out.append(name)
        return out

    def _top_names(self, names: list[Name]) -> list[Name]:
        """The ``max_names`` most mentioned names (ties: first mentioned first)."""
        ranked = sorted(names, key=lambda n: (-len(n.zones), n.sentences[0], n.id))
        return ranked[: self.options.max_names]

    def _dateline(self, doc: Doc) -> dict[str, Any]:
        """The dateline ("Wien – ", "WASHINGTON (Reuters) - ") opening a sentence near the start of the lead, and
        the countries its places name. Where a story is filed from says whose affairs it reports."""
        start = doc.zone_starts[1]
        m = DATELINE.search(doc.cased, start, start + DATELINE_WINDOW)
        if m is None:
            return {"place": "", "countries": [], "span": (0, 0)}
        place = m.group("place")
        ids = self.entity_ids(place, doc.lang)
        countries = sorted({e for e in ids if e.startswith("country:")})
        return {"place": place, "countries": countries, "span": m.span("place")}


@functools.lru_cache(maxsize=4)
def _default_tagger(options: TaggingOptions) -> Tagger:
    return Tagger(options)


def entity_ids(text: str, language: str | None = None) -> tuple[str, ...]:
    """Canonical entity ids mentioned in ``text`` (sorted, unique), e.g. for cross-lingual story grouping."""
    return _default_tagger(TaggingOptions()).entity_ids(text, language)
