"""The taxonomy and the gazetteer: loading, validation and the compiled term index.

Everything the tagger knows lives in two versioned TOML files (``ingest/data/taxonomy.toml``,
``ingest/data/entities.toml``); this module turns them into frozen records and refuses bad data with a
:class:`~ingest.errors.ConfigurationError` naming the file and the key. Loaded data is cached per path.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ingest.errors import ConfigurationError
from ingest.tagging.patterns import FrozenIndex, TermIndex
from ingest.tagging.text import LANGUAGES, ZONES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entity:
    id: str
    name: str
    kind: str
    roles: frozenset[str]
    also: tuple[str, ...]
    #: the state this entity acts for (a head of government for their country), used to tell how many states
    #: a sentence involves; None = the entity is its own actor
    state: str | None = None

    @property
    def actor(self) -> str:
        """The state this entity acts for: ``state``, else the one country it implies (the White House acts for
        the USA), else itself."""
        if self.state:
            return self.state
        countries = [e for e in self.also if e.startswith("country:")]
        return countries[0] if len(countries) == 1 else self.id


@dataclass(frozen=True)
class Gazetteer:
    version: str
    entities: Mapping[str, Entity]
    #: per entity id: per language, (case-insensitive aliases, case-sensitive aliases)
    aliases: Mapping[str, Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]]


@dataclass(frozen=True)
class Group:
    name: str
    weight: float
    #: per language: (case-insensitive terms, case-sensitive terms)
    terms: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]
    entity_kinds: frozenset[str]
    entity_roles: frozenset[str]
    entity_ids: frozenset[str]
    distinct: bool
    near: tuple[str, ...]
    #: per ``near`` group: its hits may lie this many sentences before or after (0 = the same sentence)
    near_window: Mapping[str, int]
    #: drop mentions of the home countries; ``needs_home``: score nothing unless home countries are known
    exclude_home: bool
    needs_home: bool
    #: zones where hits count (all by default)
    zones: frozenset[str]
    #: the group counts toward ``require`` only from this score on (negative weights never do)
    min_score: float
    #: hits count only in sentences where this group's hits name at least this many different actors (entities
    #: mapped to the state they act for): 2 = a relation between states, not one state's own affairs
    min_actors: int = 0
    #: open-vocabulary names (not in the gazetteer) count as hits of this group too
    names: bool = False
    #: open-vocabulary names that a title of state office and a country introduce ("der ungarische Außenminister
    #: X") count as hits, acting for that state (a leader the gazetteer does not know)
    state_names: bool = False
    #: hits in a sentence that also has a hit of one of these groups do not count ("an attacker could ...")
    not_near: tuple[str, ...] = ()

    def selects(self, entity: Entity) -> bool:
        return (
            entity.id in self.entity_ids or entity.kind in self.entity_kinds or bool(entity.roles & self.entity_roles)
        )


@dataclass(frozen=True)
class Rule:
    name: str
    parent: str | None
    groups: tuple[Group, ...]
    require: tuple[tuple[str, ...], ...]
    #: replaces ``require`` when the story is datelined in the audience's own country (``None`` = no change)
    home_require: tuple[tuple[str, ...], ...] | None
    scale: float
    threshold: float | None
    standalone: bool
    #: what the tag or subtopic means, and what counts / does not count (required: the data is the definition)
    definition: str = ""
    #: groups whose hits in the opening (title, lead, the body's first sentence) say the story is about the tag;
    #: when none has one there, the score is multiplied by ``unfocused_weight`` (evidence deep in the body only is
    #: a side remark)
    focus: tuple[str, ...] = ()
    unfocused_weight: float = 1.0
    #: replaces ``require`` (and ``home_require``) when one of the ``frames`` groups scores: a page framed as
    #: something else in its title or lead (a crime, an accident, a film) needs stronger evidence
    frames: tuple[str, ...] = ()
    framed_require: tuple[tuple[str, ...], ...] = ()
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    version: str
    zone_weights: Mapping[str, float]
    lead_chars: int
    ungated_cap: float
    subtopic_threshold: float
    max_surfaces: int
    rules: tuple[Rule, ...]
    #: a document shorter than this (characters, all zones) is a brief: its rules' scales shrink in proportion
    #: (a brief has room for a piece or two of evidence, a report for many); 0 = off
    brief_chars: int = 0

    @property
    def tags(self) -> tuple[str, ...]:
        """The top tags, in file order."""
        return tuple(r.name for r in self.rules if r.parent is None)


def terms_for(spec: Mapping[str, Any], key: str, lang: str) -> list[str]:
    """``key`` (both languages) plus ``key_<lang>``; values are lists of strings."""
    out: list[str] = []
    for k in (key, f"{key}_{lang}"):
        value = spec.get(k, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigurationError(f"{k} must be a list of strings")
        out.extend(value)
    return out


def with_genitives(terms: list[str], lang: str) -> list[str]:
    """German names take a genitive -s ("Angolas Präsident", "Merkels Kurs"): a plain-word alias also matches
    with it, so the gazetteer need not spell every genitive out."""
    if lang != "de":
        return terms
    extra = [
        f"{t}s"
        for t in terms
        if len(t) >= 4 and t.isalpha() and not t.endswith(("s", "x", "z", "ß"))  # letters only: no regex syntax
    ]
    return [*terms, *(e for e in extra if e not in terms)]


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"tagging data file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: invalid TOML: {exc}") from exc


def str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{what} must be a list of strings")
    return list(value)


@functools.lru_cache(maxsize=8)
def load_gazetteer(path: Path) -> Gazetteer:
    data = read_toml(path)
    version = str(data.get("version", ""))
    if not version:
        raise ConfigurationError(f"{path}: missing version")
    raw = data.get("entity", [])
    if not isinstance(raw, list):
        raise ConfigurationError(f"{path}: [[entity]] must be an array of tables")
    entities: dict[str, Entity] = {}
    aliases: dict[str, Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    for spec in raw:
        eid = spec.get("id")
        if not isinstance(eid, str) or ":" not in eid:
            raise ConfigurationError(f"{path}: entity without a kind:id id: {spec!r}")
        if eid in entities:
            raise ConfigurationError(f"{path}: duplicate entity id {eid}")
        entities[eid] = Entity(
            id=eid,
            name=str(spec.get("name", eid)),
            kind=eid.split(":", 1)[0],
            roles=frozenset(str_list(spec.get("roles"), f"{eid}.roles")),
            also=tuple(str_list(spec.get("also"), f"{eid}.also")),
            state=str(spec["state"]) if spec.get("state") else None,
        )
        aliases[eid] = MappingProxyType(
            {
                lang: (
                    tuple(with_genitives(terms_for(spec, "aliases", lang), lang)),
                    tuple(terms_for(spec, "cs_aliases", lang)),
                )
                for lang in LANGUAGES
            }
        )
    for ent in entities.values():
        for other in (*ent.also, *((ent.state,) if ent.state else ())):
            if other not in entities:
                raise ConfigurationError(f"{path}: {ent.id} refers to unknown entity {other}")
    logger.debug("loaded %s entities (version %s) from %s", len(entities), version, path)
    return Gazetteer(version=version, entities=MappingProxyType(entities), aliases=MappingProxyType(aliases))


def _parse_group(name: str, spec: Mapping[str, Any], where: str) -> Group:
    _check_keys(spec, _GROUP_KEYS, where)
    terms = {
        lang: (tuple(terms_for(spec, "terms", lang)), tuple(terms_for(spec, "cs_terms", lang))) for lang in LANGUAGES
    }
    return Group(
        name=name,
        weight=float(spec.get("weight", 1.0)),
        terms=MappingProxyType(terms),
        entity_kinds=frozenset(str_list(spec.get("entity_kinds"), f"{where}.entity_kinds")),
        entity_roles=frozenset(str_list(spec.get("entity_roles"), f"{where}.entity_roles")),
        entity_ids=frozenset(str_list(spec.get("entity_ids"), f"{where}.entity_ids")),
        distinct=bool(spec.get("distinct", False)),
        near=(near := tuple(str_list(spec.get("near"), f"{where}.near"))),
        near_window=_near_window(spec.get("near_window", 0), near, where),
        exclude_home=bool(spec.get("exclude_home", False)),
        needs_home=bool(spec.get("needs_home", False)),
        zones=_zones(spec.get("zones"), where),
        min_score=float(spec.get("min_score", 0.0)),
        min_actors=int(spec.get("min_actors", 0)),
        names=bool(spec.get("names", False)),
        state_names=bool(spec.get("state_names", False)),
        not_near=tuple(str_list(spec.get("not_near"), f"{where}.not_near")),
    )


def _near_window(value: Any, near: tuple[str, ...], where: str) -> Mapping[str, int]:
    """``near_window``: one integer for every ``near`` group, or a table ``{group = n}`` (others: 0)."""
    table = value if isinstance(value, dict) else dict.fromkeys(near, value)
    unknown = set(table) - set(near)
    if unknown:
        raise ConfigurationError(f"{where}.near_window names groups not in near: {sorted(unknown)}")
    for n in table.values():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigurationError(f"{where}.near_window must be a non-negative integer or a table of them")
    return MappingProxyType({ref: int(table.get(ref, 0)) for ref in near})


def _zones(value: Any, where: str) -> frozenset[str]:
    zones = str_list(value, f"{where}.zones") if value is not None else list(ZONES)
    unknown = set(zones) - set(ZONES)
    if unknown:
        raise ConfigurationError(f"{where}.zones: unknown zones {sorted(unknown)}")
    return frozenset(zones)


_RULE_KEYS = frozenset(
    {"scale", "require", "home_dateline_require", "threshold", "standalone", "groups", "definition", "includes",
     "excludes", "focus", "unfocused_weight", "frames", "framed_require"}
)  # fmt: skip
_GROUP_KEYS = frozenset(
    {"weight", "entity_kinds", "entity_roles", "entity_ids", "distinct", "near", "near_window", "exclude_home",
     "needs_home", "zones", "min_score", "min_actors", "names", "state_names", "not_near", "terms_from"}
    | {f"{p}terms{s}" for p in ("", "cs_") for s in ("", *(f"_{lang}" for lang in LANGUAGES))}
)  # fmt: skip


def _check_keys(spec: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ConfigurationError(f"{where}: unknown keys {unknown}")


def _clauses(value: Any, where: str) -> tuple[tuple[str, ...], ...]:
    """A list of clauses, each a list of group names (``require = [["a", "b"], ["c"]]``)."""
    return tuple(tuple(str_list(c, where)) for c in value)


def _flat(clauses: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    return tuple(ref for clause in clauses for ref in clause)


def _check_refs(refs: tuple[str, ...], known: set[str], message: str) -> None:
    """Every group a rule's key refers to exists: a typo must fail loading, not switch a clause off."""
    for ref in refs:
        if ref not in known:
            raise ConfigurationError(f"{message} {ref}")


def _parse_rule(name: str, spec: Mapping[str, Any], parent: str | None, path: Path) -> Rule:
    _check_keys(spec, _RULE_KEYS, f"{path}: tags.{name}")
    definition = spec.get("definition")
    if not isinstance(definition, str) or not definition.strip():
        raise ConfigurationError(f"{path}: tags.{name} needs a definition (what counts and what does not)")
    groups_spec = spec.get("groups", {})
    if not isinstance(groups_spec, dict) or not groups_spec:
        raise ConfigurationError(f"rule {name} has no groups")
    groups = tuple(_parse_group(g, s, f"{name}.{g}") for g, s in sorted(groups_spec.items()))
    known = {g.name for g in groups}
    # `terms_from = "<group>"`: the same terms as another group of the rule (a title/lead-only copy for a gate)
    by_name = {g.name: g for g in groups}
    copied: list[Group] = []
    for g in groups:
        source = groups_spec[g.name].get("terms_from")
        if source is None:
            copied.append(g)
            continue
        if source not in by_name or groups_spec[source].get("terms_from") is not None:
            raise ConfigurationError(f"{name}.{g.name}: terms_from must name a group of {name} with terms of its own")
        copied.append(dataclasses.replace(g, terms=by_name[source].terms))
    groups = tuple(copied)
    require = _clauses(spec.get("require", []), f"{name}.require")
    for g in groups:
        _check_refs((*g.near, *g.not_near), known, f"{name}.{g.name}: near/not_near refers to unknown group")
    _check_refs(_flat(require), known, f"{name}: require refers to unknown group")
    home_require: tuple[tuple[str, ...], ...] | None = None
    if "home_dateline_require" in spec:
        home_require = _clauses(spec["home_dateline_require"], f"{name}.home_dateline_require")
        _check_refs(_flat(home_require), known, f"{name}: home_dateline_require refers to unknown group")
    focus = tuple(str_list(spec.get("focus"), f"{name}.focus"))
    _check_refs(focus, known, f"{name}: focus refers to unknown group")
    unfocused_weight = float(spec.get("unfocused_weight", 1.0))
    if not 0.0 <= unfocused_weight <= 1.0:
        raise ConfigurationError(f"{name}: unfocused_weight must be between 0 and 1")
    frames = tuple(str_list(spec.get("frames"), f"{name}.frames"))
    framed_require = _clauses(spec.get("framed_require", []), f"{name}.framed_require")
    if bool(frames) != bool(framed_require):
        raise ConfigurationError(f"{name}: frames and framed_require go together")
    _check_refs((*frames, *_flat(framed_require)), known, f"{name}: frames/framed_require refer to unknown group")
    threshold = spec.get("threshold")
    return Rule(
        name=name,
        parent=parent,
        groups=groups,
        require=require,
        home_require=home_require,
        scale=float(spec.get("scale", 5.0)),
        threshold=None if threshold is None else float(threshold),
        standalone=bool(spec.get("standalone", False)),
        definition=" ".join(definition.split()),
        includes=tuple(str_list(spec.get("includes"), f"{name}.includes")),
        excludes=tuple(str_list(spec.get("excludes"), f"{name}.excludes")),
        focus=focus,
        unfocused_weight=unfocused_weight,
        frames=frames,
        framed_require=framed_require,
    )


@functools.lru_cache(maxsize=8)
def load_taxonomy(path: Path) -> Taxonomy:
    data = read_toml(path)
    version = str(data.get("version", ""))
    if not version:
        raise ConfigurationError(f"{path}: missing version")
    scoring = data.get("scoring", {})
    zone_weights = {z: float(scoring.get("zone_weights", {}).get(z, 1.0)) for z in ZONES}
    tags = data.get("tags", {})
    rules: list[Rule] = []
    if not isinstance(tags, dict) or not tags:
        raise ConfigurationError(f"{path}: no [tags.<name>] tables")
    for tag, spec in tags.items():  # file order: the order tags are reported in
        if not isinstance(spec, dict):
            raise ConfigurationError(f"{path}: tags.{tag} must be a table")
        tag_spec = dict(spec)
        subtopics = tag_spec.pop("subtopics", {})
        if not isinstance(subtopics, dict):
            raise ConfigurationError(f"{path}: tags.{tag}.subtopics must be a table of tables")
        rules.append(_parse_rule(tag, tag_spec, None, path))
        for sub, sub_spec in sorted(subtopics.items()):
            if not isinstance(sub_spec, dict):
                raise ConfigurationError(f"{path}: tags.{tag}.subtopics.{sub} must be a table")
            rules.append(_parse_rule(f"{tag}.{sub}", sub_spec, tag, path))
    return Taxonomy(
        version=version,
        zone_weights=MappingProxyType(zone_weights),
        lead_chars=int(scoring.get("lead_chars", 400)),
        ungated_cap=float(scoring.get("ungated_cap", 0.25)),
        subtopic_threshold=float(scoring.get("subtopic_threshold", 0.5)),
        max_surfaces=int(scoring.get("max_surfaces", 12)),
        rules=tuple(rules),
        brief_chars=int(scoring.get("brief_chars", 0)),
    )


@functools.lru_cache(maxsize=8)
def load_index(taxonomy_path: Path, entities_path: Path) -> Mapping[str, FrozenIndex]:
    """Every term and alias of both files, per language. Owners: ``entity:<id>`` and ``<rule>/<group>``."""
    tax = load_taxonomy(taxonomy_path)
    gaz = load_gazetteer(entities_path)
    out: dict[str, FrozenIndex] = {}
    for lang in LANGUAGES:
        index = TermIndex()
        for eid, per_lang in gaz.aliases.items():
            ci, cs = per_lang[lang]
            for alias in ci:
                index.add(alias, f"entity:{eid}", case_sensitive=False)
            for alias in cs:
                index.add(alias, f"entity:{eid}", case_sensitive=True)
        for rule in tax.rules:
            for group in rule.groups:
                ci, cs = group.terms[lang]
                for term in ci:
                    index.add(term, f"{rule.name}/{group.name}", case_sensitive=False)
                for term in cs:
                    index.add(term, f"{rule.name}/{group.name}", case_sensitive=True)
        out[lang] = index.freeze()
    return MappingProxyType(out)
