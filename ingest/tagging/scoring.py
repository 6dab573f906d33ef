"""The scorer: evidence groups → rule scores → confidences, with the evidence that explains them.

A group scores ``weight × zone weight × log2(1 + hits)`` per zone (distinct keys when ``distinct``); ``near`` keeps
only hits within ``near_window`` sentences of a hit of the named groups; ``min_actors`` keeps only sentences naming
that many different state actors. A rule's confidence is ``1 - exp(-score / scale)``, capped at ``ungated_cap``
when none of its ``require`` clauses is fully met (each group in it must reach its ``min_score``). The score is
multiplied by ``unfocused_weight`` when no ``focus`` group has a hit in the opening (title, lead, first body
sentence); ``framed_require`` replaces ``require`` when a ``frames`` group scores; a brief (shorter than
``brief_chars``) has its scale shrunk in proportion to its length.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingest.tagging.data import Gazetteer, Rule, Taxonomy
from ingest.tagging.patterns import Match
from ingest.tagging.text import ZONES, Doc

__all__ = ["Hit", "RuleScore", "Scorer", "in_german_name"]

#: German adjectives of nationality ("spanische", "deutschen", "ungarisches"): written in lower case unless they
#: are part of a name
_DE_ADJECTIVE = re.compile(r"(?:\w+isch|deutsch)(?:e[nrms]?)?")
#: the names that are the state itself ("Russische Föderation", "Tschechische Republik")
_DE_STATE_NOUN = re.compile(r"\s+(?:Foderation|Republik|Volksrepublik|Konigreich|Emirate|Staaten)\b")
_DE_NEXT_CAPITAL = re.compile(r"\s+[A-Z]")
#: a brief's scale shrinks with its length, down to this share of the rule's scale
_BRIEF_FLOOR = 0.25


def in_german_name(doc: Doc, start: int, end: int) -> bool:
    """A German nationality adjective written with a capital inside a sentence and followed by a capitalised word
    is part of a name ("die Deutsche Bahn", "der Schweizerischen Nationalbank", "beim Deutschen Wetterdienst"):
    an institution, not the state. German adjectives are lower case otherwise ("die spanische
    Regierung"), so the rule costs no real mention of a state."""
    surface = doc.lower[start:end]
    if not _DE_ADJECTIVE.fullmatch(surface) or not doc.cased[start].isupper():
        return False
    if doc.sentence_starts[doc.sentence(start)] == start or start in doc.zone_starts:
        return False
    before = doc.cased[max(0, start - 2) : start].strip()
    if before and before[-1] in "\"'„“”«»(-/":
        return False
    return bool(_DE_NEXT_CAPITAL.match(doc.cased, end)) and not _DE_STATE_NOUN.match(doc.cased, end)


@dataclass(frozen=True)
class Hit:
    """One piece of evidence: a term's surface form or an entity id, where it was found."""

    key: str  # surface form (folded, lower case) or entity id
    zone: str
    sentence: int  # global sentence number across zones
    entity: bool
    placed: bool = False  # the entity is named as the dateline's place (where the story was filed)
    #: the state actor this hit stands for (entities: the gazetteer's ``actor``; typed names: the country of
    #: their title), "" = not an actor
    actor: str = ""


@dataclass(frozen=True)
class RuleScore:
    confidence: float
    evidence: dict[str, Any]

    @property
    def score(self) -> float:
        return float(self.evidence["score"])


class Scorer:
    """Scores every rule of a taxonomy against one document's matches and entity hits."""

    def __init__(self, taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
        self.taxonomy = taxonomy
        self.gazetteer = gazetteer
        #: per (rule, group): the entity ids the group selects (by id, kind or role)
        self.selected: dict[tuple[str, str], frozenset[str]] = {
            (rule.name, g.name): frozenset(e.id for e in gazetteer.entities.values() if g.selects(e))
            for rule in taxonomy.rules
            for g in rule.groups
        }

    def entity_hits(self, doc: Doc, matches: Mapping[str, list[Match]], placed: tuple[int, int] = (0, 0)) -> list[Hit]:
        """Gazetteer matches as hits: one entity per stretch of text (leftmost, then longest: "Malaysia Airlines"
        is not Malaysia), plus the entities each implies (``also``)."""
        spans: list[Match] = [m for owner, ms in matches.items() if owner.startswith("entity:") for m in ms]
        spans.sort(key=lambda x: (x.start, -x.end, x.owner))
        hits: list[Hit] = []
        last: Match | None = None
        entities = self.gazetteer.entities
        german = doc.lang == "de"
        for m in spans:
            if last is not None and m.start < last.end:
                continue
            last = m
            if german and in_german_name(doc, m.start, m.end):
                continue
            eid = m.owner.removeprefix("entity:")
            sent = doc.sentence(m.start)
            at = placed[0] <= m.start < placed[1]
            hits.append(Hit(eid, m.zone, sent, True, at, entities[eid].actor))
            for implied in entities[eid].also:
                hits.append(Hit(implied, m.zone, sent, True, at, entities[implied].actor))
        return hits

    def score(
        self,
        rule: Rule,
        doc: Doc,
        matches: Mapping[str, list[Match]],
        entity_hits: list[Hit],
        home: frozenset[str],
        home_dateline: bool = False,
        name_hits: list[Hit] | None = None,
    ) -> RuleScore:
        tax = self.taxonomy
        if not any(
            f"{rule.name}/{g.name}" in matches
            or self.selected[(rule.name, g.name)]
            or ((g.names or g.state_names) and name_hits)
            for g in rule.groups
        ):
            return RuleScore(0.0, {"confidence": 0.0, "score": 0.0, "gate_met": False, "groups": {}, "entities": []})
        raw: dict[str, list[Hit]] = {}
        for group in rule.groups:
            hits = [
                Hit(m.surface, m.zone, doc.sentence(m.start), False)
                for m in matches.get(f"{rule.name}/{group.name}", ())
            ]
            selected = self.selected[(rule.name, group.name)]
            if group.exclude_home:
                selected = selected - home
            if selected and (home or not group.needs_home):
                hits.extend(h for h in entity_hits if h.key in selected)
            if group.names and name_hits:
                hits.extend(name_hits)
            elif group.state_names and name_hits:
                hits.extend(h for h in name_hits if h.actor)
            if len(group.zones) < len(ZONES):
                hits = [h for h in hits if h.zone in group.zones]
            raw[group.name] = hits
        group_scores: dict[str, float] = {}
        groups_evidence: dict[str, Any] = {}
        entity_names: set[str] = set()
        focused = not rule.focus
        opening = doc.sentence(doc.zone_starts[2])  # the body's first sentence still opens the story
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
            if group.not_near:
                banned = {h.sentence for ref in group.not_near for h in raw[ref]}
                hits = [h for h in hits if h.sentence not in banned]
            if group.min_actors:
                hits = self.relation_hits(hits, group.min_actors)
            if not focused and group.name in rule.focus:
                focused = any(h.zone != "body" or h.sentence <= opening for h in hits)
            score = 0.0
            for zone in ZONES:
                zone_hits = [h for h in hits if h.zone == zone]
                if not zone_hits:
                    continue
                n = len({h.key for h in zone_hits}) if group.distinct else len(zone_hits)
                score += group.weight * tax.zone_weights[zone] * math.log2(1 + n)
            group_scores[group.name] = score
            if hits:
                groups_evidence[group.name] = {"score": round(score, 4), "hits": self.surfaces(hits)}
                entity_names.update(self.name_of(h.key) for h in hits if h.entity)
        total = max(0.0, sum(group_scores.values()))
        if not focused:
            total *= rule.unfocused_weight
        fired = {g.name for g in rule.groups if group_scores[g.name] > 0 and group_scores[g.name] >= g.min_score}
        require = rule.home_require if home_dateline and rule.home_require is not None else rule.require
        framed = any(group_scores[g] != 0 for g in rule.frames)
        if framed:
            require = rule.framed_require
        gate = not require or any(all(g in fired for g in clause) for clause in require)
        scale = rule.scale
        brief = 0 < len(doc.cased) < tax.brief_chars
        if brief:
            scale *= max(len(doc.cased), _BRIEF_FLOOR * tax.brief_chars) / tax.brief_chars
        confidence = 1.0 - math.exp(-total / scale) if total > 0 else 0.0
        if not gate:
            confidence = min(confidence, tax.ungated_cap)
        confidence = round(confidence, 4)
        return RuleScore(
            confidence,
            {
                "confidence": confidence,
                "score": round(total, 4),
                "gate_met": gate,
                **({} if not rule.focus else {"focused": focused}),
                **({} if not rule.frames else {"framed": framed}),
                **({"brief": True} if brief else {}),
                "requires": [list(c) for c in require],
                "groups": groups_evidence,
                "entities": sorted(entity_names),
            },
        )

    def name_of(self, key: str) -> str:
        entity = self.gazetteer.entities.get(key)
        return entity.name if entity is not None else key

    @staticmethod
    def relation_hits(hits: list[Hit], min_actors: int) -> list[Hit]:
        """Only the entity hits in sentences that name at least ``min_actors`` different actors (the dateline's
        place names where a story was filed, not who acts in it)."""
        hits = [h for h in hits if h.entity and not h.placed and h.actor]
        actors: dict[int, set[str]] = defaultdict(set)
        for h in hits:
            actors[h.sentence].add(h.actor)
        return [h for h in hits if len(actors[h.sentence]) >= min_actors]

    def surfaces(self, hits: list[Hit]) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for h in hits:
            key = self.name_of(h.key) if h.entity else h.key
            zones = counts.setdefault(key, {})
            zones[h.zone] = zones.get(h.zone, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        return {k: dict(sorted(v.items())) for k, v in ranked[: self.taxonomy.max_surfaces]}

    def entity_evidence(self, hits: list[Hit]) -> dict[str, Any]:
        out: dict[str, dict[str, Any]] = {}
        for h in hits:
            ent = out.setdefault(h.key, {"name": self.name_of(h.key), "zones": {}})
            ent["zones"][h.zone] = ent["zones"].get(h.zone, 0) + 1
        return {k: {"name": v["name"], "zones": dict(sorted(v["zones"].items()))} for k, v in sorted(out.items())}
