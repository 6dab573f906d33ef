"""The term-pattern compiler and the index that runs only the plausible terms on a document.

Term syntax (the data files' ``terms`` and ``aliases``): a regex fragment over folded text, anchored at a word
start and a word end; ``~`` in front drops the start anchor (compound tails), ``*`` at the end allows any word
continuation; outside classes and lookarounds a space means "spaces or hyphens" and a hyphen "an optional space or
hyphen". Case-insensitive terms are lower-cased and matched against the lower-cased text (no ``re.IGNORECASE``,
which keeps sre's literal-prefix search fast).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ingest.errors import ConfigurationError
from ingest.tagging.text import Doc, fold

__all__ = ["FrozenIndex", "Match", "Term", "TermIndex", "compile_term"]


@dataclass(frozen=True)
class Term:
    """One compiled term or alias: ``pattern`` runs without the word-start anchor, which is checked by hand."""

    source: str
    pattern: re.Pattern[str]
    anchored: bool  # must start at a word start
    literals: tuple[str, ...]  # leading letters, one per alternative (index keys); () = always tried
    case_sensitive: bool


def compile_term(term: str, *, case_sensitive: bool) -> Term:
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
    return Term(
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


def is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class TermIndex:
    """All terms of one language with their owners, indexed so that a document only runs plausible terms.

    Anchored terms are keyed by the first 1-3 letters of their leading literal and looked up with the prefixes of
    the document's words; compound tails (``~``) are tried when their literal occurs anywhere; terms without a
    leading literal are always tried. Matches of one owner never overlap (leftmost, then longest, wins).
    """

    def __init__(self) -> None:
        self._terms: dict[tuple[str, bool], Term] = {}
        self._owners: dict[tuple[str, bool], list[str]] = defaultdict(list)

    def add(self, term: str, owner: str, *, case_sensitive: bool) -> None:
        key = (term, case_sensitive)
        if key not in self._terms:
            self._terms[key] = compile_term(term, case_sensitive=case_sensitive)
        if owner not in self._owners[key]:
            self._owners[key].append(owner)

    def freeze(self) -> FrozenIndex:
        prefix: dict[tuple[bool, str], list[int]] = defaultdict(list)
        infix: list[int] = []
        by_lit: dict[tuple[bool, str], list[int]] = defaultdict(list)
        always: list[int] = []
        items: list[tuple[Term, tuple[str, ...]]] = []
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
        return FrozenIndex(
            items=tuple(items),
            prefix={k: tuple(v) for k, v in prefix.items()},
            infix=tuple(infix),
            always=tuple(always),
            keys={cs: frozenset(k for c, k in prefix if c == cs) for cs in (False, True)},
            infix_literals={cs: tuple(sorted({lit for c, lit in by_lit if c == cs})) for cs in (False, True)},
            infix_by_literal={k: tuple(v) for k, v in by_lit.items()},
        )


#: Index key length: anchored terms are keyed by up to this many leading letters.
_KEY = 5
#: The first letters of every word (of every word not starting in lower case, for case-sensitive terms).
_HEAD = re.compile(r"\b\w{1,5}")
_HEAD_CASED = re.compile(r"\b[^\W_a-z]\w{0,4}")


@dataclass(frozen=True)
class Match:
    owner: str
    zone: str
    start: int
    end: int
    surface: str


@dataclass(frozen=True)
class FrozenIndex:
    items: tuple[tuple[Term, tuple[str, ...]], ...]
    prefix: Mapping[tuple[bool, str], tuple[int, ...]]
    infix: tuple[int, ...]
    always: tuple[int, ...]
    #: index keys, case-insensitive (False) and case-sensitive (True)
    keys: Mapping[bool, frozenset[str]]
    infix_literals: Mapping[bool, tuple[str, ...]]
    infix_by_literal: Mapping[tuple[bool, str], tuple[int, ...]]

    def match(self, doc: Doc) -> dict[str, list[Match]]:
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
        raw: dict[str, list[Match]] = defaultdict(list)
        for idx in sorted(candidates):
            term, owners = self.items[idx]
            for m in self._scan(term, doc):
                s, e = m.span()
                if e == s:
                    continue
                surface = m.group(0).lower()
                zone = doc.zone(s)
                for owner in owners:
                    raw[owner].append(Match(owner, zone, s, e, surface))
        out: dict[str, list[Match]] = {}
        for owner, matches in raw.items():
            matches.sort(key=lambda x: (x.start, -x.end, x.surface))
            kept: list[Match] = []
            for mt in matches:
                if kept and mt.start < kept[-1].end:
                    continue
                kept.append(mt)
            out[owner] = kept
        return out

    @staticmethod
    def _scan(term: Term, doc: Doc) -> list[re.Match[str]]:
        text = doc.cased if term.case_sensitive else doc.lower
        out: list[re.Match[str]] = []
        pos = 0
        while True:
            m = term.pattern.search(text, pos)
            if m is None:
                return out
            s, e = m.span()
            if term.anchored and s > 0 and is_word(text[s - 1]):
                pos = s + 1
                continue
            out.append(m)
            pos = e if e > s else s + 1
