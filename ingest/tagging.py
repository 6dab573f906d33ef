"""Tagging: cyberattack and geopolitics, English and German, with entities and explanations.

Everything the tagger knows lives in two versioned TOML files (``ingest/data/taxonomy.toml`` and
``ingest/data/entities.toml``); this module only interprets them. It is pure and deterministic: no network, no
Elasticsearch, no randomness; the compiled rules are cached per file path.

How a document is scored (see the taxonomy file for the numbers):

* Text is folded (accents stripped, ``ß`` → ``ss``) and cut into zones: ``title``, ``lead`` (the description, or
  the first sentences of the body when there is none) and ``body``.
* Entities are found with the gazetteer (case-insensitive aliases, plus case-sensitive ones for ambiguous short
  forms such as ``US`` or ``IS``) and mapped to language-independent ids (``country:kp``, ``org:fbi``, ...).
* Each tag and subtopic is a rule made of evidence groups (term lists and/or entity selectors). A group scores
  ``weight × zone weight × log2(1 + hits)`` per zone; a group may count only hits that share a sentence with
  another group (``near``), which is how "attack" needs a cyber context.
* A rule's score maps to a confidence ``1 - exp(-score / scale)``. A rule whose ``require`` gate is not met (e.g.
  an attack term *and* a cyber context) is capped below any sensible threshold.
* Every tag carries the terms and entities that fired, where (title/lead/body) and how often.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import tomllib
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ingest.config import TaggingOptions
from ingest.errors import ConfigurationError

logger = logging.getLogger(__name__)

TOP_TAGS: tuple[str, ...] = ("cyberattack", "geopolitics")
ZONES: tuple[str, ...] = ("title", "lead", "body")
LANGUAGES: tuple[str, ...] = ("en", "de")

__all__ = ["TOP_TAGS", "TagResult", "Tagger", "entity_ids", "fold"]

# --- text normalisation -----------------------------------------------------------------------------------

_TRANSLATE = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "’": "'",
        "‘": "'",
        "–": "-",
        "—": "-",
        "‑": "-",
        "\u00ad": None,  # soft hyphen
        "\u200b": None,
    }
)
_COMBINING = re.compile(r"[\u0300-\u036f]")


def fold(text: str) -> str:
    """Strip accents and normalise punctuation, keeping case (``Pjöngjang`` → ``Pjongjang``)."""
    text = text.translate(_TRANSLATE)
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


_SENTENCE_END = re.compile(r"(?<=[.!?:;])[\"'»«“”)]*\s+|\n\s*")
_DE_HINTS = re.compile(r"\b(?:der|die|das|und|ist|nicht|mit|von|den|ein|eine|sich|auch|auf|dass)\b")
_EN_HINTS = re.compile(r"\b(?:the|and|is|of|to|that|with|for|was|are|has|have|this|from)\b")


def guess_language(text: str) -> str:
    """Cheap en/de guess from function words (only used when the caller does not know the language)."""
    sample = text[:3000].lower()
    return "de" if len(_DE_HINTS.findall(sample)) > len(_EN_HINTS.findall(sample)) else "en"


def _normalise_language(language: str | None, text: str) -> str:
    if language:
        code = language.strip().lower().replace("_", "-").split("-", 1)[0]
        if code in LANGUAGES:
            return code
    return guess_language(text)


# --- pattern compilation ----------------------------------------------------------------------------------


def _fragment(term: str) -> str:
    """Turn one term of the data files into a regex fragment.

    Syntax: a regex fragment over folded text, anchored at a word start and a word end, except that a leading
    ``~`` drops the start anchor (compound tails: ``~angriff`` matches ``Hackerangriff``) and a trailing ``*``
    allows any word continuation (inflections: ``sanktion*``). Outside character classes a space means "one or
    more spaces or hyphens" and a hyphen means "an optional space or hyphen" (``cyber-attack`` matches
    ``cyberattack``, ``cyber attack`` and ``cyber-attack``).
    """
    term = fold(term.strip())
    infix = term.startswith("~")
    prefix = term.endswith("*") and not term.endswith("\\*")
    core = term[1:] if infix else term
    core = core[:-1] if prefix else core
    out: list[str] = []
    depth = 0
    escaped = False
    for ch in core:
        if escaped:
            out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            out.append(ch)
            escaped = True
            continue
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        if depth == 0 and ch == " ":
            out.append(r"[\s\-]+")
        elif depth == 0 and ch == "-":
            out.append(r"[\s\-]?")
        else:
            out.append(ch)
    body = "".join(out)
    try:
        compiled = re.compile(body)
    except re.error as exc:
        raise ConfigurationError(f"invalid term {term!r}: {exc}") from exc
    if compiled.groups:
        raise ConfigurationError(f"term {term!r} must use non-capturing groups (?:...)")
    start = "" if infix else r"(?<!\w)"
    end = r"\w*" if prefix else r"(?!\w)"
    return f"{start}(?:{body}){end}"


def _alternation(terms: Iterable[str]) -> str:
    # Longer fragments first so that "north korea" wins over "korea" at the same position.
    frags = sorted({_fragment(t) for t in terms}, key=lambda f: (-len(f), f))
    return "|".join(frags)


def _compile(terms: Iterable[str], *, case_sensitive: bool) -> re.Pattern[str] | None:
    pattern = _alternation(terms)
    if not pattern:
        return None
    return re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)


def _terms_for(spec: Mapping[str, Any], key: str, lang: str) -> list[str]:
    """``key`` (both languages) plus ``key_<lang>``; values are lists of strings."""
    out: list[str] = []
    for k in (key, f"{key}_{lang}"):
        value = spec.get(k, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigurationError(f"{k} must be a list of strings")
        out.extend(value)
    return out


# --- loaded data ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entity:
    id: str
    name: str
    kind: str
    roles: frozenset[str]
    also: tuple[str, ...]


@dataclass(frozen=True)
class _Gazetteer:
    version: str
    entities: Mapping[str, _Entity]
    #: per language: (case-insensitive pattern, case-sensitive pattern, group name -> entity id)
    patterns: Mapping[str, tuple[re.Pattern[str] | None, re.Pattern[str] | None, Mapping[str, str]]]


@dataclass(frozen=True)
class _Group:
    name: str
    weight: float
    #: per language: (case-insensitive, case-sensitive)
    patterns: Mapping[str, tuple[re.Pattern[str] | None, re.Pattern[str] | None]]
    entity_kinds: frozenset[str]
    entity_roles: frozenset[str]
    entity_ids: frozenset[str]
    distinct: bool
    near: tuple[str, ...]

    def selects(self, entity: _Entity) -> bool:
        return (
            entity.id in self.entity_ids
            or entity.kind in self.entity_kinds
            or bool(entity.roles & self.entity_roles)
        )


@dataclass(frozen=True)
class _Rule:
    name: str
    parent: str | None
    groups: tuple[_Group, ...]
    require: tuple[tuple[str, ...], ...]
    scale: float
    threshold: float | None
    standalone: bool


@dataclass(frozen=True)
class _Taxonomy:
    version: str
    zone_weights: Mapping[str, float]
    lead_chars: int
    ungated_cap: float
    subtopic_threshold: float
    max_surfaces: int
    rules: tuple[_Rule, ...]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"tagging data file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: invalid TOML: {exc}") from exc


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{what} must be a list of strings")
    return list(value)


@functools.lru_cache(maxsize=8)
def _load_gazetteer(path: Path) -> _Gazetteer:
    data = _read_toml(path)
    version = str(data.get("version", ""))
    if not version:
        raise ConfigurationError(f"{path}: missing version")
    raw = data.get("entity", [])
    if not isinstance(raw, list):
        raise ConfigurationError(f"{path}: [[entity]] must be an array of tables")
    entities: dict[str, _Entity] = {}
    specs: list[tuple[str, Mapping[str, Any]]] = []
    for spec in raw:
        eid = spec.get("id")
        if not isinstance(eid, str) or ":" not in eid:
            raise ConfigurationError(f"{path}: entity without a kind:id id: {spec!r}")
        if eid in entities:
            raise ConfigurationError(f"{path}: duplicate entity id {eid}")
        entities[eid] = _Entity(
            id=eid,
            name=str(spec.get("name", eid)),
            kind=eid.split(":", 1)[0],
            roles=frozenset(_str_list(spec.get("roles"), f"{eid}.roles")),
            also=tuple(_str_list(spec.get("also"), f"{eid}.also")),
        )
        specs.append((eid, spec))
    for ent in entities.values():
        for other in ent.also:
            if other not in entities:
                raise ConfigurationError(f"{path}: {ent.id} refers to unknown entity {other}")
    patterns: dict[str, tuple[re.Pattern[str] | None, re.Pattern[str] | None, Mapping[str, str]]] = {}
    for lang in LANGUAGES:
        names: dict[str, str] = {}
        ci_parts: list[tuple[str, str]] = []
        cs_parts: list[tuple[str, str]] = []
        for eid, spec in specs:
            for key, parts in (("aliases", ci_parts), ("cs_aliases", cs_parts)):
                for alias in _terms_for(spec, key, lang):
                    gname = f"e{len(names)}"
                    names[gname] = eid
                    parts.append((gname, _fragment(alias)))

        def build(parts: list[tuple[str, str]], flags: int) -> re.Pattern[str] | None:
            if not parts:
                return None
            ordered = sorted(parts, key=lambda p: (-len(p[1]), p[1]))
            return re.compile("|".join(f"(?P<{g}>{frag})" for g, frag in ordered), flags)

        patterns[lang] = (build(ci_parts, re.IGNORECASE), build(cs_parts, 0), MappingProxyType(names))
    logger.debug("loaded %s entities (version %s) from %s", len(entities), version, path)
    return _Gazetteer(version=version, entities=MappingProxyType(entities), patterns=MappingProxyType(patterns))


def _parse_group(name: str, spec: Mapping[str, Any], where: str) -> _Group:
    pats: dict[str, tuple[re.Pattern[str] | None, re.Pattern[str] | None]] = {}
    for lang in LANGUAGES:
        pats[lang] = (
            _compile(_terms_for(spec, "terms", lang), case_sensitive=False),
            _compile(_terms_for(spec, "cs_terms", lang), case_sensitive=True),
        )
    return _Group(
        name=name,
        weight=float(spec.get("weight", 1.0)),
        patterns=MappingProxyType(pats),
        entity_kinds=frozenset(_str_list(spec.get("entity_kinds"), f"{where}.entity_kinds")),
        entity_roles=frozenset(_str_list(spec.get("entity_roles"), f"{where}.entity_roles")),
        entity_ids=frozenset(_str_list(spec.get("entity_ids"), f"{where}.entity_ids")),
        distinct=bool(spec.get("distinct", False)),
        near=tuple(_str_list(spec.get("near"), f"{where}.near")),
    )


def _parse_rule(name: str, spec: Mapping[str, Any], parent: str | None) -> _Rule:
    groups_spec = spec.get("groups", {})
    if not isinstance(groups_spec, dict) or not groups_spec:
        raise ConfigurationError(f"rule {name} has no groups")
    groups = tuple(_parse_group(g, s, f"{name}.{g}") for g, s in sorted(groups_spec.items()))
    known = {g.name for g in groups}
    require_raw = spec.get("require", [])
    require: list[tuple[str, ...]] = []
    for clause in require_raw:
        names = tuple(_str_list(clause, f"{name}.require"))
        require.append(names)
    for g in groups:
        for ref in g.near:
            if ref not in known:
                raise ConfigurationError(f"{name}.{g.name}: near refers to unknown group {ref}")
    for clause in require:
        for ref in clause:
            if ref not in known:
                raise ConfigurationError(f"{name}: require refers to unknown group {ref}")
    threshold = spec.get("threshold")
    return _Rule(
        name=name,
        parent=parent,
        groups=groups,
        require=tuple(require),
        scale=float(spec.get("scale", 5.0)),
        threshold=None if threshold is None else float(threshold),
        standalone=bool(spec.get("standalone", False)),
    )


@functools.lru_cache(maxsize=8)
def _load_taxonomy(path: Path) -> _Taxonomy:
    data = _read_toml(path)
    version = str(data.get("version", ""))
    if not version:
        raise ConfigurationError(f"{path}: missing version")
    scoring = data.get("scoring", {})
    zone_weights = {z: float(scoring.get("zone_weights", {}).get(z, 1.0)) for z in ZONES}
    tags = data.get("tags", {})
    rules: list[_Rule] = []
    for tag in TOP_TAGS:
        if tag not in tags:
            raise ConfigurationError(f"{path}: missing [tags.{tag}]")
        tag_spec = dict(tags[tag])
        subtopics = tag_spec.pop("subtopics", {})
        rules.append(_parse_rule(tag, tag_spec, None))
        for sub, sub_spec in sorted(subtopics.items()):
            rules.append(_parse_rule(f"{tag}.{sub}", sub_spec, tag))
    return _Taxonomy(
        version=version,
        zone_weights=MappingProxyType(zone_weights),
        lead_chars=int(scoring.get("lead_chars", 400)),
        ungated_cap=float(scoring.get("ungated_cap", 0.25)),
        subtopic_threshold=float(scoring.get("subtopic_threshold", 0.5)),
        max_surfaces=int(scoring.get("max_surfaces", 12)),
        rules=tuple(rules),
    )


# --- matching ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    key: str  # surface form (folded, lower case) or entity id
    zone: str
    sentence: int  # global sentence number across zones
    entity: bool


class _Doc:
    """One document cut into folded zones and sentences."""

    __slots__ = ("lang", "lower", "sentence_starts", "sentence_offset", "text")

    def __init__(self, zones: Mapping[str, str], lang: str) -> None:
        self.lang = lang
        self.text: dict[str, str] = {z: fold(zones.get(z, "")) for z in ZONES}
        self.lower: dict[str, str] = {z: t.lower() for z, t in self.text.items()}
        self.sentence_starts: dict[str, list[int]] = {}
        self.sentence_offset: dict[str, int] = {}
        offset = 0
        for z in ZONES:
            starts = [0] + [m.end() for m in _SENTENCE_END.finditer(self.text[z])]
            self.sentence_starts[z] = starts
            self.sentence_offset[z] = offset
            offset += len(starts)

    def sentence(self, zone: str, pos: int) -> int:
        return self.sentence_offset[zone] + bisect_right(self.sentence_starts[zone], pos) - 1

    def find(self, ci: re.Pattern[str] | None, cs: re.Pattern[str] | None) -> Iterable[tuple[str, re.Match[str]]]:
        for z in ZONES:
            if ci is not None and self.lower[z]:
                for m in ci.finditer(self.lower[z]):
                    yield z, m
            if cs is not None and self.text[z]:
                for m in cs.finditer(self.text[z]):
                    yield z, m


def _find_entities(doc: _Doc, gaz: _Gazetteer) -> list[_Hit]:
    ci, cs, names = gaz.patterns[doc.lang]
    hits: list[_Hit] = []
    for zone, m in doc.find(ci, cs):
        gname = m.lastgroup
        if gname is None:
            continue
        eid = names[gname]
        sent = doc.sentence(zone, m.start())
        hits.append(_Hit(eid, zone, sent, True))
        for implied in gaz.entities[eid].also:
            hits.append(_Hit(implied, zone, sent, True))
    return hits


# --- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagResult:
    """What the tagger says about one document; :meth:`as_fields` gives the Elasticsearch fields."""

    tags: tuple[str, ...]
    subtopics: tuple[str, ...]
    entities: tuple[str, ...]
    entity_names: tuple[str, ...]
    scores: Mapping[str, float]
    evidence: Mapping[str, Any]
    taxonomy_version: str

    def as_fields(self) -> dict[str, Any]:
        return {
            "tags": list(self.tags),
            "subtopics": list(self.subtopics),
            "entities": list(self.entities),
            "entity_names": list(self.entity_names),
            "tag_scores": {tag: float(self.scores.get(tag, 0.0)) for tag in TOP_TAGS},
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
        self._taxonomy = _load_taxonomy(Path(self.options.taxonomy_path))
        self._gazetteer = _load_gazetteer(Path(self.options.entities_path))
        self._thresholds = {
            "cyberattack": self.options.cyberattack_threshold,
            "geopolitics": self.options.geopolitics_threshold,
        }

    @property
    def version(self) -> str:
        """Taxonomy and gazetteer versions together; recorded on every document as ``taxonomy_version``."""
        return f"{self._taxonomy.version}+entities.{self._gazetteer.version}"

    def entity_ids(self, text: str, language: str | None = None) -> tuple[str, ...]:
        doc = _Doc({"body": text}, _normalise_language(language, text))
        return tuple(sorted({h.key for h in _find_entities(doc, self._gazetteer)}))

    def tag(self, *, title: str, body: str, language: str | None = None, description: str = "") -> TagResult:
        tax = self._taxonomy
        gaz = self._gazetteer
        lang = _normalise_language(language, f"{title}\n{description}\n{body}")
        doc = _Doc(self._zones(title, body, description), lang)
        entity_hits = _find_entities(doc, gaz)

        scores: dict[str, float] = {}
        evidence: dict[str, Any] = {"language": lang}
        confidences: dict[str, float] = {}
        for rule in tax.rules:
            confidence, rule_evidence = self._score_rule(rule, doc, entity_hits)
            confidences[rule.name] = confidence
            if rule.parent is None:
                scores[rule.name] = confidence
                evidence[rule.name] = rule_evidence
            elif rule_evidence["score"] > 0:
                evidence[rule.name] = rule_evidence

        tags = tuple(t for t in TOP_TAGS if confidences[t] >= self._thresholds[t])
        subtopics: list[str] = []
        for rule in tax.rules:
            if rule.parent is None:
                continue
            threshold = tax.subtopic_threshold if rule.threshold is None else rule.threshold
            if confidences[rule.name] >= threshold and (rule.standalone or rule.parent in tags):
                subtopics.append(rule.name)

        found = sorted({h.key for h in entity_hits})
        evidence["entities"] = self._entity_evidence(entity_hits)
        return TagResult(
            tags=tags,
            subtopics=tuple(subtopics),
            entities=tuple(found),
            entity_names=tuple(gaz.entities[e].name for e in found),
            scores=MappingProxyType(scores),
            evidence=MappingProxyType(evidence),
            taxonomy_version=self.version,
        )

    # -- internals --

    def _zones(self, title: str, body: str, description: str) -> dict[str, str]:
        body = body or ""
        description = (description or "").strip()
        if description:
            return {"title": title or "", "lead": description, "body": body}
        # No description: the first sentences of the body (up to lead_chars, whole sentences) are the lead.
        limit = self._taxonomy.lead_chars
        cut = 0
        for m in _SENTENCE_END.finditer(body):
            if m.end() > limit and cut:
                break
            cut = m.end()
            if cut >= limit:
                break
        if cut == 0 or cut >= len(body):
            cut = min(len(body), limit) if len(body) > limit else len(body)
        return {"title": title or "", "lead": body[:cut], "body": body[cut:]}

    def _score_rule(self, rule: _Rule, doc: _Doc, entity_hits: list[_Hit]) -> tuple[float, dict[str, Any]]:
        tax = self._taxonomy
        raw: dict[str, list[_Hit]] = {}
        for group in rule.groups:
            ci, cs = group.patterns[doc.lang]
            hits = [_Hit(m.group(0).lower(), z, doc.sentence(z, m.start()), False) for z, m in doc.find(ci, cs)]
            if group.entity_ids or group.entity_kinds or group.entity_roles:
                hits.extend(h for h in entity_hits if group.selects(self._gazetteer.entities[h.key]))
            raw[group.name] = hits
        group_scores: dict[str, float] = {}
        groups_evidence: dict[str, Any] = {}
        entity_names: set[str] = set()
        for group in rule.groups:
            hits = raw[group.name]
            if group.near:
                allowed = {h.sentence for ref in group.near for h in raw[ref]}
                hits = [h for h in hits if h.sentence in allowed]
            score = 0.0
            for zone in ZONES:
                zone_hits = [h for h in hits if h.zone == zone]
                if not zone_hits:
                    continue
                n = len({h.key for h in zone_hits}) if group.distinct else len(zone_hits)
                score += group.weight * tax.zone_weights[zone] * math.log2(1 + n)
            group_scores[group.name] = score
            if hits:
                groups_evidence[group.name] = {
                    "score": round(score, 4),
                    "hits": self._surfaces(hits),
                }
                entity_names.update(self._gazetteer.entities[h.key].name for h in hits if h.entity)
        total = sum(group_scores.values())
        gate = not rule.require or any(all(group_scores[g] > 0 for g in clause) for clause in rule.require)
        confidence = 1.0 - math.exp(-total / rule.scale) if total > 0 else 0.0
        if not gate:
            confidence = min(confidence, tax.ungated_cap)
        confidence = round(confidence, 4)
        return confidence, {
            "confidence": confidence,
            "score": round(total, 4),
            "gate_met": gate,
            "requires": [list(c) for c in rule.require],
            "groups": groups_evidence,
            "entities": sorted(entity_names),
        }

    def _surfaces(self, hits: list[_Hit]) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for h in hits:
            key = self._gazetteer.entities[h.key].name if h.entity else h.key
            zones = counts.setdefault(key, {})
            zones[h.zone] = zones.get(h.zone, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        return {k: dict(sorted(v.items())) for k, v in ranked[: self._taxonomy.max_surfaces]}

    def _entity_evidence(self, hits: list[_Hit]) -> dict[str, Any]:
        out: dict[str, dict[str, Any]] = {}
        for h in hits:
            ent = out.setdefault(h.key, {"name": self._gazetteer.entities[h.key].name, "zones": {}})
            ent["zones"][h.zone] = ent["zones"].get(h.zone, 0) + 1
        return {k: {"name": v["name"], "zones": dict(sorted(v["zones"].items()))} for k, v in sorted(out.items())}


@functools.lru_cache(maxsize=4)
def _default_tagger(options: TaggingOptions) -> Tagger:
    return Tagger(options)


def entity_ids(text: str, language: str | None = None) -> tuple[str, ...]:
    """Canonical entity ids mentioned in ``text`` (sorted, unique), e.g. for cross-lingual story grouping."""
    return _default_tagger(TaggingOptions()).entity_ids(text, language)
