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
  another group (``near``), which is how "attack" needs a cyber context. ``near_window`` widens "share a sentence"
  to "lie within n sentences" (n = 1: the same or an adjacent sentence), for all ``near`` groups (an integer) or per
  group (a table): a follow-up spreading one statement over two sentences ("threats from hackers ... working for
  North Korea." / "... blamed Pyongyang for the attack.") still counts, while a mention further away does not.
* A rule's score maps to a confidence ``1 - exp(-score / scale)``. A rule whose ``require`` gate is not met (e.g.
  an attack term *and* a cyber context) is capped below any sensible threshold.
* Every tag carries the terms and entities that fired, where (title/lead/body) and how often.
* Relations between states: a group with ``min_actors = 2`` keeps only sentences naming two different actors (a
  leader or government counts as the state it acts for, ``state`` in the gazetteer). A dateline ("Wien – ") is
  recorded in the evidence; when it lies in the audience's home country a rule may use ``home_dateline_require``.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import tomllib
import unicodedata
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator, Mapping
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

_REPLACE: tuple[tuple[str, str], ...] = (
    ("ß", "ss"),
    ("ẞ", "SS"),
    ("’", "'"),
    ("‘", "'"),
    ("–", "-"),
    ("—", "-"),
    ("‑", "-"),
    ("\u00ad", ""),  # soft hyphen
    ("\u200b", ""),  # zero-width space
)
_COMBINING = re.compile(r"[\u0300-\u036f]")


def fold(text: str) -> str:
    """Strip accents and normalise punctuation, keeping case (``Pjöngjang`` → ``Pjongjang``)."""
    if text.isascii():
        return text
    for char, replacement in _REPLACE:
        if char in text:
            text = text.replace(char, replacement)
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


#: A dateline: up to five capitalised place words (joined by spaces or slashes), an optional agency in brackets,
#: then a dash, at the start of the text or of a sentence (text is folded: en/em dashes are plain hyphens).
_DATELINE = re.compile(
    r"(?:^|(?<=[.!?:;\"'»«“”)]\s)|(?<=\n))(?P<place>[A-Z][\w.'-]*(?:\s?/\s?[A-Z][\w.'-]*|\s[A-Z][\w.'-]*){0,4})"
    r"(?:\s\([^()\n]{1,40}\))?\s?-\s"
)
#: How far into the lead a dateline may start (after a subtitle sentence or two).
_DATELINE_WINDOW = 600
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


@dataclass(frozen=True)
class _Term:
    """One compiled term or alias: ``pattern`` runs without the word-start anchor, which is checked by hand."""

    source: str
    pattern: re.Pattern[str]
    anchored: bool  # must start at a word start
    literals: tuple[str, ...]  # leading letters, one per alternative (index keys); () = always tried
    case_sensitive: bool


def _compile_term(term: str, *, case_sensitive: bool) -> _Term:
    """Compile one term of the data files.

    Syntax: a regex fragment over folded text, anchored at a word start and a word end, except that a leading
    ``~`` drops the start anchor (compound tails: ``~angriff`` matches ``Hackerangriff``) and a trailing ``*``
    allows any word continuation (inflections: ``sanktion*``). Outside character classes and lookarounds a space
    means "one or more spaces or hyphens" and a hyphen means "an optional space or hyphen" (``cyber-attack``
    matches ``cyberattack``, ``cyber attack`` and ``cyber-attack``).
    """
    source = term
    term = fold(term.strip())
    infix = term.startswith("~")
    prefix = term.endswith("*") and not term.endswith("\\*")
    core = term[1:] if infix else term
    core = core[:-1] if prefix else core
    if prefix and core.endswith("\\w") and not core.endswith("\\\\w"):
        core = core[:-2]  # "...\w*" written out: the same as a trailing "*"
    out: list[str] = []
    depth = 0  # inside a character class
    parens: list[bool] = []  # per open parenthesis: is it a lookaround (spaces stay literal there)?
    escaped = False
    for i, ch in enumerate(core):
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
        elif ch == "(" and depth == 0:
            parens.append(core.startswith(("(?<!", "(?<=", "(?!", "(?="), i))
        elif ch == ")" and depth == 0 and parens:
            parens.pop()
        literal = depth > 0 or any(parens)
        if not literal and ch == " ":
            out.append(r"[\s\-]+")
        elif not literal and ch == "-":
            out.append(r"[\s\-]?")
        else:
            out.append(ch)
    body = "".join(out)
    if not case_sensitive:
        # Matched against lower-cased text, without re.IGNORECASE: that keeps sre's literal-prefix search fast.
        body = _lower_regex(body)
    end = r"\w*" if prefix else r"(?!\w)"
    try:
        pattern = re.compile(f"{body}{end}" if body.isalnum() else f"(?:{body}){end}")
    except re.error as exc:
        raise ConfigurationError(f"invalid term {source!r}: {exc}") from exc
    if pattern.groups:
        raise ConfigurationError(f"term {source!r} must use non-capturing groups (?:...)")
    return _Term(
        source=source,
        pattern=pattern,
        anchored=not infix,
        literals=_leading_literals(core, case_sensitive),
        case_sensitive=case_sensitive,
    )


def _lower_regex(body: str) -> str:
    """Lower-case the literal letters of a regex, leaving escapes such as ``\\W`` or ``\\S`` alone."""
    out: list[str] = []
    escaped = False
    for ch in body:
        out.append(ch if escaped else ch.lower())
        escaped = not escaped and ch == "\\"
    return "".join(out)


def _structure(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """``(index, char, paren depth after it)`` for every regex character outside escapes and classes."""
    depth = 0
    in_class = False
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        else:
            depth += (ch == "(") - (ch == ")")
            yield i, ch, depth
        i += 1


def _close_paren(text: str, start: int) -> int:
    """Index of the parenthesis closing the one at ``start`` (-1 if none), skipping escapes and classes."""
    return next((i for i, ch, depth in _structure(text, start) if ch == ")" and depth == 0), -1)


def _split_top(text: str) -> list[str]:
    """Split on ``|`` outside parentheses and classes."""
    cuts = [i for i, ch, depth in _structure(text) if ch == "|" and depth == 0]
    return [text[a + 1 : b] for a, b in zip([-1, *cuts], [*cuts, len(text)], strict=True)]


def _simple_literal(text: str) -> str:
    lit: list[str] = []
    for i, ch in enumerate(text):
        if not ch.isalnum():
            break
        if i + 1 < len(text) and text[i + 1] in "?*{":
            break
        lit.append(ch)
    return "".join(lit)


def _leading_literals(core: str, case_sensitive: bool) -> tuple[str, ...]:
    """The letters a match must start with, one string per alternative (empty: the term starts with regex
    syntax that has no fixed letters, so it is tried on every document)."""
    i = 0
    while core.startswith(("(?<!", "(?<="), i):  # lookbehinds are zero-width
        j = _close_paren(core, i)
        if j < 0:
            return ()
        i = j + 1
    rest = core[i:]
    alternatives = _split_top(rest)
    if len(alternatives) == 1 and rest.startswith("(?:"):
        j = _close_paren(rest, 0)
        if j < 0 or rest[j + 1 : j + 2] in ("?", "*", "{"):
            return ()
        alternatives = _split_top(rest[3:j])
    literals = [_simple_literal(a) for a in alternatives]
    if not all(literals):
        return ()
    return tuple(sorted({lit if case_sensitive else lit.lower() for lit in literals}))


def _terms_for(spec: Mapping[str, Any], key: str, lang: str) -> list[str]:
    """``key`` (both languages) plus ``key_<lang>``; values are lists of strings."""
    out: list[str] = []
    for k in (key, f"{key}_{lang}"):
        value = spec.get(k, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigurationError(f"{k} must be a list of strings")
        out.extend(value)
    return out


def _with_genitives(terms: list[str], lang: str) -> list[str]:
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


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class _TermIndex:
    """All terms of one language with their owners, indexed so that a document only runs plausible terms.

    Anchored terms are keyed by the first 1-3 letters of their leading literal and looked up with the prefixes of
    the document's words; compound tails (``~``) are tried when their literal occurs anywhere; terms without a
    leading literal are always tried. Matches of one owner never overlap (leftmost, then longest, wins).
    """

    def __init__(self) -> None:
        self._terms: dict[tuple[str, bool], _Term] = {}
        self._owners: dict[tuple[str, bool], list[str]] = defaultdict(list)

    def add(self, term: str, owner: str, *, case_sensitive: bool) -> None:
        key = (term, case_sensitive)
        if key not in self._terms:
            self._terms[key] = _compile_term(term, case_sensitive=case_sensitive)
        if owner not in self._owners[key]:
            self._owners[key].append(owner)

    def freeze(self) -> _FrozenIndex:
        prefix: dict[tuple[bool, str], list[int]] = defaultdict(list)
        infix: list[int] = []
        by_lit: dict[tuple[bool, str], list[int]] = defaultdict(list)
        always: list[int] = []
        items: list[tuple[_Term, tuple[str, ...]]] = []
        for key, term in sorted(self._terms.items()):
            idx = len(items)
            items.append((term, tuple(self._owners[key])))
            if not term.literals:
                always.append(idx)
            elif not term.anchored:
                infix.append(idx)
                for lit in term.literals:
                    by_lit[(term.case_sensitive, lit)].append(idx)
            else:
                for lit in term.literals:
                    prefix[(term.case_sensitive, lit[:_KEY])].append(idx)
        return _FrozenIndex(
            items=tuple(items),
            prefix={k: tuple(v) for k, v in prefix.items()},
            infix=tuple(infix),
            always=tuple(always),
            keys={cs: frozenset(k for c, k in prefix if c == cs) for cs in (False, True)},
            infix_literals={cs: tuple(sorted({lit for c, lit in by_lit if c == cs})) for cs in (False, True)},
            infix_by_literal={k: tuple(v) for k, v in by_lit.items()},
        )


_WORD = re.compile(r"\w+")
#: Index key length: anchored terms are keyed by up to this many leading letters.
_KEY = 5
#: The first letters of every word (of every word not starting in lower case, for case-sensitive terms).
_HEAD = re.compile(r"\b\w{1,5}")
_HEAD_CASED = re.compile(r"\b[^\W_a-z]\w{0,4}")


@dataclass(frozen=True)
class _Match:
    owner: str
    zone: str
    start: int
    end: int
    surface: str


@dataclass(frozen=True)
class _FrozenIndex:
    items: tuple[tuple[_Term, tuple[str, ...]], ...]
    prefix: Mapping[tuple[bool, str], tuple[int, ...]]
    infix: tuple[int, ...]
    always: tuple[int, ...]
    #: index keys, case-insensitive (False) and case-sensitive (True)
    keys: Mapping[bool, frozenset[str]]
    infix_literals: Mapping[bool, tuple[str, ...]]
    infix_by_literal: Mapping[tuple[bool, str], tuple[int, ...]]

    def match(self, doc: _Doc) -> dict[str, list[_Match]]:
        """Matches per owner, non-overlapping within an owner (leftmost, then longest), in document order."""
        candidates: set[int] = set(self.always)
        # anchored terms: only those whose leading letters start some word
        for cs, text in ((False, doc.lower), (True, doc.cased)):
            heads = set((_HEAD_CASED if cs else _HEAD).findall(text))
            prefixes = {h[:n] for h in heads for n in range(1, len(h) + 1)}
            for key in prefixes & self.keys[cs]:
                candidates.update(self.prefix[(cs, key)])
        # compound tails: where their letters occur anywhere
        for cs, text in ((False, doc.lower), (True, doc.cased)):
            for lit in [lit for lit in self.infix_literals[cs] if lit in text]:
                candidates.update(self.infix_by_literal[(cs, lit)])
        raw: dict[str, list[_Match]] = defaultdict(list)
        for idx in sorted(candidates):
            term, owners = self.items[idx]
            for m in self._scan(term, doc):
                s, e = m.span()
                if e == s:
                    continue
                surface = m.group(0).lower()
                zone = doc.zone(s)
                for owner in owners:
                    raw[owner].append(_Match(owner, zone, s, e, surface))
        out: dict[str, list[_Match]] = {}
        for owner, matches in raw.items():
            matches.sort(key=lambda x: (x.start, -x.end, x.surface))
            kept: list[_Match] = []
            for mt in matches:
                if kept and mt.start < kept[-1].end:
                    continue
                kept.append(mt)
            out[owner] = kept
        return out

    @staticmethod
    def _scan(term: _Term, doc: _Doc) -> list[re.Match[str]]:
        text = doc.cased if term.case_sensitive else doc.lower
        out: list[re.Match[str]] = []
        pos = 0
        while True:
            m = term.pattern.search(text, pos)
            if m is None:
                return out
            s, e = m.span()
            if term.anchored and s > 0 and _is_word(text[s - 1]):
                pos = s + 1
                continue
            out.append(m)
            pos = e if e > s else s + 1


# --- loaded data ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entity:
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
class _Gazetteer:
    version: str
    entities: Mapping[str, _Entity]
    #: per entity id: per language, (case-insensitive aliases, case-sensitive aliases)
    aliases: Mapping[str, Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]]


@dataclass(frozen=True)
class _Group:
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

    def selects(self, entity: _Entity) -> bool:
        return (
            entity.id in self.entity_ids or entity.kind in self.entity_kinds or bool(entity.roles & self.entity_roles)
        )


@dataclass(frozen=True)
class _Rule:
    name: str
    parent: str | None
    groups: tuple[_Group, ...]
    require: tuple[tuple[str, ...], ...]
    #: replaces ``require`` when the story is datelined in the audience's own country (``None`` = no change)
    home_require: tuple[tuple[str, ...], ...] | None
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
    aliases: dict[str, Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {}
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
            state=str(spec["state"]) if spec.get("state") else None,
        )
        aliases[eid] = MappingProxyType(
            {
                lang: (
                    tuple(_with_genitives(_terms_for(spec, "aliases", lang), lang)),
                    tuple(_terms_for(spec, "cs_aliases", lang)),
                )
                for lang in LANGUAGES
            }
        )
    for ent in entities.values():
        for other in (*ent.also, *((ent.state,) if ent.state else ())):
            if other not in entities:
                raise ConfigurationError(f"{path}: {ent.id} refers to unknown entity {other}")
    logger.debug("loaded %s entities (version %s) from %s", len(entities), version, path)
    return _Gazetteer(version=version, entities=MappingProxyType(entities), aliases=MappingProxyType(aliases))


def _parse_group(name: str, spec: Mapping[str, Any], where: str) -> _Group:
    terms = {
        lang: (tuple(_terms_for(spec, "terms", lang)), tuple(_terms_for(spec, "cs_terms", lang))) for lang in LANGUAGES
    }
    return _Group(
        name=name,
        weight=float(spec.get("weight", 1.0)),
        terms=MappingProxyType(terms),
        entity_kinds=frozenset(_str_list(spec.get("entity_kinds"), f"{where}.entity_kinds")),
        entity_roles=frozenset(_str_list(spec.get("entity_roles"), f"{where}.entity_roles")),
        entity_ids=frozenset(_str_list(spec.get("entity_ids"), f"{where}.entity_ids")),
        distinct=bool(spec.get("distinct", False)),
        near=(near := tuple(_str_list(spec.get("near"), f"{where}.near"))),
        near_window=_near_window(spec.get("near_window", 0), near, where),
        exclude_home=bool(spec.get("exclude_home", False)),
        needs_home=bool(spec.get("needs_home", False)),
        zones=_zones(spec.get("zones"), where),
        min_score=float(spec.get("min_score", 0.0)),
        min_actors=int(spec.get("min_actors", 0)),
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
    zones = _str_list(value, f"{where}.zones") if value is not None else list(ZONES)
    unknown = set(zones) - set(ZONES)
    if unknown:
        raise ConfigurationError(f"{where}.zones: unknown zones {sorted(unknown)}")
    return frozenset(zones)


def _parse_rule(name: str, spec: Mapping[str, Any], parent: str | None) -> _Rule:
    groups_spec = spec.get("groups", {})
    if not isinstance(groups_spec, dict) or not groups_spec:
        raise ConfigurationError(f"rule {name} has no groups")
    groups = tuple(_parse_group(g, s, f"{name}.{g}") for g, s in sorted(groups_spec.items()))
    known = {g.name for g in groups}
    require: list[tuple[str, ...]] = [tuple(_str_list(c, f"{name}.require")) for c in spec.get("require", [])]
    for g in groups:
        for ref in g.near:
            if ref not in known:
                raise ConfigurationError(f"{name}.{g.name}: near refers to unknown group {ref}")
    for clause in require:
        for ref in clause:
            if ref not in known:
                raise ConfigurationError(f"{name}: require refers to unknown group {ref}")
    home_require: tuple[tuple[str, ...], ...] | None = None
    if "home_dateline_require" in spec:
        home_require = tuple(
            tuple(_str_list(c, f"{name}.home_dateline_require")) for c in spec["home_dateline_require"]
        )
        for clause in home_require:
            for ref in clause:
                if ref not in known:
                    raise ConfigurationError(f"{name}: home_dateline_require refers to unknown group {ref}")
    threshold = spec.get("threshold")
    return _Rule(
        name=name,
        parent=parent,
        groups=groups,
        require=tuple(require),
        home_require=home_require,
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


@functools.lru_cache(maxsize=8)
def _load_index(taxonomy_path: Path, entities_path: Path) -> Mapping[str, _FrozenIndex]:
    """Every term and alias of both files, per language. Owners: ``entity:<id>`` and ``<rule>/<group>``."""
    tax = _load_taxonomy(taxonomy_path)
    gaz = _load_gazetteer(entities_path)
    out: dict[str, _FrozenIndex] = {}
    for lang in LANGUAGES:
        index = _TermIndex()
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


# --- matching ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    key: str  # surface form (folded, lower case) or entity id
    zone: str
    sentence: int  # global sentence number across zones
    entity: bool
    placed: bool = False  # the entity is named as the dateline's place (where the story was filed)


class _Doc:
    """One document: its folded zones joined into one text (a blank line apart), with zone and sentence offsets."""

    __slots__ = ("cased", "lang", "lower", "sentence_starts", "zone_starts")

    def __init__(self, zones: Mapping[str, str], lang: str) -> None:
        self.lang = lang
        parts = [fold(zones.get(z, "") or "") for z in ZONES]
        self.cased = "\n\n".join(parts)
        lower = self.cased.lower()
        if len(lower) != len(self.cased):  # keep offsets aligned when a letter lower-cases to two
            lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in self.cased)
        self.lower = lower
        self.zone_starts: list[int] = []
        pos = 0
        for part in parts:
            self.zone_starts.append(pos)
            pos += len(part) + 2
        self.sentence_starts = [0] + [m.end() for m in _SENTENCE_END.finditer(self.cased)]

    def zone(self, pos: int) -> str:
        return ZONES[bisect_right(self.zone_starts, pos) - 1]

    def sentence(self, pos: int) -> int:
        return bisect_right(self.sentence_starts, pos) - 1


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
        self._index = _load_index(Path(self.options.taxonomy_path), Path(self.options.entities_path))
        self._selected: dict[tuple[str, str], frozenset[str]] = {
            (rule.name, g.name): frozenset(e.id for e in self._gazetteer.entities.values() if g.selects(e))
            for rule in self._taxonomy.rules
            for g in rule.groups
        }
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
        return tuple(sorted({h.key for h in self._entity_hits(doc, self._index[doc.lang].match(doc))}))

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
        gaz = self._gazetteer
        lang = _normalise_language(language, f"{title}\n{description}\n{body}")
        doc = _Doc(self._zones(title, body, description), lang)
        matches = self._index[lang].match(doc)
        dateline = self._dateline(doc)
        entity_hits = self._entity_hits(doc, matches, dateline["span"])
        dateline = {k: v for k, v in dateline.items() if k != "span"}
        home_dateline = bool(home and dateline["countries"] and set(dateline["countries"]) <= home)

        scores: dict[str, float] = {}
        evidence: dict[str, Any] = {"language": lang, "home": sorted(home)}
        confidences: dict[str, float] = {}
        for rule in tax.rules:
            confidence, rule_evidence = self._score_rule(rule, doc, matches, entity_hits, home, home_dateline)
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
        if dateline["place"]:
            evidence["dateline"] = {**dateline, "home": home_dateline}
        return TagResult(
            tags=tags,
            subtopics=tuple(subtopics),
            entities=tuple(found),
            entity_names=tuple(gaz.entities[e].name for e in found),
            scores=MappingProxyType(scores),
            evidence=evidence,
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

    def _dateline(self, doc: _Doc) -> dict[str, Any]:
        """The dateline ("Wien – ", "WASHINGTON (Reuters) - ") opening a sentence near the start of the lead, and
        the countries its places name. Where a story is filed from says whose affairs it reports."""
        start = doc.zone_starts[1]
        m = _DATELINE.search(doc.cased, start, start + _DATELINE_WINDOW)
        if m is None:
            return {"place": "", "countries": [], "span": (0, 0)}
        place = m.group("place")
        ids = self.entity_ids(place, doc.lang)
        countries = sorted({e for e in ids if e.startswith("country:")})
        return {"place": place, "countries": countries, "span": m.span("place")}

    def _entity_hits(
        self, doc: _Doc, matches: Mapping[str, list[_Match]], placed: tuple[int, int] = (0, 0)
    ) -> list[_Hit]:
        spans: list[_Match] = [m for owner, ms in matches.items() if owner.startswith("entity:") for m in ms]
        # one entity per stretch of text: leftmost, then longest ("Malaysia Airlines" is not Malaysia)
        spans.sort(key=lambda x: (x.start, -x.end, x.owner))
        hits: list[_Hit] = []
        last: _Match | None = None
        for m in spans:
            if last is not None and m.start < last.end:
                continue
            last = m
            eid = m.owner.removeprefix("entity:")
            sent = doc.sentence(m.start)
            at = placed[0] <= m.start < placed[1]
            hits.append(_Hit(eid, m.zone, sent, True, at))
            for implied in self._gazetteer.entities[eid].also:
                hits.append(_Hit(implied, m.zone, sent, True, at))
        return hits

    def _score_rule(
        self,
        rule: _Rule,
        doc: _Doc,
        matches: Mapping[str, list[_Match]],
        entity_hits: list[_Hit],
        home: frozenset[str],
        home_dateline: bool = False,
    ) -> tuple[float, dict[str, Any]]:
        tax = self._taxonomy
        if not any(f"{rule.name}/{g.name}" in matches or self._selected[(rule.name, g.name)] for g in rule.groups):
            return 0.0, {"confidence": 0.0, "score": 0.0, "gate_met": False, "groups": {}, "entities": []}
        raw: dict[str, list[_Hit]] = {}
        for group in rule.groups:
            hits = [
                _Hit(m.surface, m.zone, doc.sentence(m.start), False)
                for m in matches.get(f"{rule.name}/{group.name}", ())
            ]
            selected = self._selected[(rule.name, group.name)]
            if group.exclude_home:
                selected = selected - home
            if selected and (home or not group.needs_home):
                hits.extend(h for h in entity_hits if h.key in selected)
            if len(group.zones) < len(ZONES):
                hits = [h for h in hits if h.zone in group.zones]
            raw[group.name] = hits
        group_scores: dict[str, float] = {}
        groups_evidence: dict[str, Any] = {}
        entity_names: set[str] = set()
        for group in rule.groups:
            hits = raw[group.name]
            if group.near:
                allowed = {
                    h.sentence + d
                    for ref in group.near
                    for h in raw[ref]
                    for d in range(-group.near_window[ref], group.near_window[ref] + 1)
                }
                hits = [h for h in hits if h.sentence in allowed]
            if group.min_actors:
                hits = self._relation_hits(hits, group.min_actors)
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
        total = max(0.0, sum(group_scores.values()))
        fired = {g.name for g in rule.groups if group_scores[g.name] > 0 and group_scores[g.name] >= g.min_score}
        require = rule.home_require if home_dateline and rule.home_require is not None else rule.require
        gate = not require or any(all(g in fired for g in clause) for clause in require)
        confidence = 1.0 - math.exp(-total / rule.scale) if total > 0 else 0.0
        if not gate:
            confidence = min(confidence, tax.ungated_cap)
        confidence = round(confidence, 4)
        return confidence, {
            "confidence": confidence,
            "score": round(total, 4),
            "gate_met": gate,
            "requires": [list(c) for c in require],
            "groups": groups_evidence,
            "entities": sorted(entity_names),
        }

    def _relation_hits(self, hits: list[_Hit], min_actors: int) -> list[_Hit]:
        """Only the entity hits in sentences that name at least ``min_actors`` different actors (the dateline's
        place names where a story was filed, not who acts in it)."""
        hits = [h for h in hits if h.entity and not h.placed]
        actors: dict[int, set[str]] = defaultdict(set)
        for h in hits:
            actors[h.sentence].add(self._gazetteer.entities[h.key].actor)
        return [h for h in hits if len(actors[h.sentence]) >= min_actors]

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
