"""Open-vocabulary names: people, organisations and places the gazetteer does not know.

A statistical method, no model: capitalised words and phrases are candidates, and a word-frequency list (the
``wordfreq`` package's ``large`` lists for English and German, read offline) says which of them are ordinary
words. English capitalises names and sentence starts, so a capitalised word inside a sentence that is not a very
common word is a name. German capitalises every noun, so there a single word counts only when it is rare *and*
is not a compound of known words (``Flüchtlingsobergrenze`` = ``Flüchtlings`` + ``obergrenze``) nor shaped like a
common noun (``-ung``, ``-heit``, ...); a phrase of two or more capitalised words inside a sentence ("Hans Peter
Doskozil", "Rotes Kreuz") counts unless all its words are very common ("Ende Juni").

Ids (the ``names`` field) are language-independent strings ``name:<words>``: accent-folded (``Szijjártó`` →
``szijjarto``, ``ß`` → ``ss``), lower-cased, hyphens and runs of spaces made one space (``Kim Jong-un`` →
``name:kim jong un``), an English possessive ``'s`` and a German genitive ``-s`` dropped ("Doskozils Plan" →
``name:doskozil``), leading articles and titles dropped ("Präsident", "Mr", "Außenminister"). Words that the
gazetteer matched are not names: a gazetteer hit yields its canonical id in ``entities`` and never a duplicate
here ("US-Präsident Donald Trump" gives ``person:donald-trump`` only).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ingest.tagging import lexicon as lex
from ingest.tagging.text import Doc

logger = logging.getLogger(__name__)

__all__ = ["Name", "NameFinder"]

_TOKEN = re.compile(r"[^\W\d_][\w]*(?:['-][^\W_][\w]*)*")
_ACRONYM = re.compile(r"[A-Z][A-Z0-9&]{1,5}")
#: endings of the English adjectives that adverbs in -ly are made from ("amusing", "helpful", "inadequate")
_ADJECTIVE_ENDINGS = ("ing", "ful", "al", "ate", "ous", "ive", "ic", "ent", "ant", "less", "ed", "ish", "est")
#: characters that, right before a word, make it start a (quoted or bracketed) sentence-like unit
_OPENERS = frozenset("\"'«»“”„([:-")


@dataclass(frozen=True)
class Name:
    """One open-vocabulary name in a document: its id, the first surface form, and where it occurs."""

    id: str
    surface: str
    zones: tuple[str, ...]  # zone of each mention
    sentences: tuple[int, ...]  # sentence of each mention (the document's numbering)
    #: the title in front of the first titled mention ("prasident", "minister"), "" = none
    title: str = ""
    starts: tuple[int, ...] = ()  # offset of each mention in the document's folded text
    title_at: int = -1  # offset of the first titled mention (-1: none)
    #: the state this person acts for, when a political title and a country introduce them ("der ungarische
    #: Außenminister X", "Hungary's foreign minister X"); "" = unknown
    actor: str = ""

    @property
    def political(self) -> bool:
        """Introduced by a title of state office (minister, president, ambassador, ...)."""
        return bool(self.title) and (self.title in lex.STATE_TITLES or self.title.endswith(lex.STATE_TITLE_TAILS))


@dataclass
class _Found:
    surface: str
    zones: list[str] = dataclasses.field(default_factory=list)
    sentences: list[int] = dataclasses.field(default_factory=list)
    starts: list[int] = dataclasses.field(default_factory=list)
    title: str = ""
    title_at: int = -1


@dataclass(frozen=True)
class _Tok:
    start: int
    end: int
    text: str
    initial: bool  # starts a sentence (or a quote, a bracket, the title)
    covered: bool  # inside a gazetteer match
    sentence: int  # the document's sentence number
    #: the word right before this one, of any case ("" = none), and where it ends
    prev_text: str = ""
    prev_end: int = -1
    genitive: bool = False  # a German genitive -s was cut off


class NameFinder:
    """Finds open-vocabulary names in a :class:`~ingest.tagging.text.Doc` of one language."""

    def __init__(
        self,
        lang: str,
        *,
        common_zipf: float = 5.0,
        rare_zipf_de: float = 3.0,
        phrase_common_zipf_de: float = 4.6,
        compound_part_zipf: float = 2.5,
    ) -> None:
        self.lang = lang
        self.freq = lex.frequencies(lang)
        self.common = round(common_zipf * 10)
        self.rare_de = round(rare_zipf_de * 10)
        self.phrase_common_de = round(phrase_common_zipf_de * 10)
        self.part = round(compound_part_zipf * 10)
        self.connectors = lex.CONNECTORS.get(lang, frozenset())
        #: lower-case words that may join capitalised ones (see ``_connects``)
        self._kept_lower = self.connectors | {"of", "der", "den"}

    # -- word statistics --

    def zipf(self, word: str) -> int:
        """zipf×10 of a folded word (0 = rarer than zipf 2 or unknown); hyphenated words: their rarest part."""
        low = word.lower()
        got = self.freq.get(low)
        if got is not None:
            return got
        if "-" in low:
            return min(self.freq.get(p, 0) for p in low.split("-") if p) if low.strip("-") else 0
        return 0

    def is_compound(self, word: str, depth: int = 0) -> bool:
        """A German compound of known words (``grenzzaun`` = ``grenz(e)`` + ``zaun``; ``einzelstundenbasis`` =
        ``einzel`` + ``stunden`` + ``basis``)."""
        low = word.lower()
        if "-" in low or len(low) < 6 or depth > 2:
            return False
        for i in range(3, len(low) - 2):
            if not self._known(low[i:]):
                continue
            head = low[:i]
            if self._known(head) or (len(head) >= 4 and self._known(head + "e")):
                return True
            if any(head.endswith(link) and self._known(head[: -len(link)]) for link in lex.LINKS):
                return True
            if depth < 2 and len(head) >= 6 and self.is_compound(head, depth + 1):
                return True
        return False

    def _known(self, word: str) -> bool:
        """A known word, or a known word with a German inflection ending (``stunden``, ``macherinnen``)."""
        if len(word) < 3:
            return False
        freq = self.freq
        part = self.part if len(word) > 3 else 40  # three letters: only a common word ("Rat", "Amt")
        if freq.get(word, 0) >= part:
            return True
        return any(
            word.endswith(end) and len(word) - len(end) >= 4 and freq.get(word[: -len(end)], 0) >= self.part
            for end in lex.INFLECTIONS
        )

    def nounish(self, word: str, *, last: bool = True) -> bool:
        """A German common noun rather than a name: shaped like one (``-ung``, a compound), or, as the last word
        of a phrase, common in German and rare in English (names are shared by both lists: "Kern", "Rose";
        nouns are not: "Anteil"). Given names before a surname ("Johanna") are often rare in English too."""
        low = word.lower()
        if "-" in low:  # "Handgranaten-Anschlag" is a noun, "Mikl-Leitner" a name: the last part decides
            return self.nounish(low.rsplit("-", 1)[1], last=True)
        if low.endswith(lex.NOUN_SUFFIXES) or (len(low) >= 8 and self.is_compound(low)):
            return True
        return last and self.zipf(low) >= 40 and lex.frequencies("en").get(low, 0) < 30

    def is_title(self, word: str) -> bool:
        low = word.lower().rstrip(".")
        if low in lex.TITLES or ("-" in low and low.rsplit("-", 1)[1] in lex.TITLES):
            return True
        return self.lang == "de" and (
            low in lex.TITLE_TAILS or (low.endswith(lex.TITLE_TAILS) and self.is_compound(low))
        )

    def is_classifier(self, word: str) -> bool:
        """A German noun saying what kind of thing follows ("Stadt", "Hackergruppe"): see ``lex.CLASSIFIERS``."""
        if self.lang != "de":
            return False
        low = word.lower()
        return low in lex.CLASSIFIERS or (low.endswith(lex.CLASSIFIER_TAILS) and self.is_compound(low))

    # -- extraction --

    def find(self, doc: Doc, covered: Sequence[tuple[int, int]]) -> list[Name]:
        """Names of ``doc``; ``covered``: sorted, non-overlapping spans of gazetteer matches."""
        text = doc.cased
        tokens, lower_words = self._tokens(doc, covered)
        found: dict[str, _Found] = {}
        for run in self._runs(tokens, text):
            for trimmed, before in self._segments(run):
                segment, title = self._classified(trimmed, before)
                name = self._name(segment, lower_words)
                if name is None:
                    continue
                first = segment[0]
                start = first.start
                # a lower-case title in front ("foreign minister Peter X", "president X")
                if not title and text[first.prev_end : start] == " " and first.prev_text.lower() in lex.TITLES:
                    title = first.prev_text.lower()
                entry = found.setdefault(name, _Found(" ".join(t.text for t in segment)))
                entry.zones.append(doc.zone(start))
                entry.sentences.append(first.sentence)
                entry.starts.append(start)
                if title and not entry.title:
                    entry.title, entry.title_at = title, start
        # a surname alone is the person named in full elsewhere in the document ("Doskozil" → hans peter doskozil)
        full = {key.rsplit(" ", 1)[-1]: key for key in found if " " in key}
        for key in [k for k in found if " " not in k and k in full]:
            alone = found.pop(key)
            target = found[full[key]]
            target.zones.extend(alone.zones)
            target.sentences.extend(alone.sentences)
            target.starts.extend(alone.starts)
            if alone.title and not target.title:
                target.title, target.title_at = alone.title, alone.title_at
        if self.lang == "de":  # one rare German word said once is more likely a rare noun than a name
            for key in [k for k, v in found.items() if " " not in k and len(v.zones) < 2 and not v.title]:
                if not _ACRONYM.fullmatch(found[key].surface):
                    del found[key]
        return [
            Name(
                id=f"name:{key}",
                surface=v.surface,
                zones=tuple(v.zones),
                sentences=tuple(v.sentences),
                title=v.title,
                starts=tuple(v.starts),
                title_at=v.title_at,
            )
            for key, v in found.items()
        ]

    def _tokens(self, doc: Doc, covered: Sequence[tuple[int, int]]) -> tuple[list[_Tok], set[str]]:
        """The words that can be part of a name (capitalised ones and connectors), in order, and every word
        starting in lower case. The other words are skipped: between two kept words they make the gap more than
        one space, which ends a run as the word itself would (``_runs``). One pass over the text, with running
        sentence and gazetteer-span pointers, because this loop sees every word of every article."""
        text = doc.cased
        sentence_starts = doc.sentence_starts
        n_sentences = len(sentence_starts)
        n_covered = len(covered)
        title_end = doc.zone_starts[1]
        keep = self._kept_lower
        tokens: list[_Tok] = []
        lower_words: set[str] = set()
        sentence = ci = 0
        prev_sentence = prev_end = -1
        prev_text = ""
        for m in _TOKEN.finditer(text):
            word = m.group()
            s = m.start()
            while sentence + 1 < n_sentences and sentence_starts[sentence + 1] <= s:
                sentence += 1
            first = word[0]
            lower = first.islower()
            if lower:
                lower_words.add(word)
            if (word in keep) if lower else first.isupper():
                abbreviated = prev_end >= 0 and prev_text.lower() in lex.ABBREVIATIONS and _after_stop(text[prev_end:s])
                initial = (
                    (sentence != prev_sentence and not abbreviated)
                    or (text[s - 1] if s else "\n") in _OPENERS
                    or s < title_end
                )
                while ci < n_covered and covered[ci][1] <= s:
                    ci += 1
                tokens.append(
                    _Tok(
                        s,
                        s + len(word),
                        word,
                        initial,
                        ci < n_covered and covered[ci][0] <= s,
                        sentence,
                        prev_text,
                        prev_end,
                    )
                )
            prev_sentence, prev_end, prev_text = sentence, s + len(word), word
        return tokens, lower_words

    def _runs(self, tokens: list[_Tok], text: str) -> Iterable[list[_Tok]]:
        """Maximal runs of capitalised words one space apart (connectors such as "of" or "von" inside)."""
        run: list[_Tok] = []
        pending: list[_Tok] = []  # connectors waiting for a capitalised word
        for tok in tokens:
            gap = text[(pending or run)[-1].end : tok.start] if run else ""
            after_abbreviation = _after_stop(gap) and run[-1].text.lower() in lex.ABBREVIATIONS
            adjacent = (gap == " " or after_abbreviation) and not tok.initial
            if tok.text[0].isupper():
                if adjacent:
                    run.extend(pending)
                    run.append(tok)
                else:
                    if run:
                        yield run
                    run = [tok]
                pending = []
            elif adjacent and self._connects(tok.text, (pending or run)[-1].text) and len(pending) < 2:
                pending.append(tok)
            else:
                if run:
                    yield run
                run, pending = [], []
        if run:
            yield run

    def _connects(self, word: str, before: str) -> bool:
        """May ``word`` join two capitalised words into one name? "of" only after a common head ("Bank of
        England", not "Sullivan of F-Secure"); "der"/"den" only after "von"/"van" ("von der Leyen")."""
        if word in ("der", "den"):
            return before in ("von", "van")
        if word == "of":
            return self.zipf(before) >= self.common - 5
        if self.lang == "de" and word in ("von", "van") and self.nounish(before):
            return False  # "die Partei von Kandidatin X": a noun, then a preposition
        return word in self.connectors

    def _segments(self, run: list[_Tok]) -> Iterable[tuple[list[_Tok], str]]:
        """Split a run at gazetteer words and titles; trim articles, dates and connectors at the ends. Yields
        each remaining segment with the title in front of it ("" = none)."""
        segment: list[_Tok] = []
        title = ""
        after_entity = False
        for tok in run:
            low = tok.text.lower()
            if tok.covered or self.is_title(tok.text) or low in lex.MONTHS_DAYS:
                # one word right next to a gazetteer name is part of it ("Sergei" Lavrov, Kaspersky "Lab"), unless
                # the name is a possessive ("South Korea's Yonhap")
                if segment and not (tok.covered and len(segment) == 1):
                    yield self._trim(segment), title
                segment = []
                title = low if not tok.covered and low not in lex.MONTHS_DAYS else ""
                after_entity = tok.covered and not tok.text.endswith("'s")
                continue
            segment.append(tok)
            if tok.text.endswith("'s"):  # a possessive ends a name ("BBC's Colin Paterson")
                yield self._trim(segment), title
                segment, title, after_entity = [], "", False
        if segment and not (after_entity and len(segment) == 1):
            yield self._trim(segment), title

    def _classified(self, segment: list[_Tok], title: str) -> tuple[list[_Tok], str]:
        """A classifier noun in front of a name is no part of it: it stands where a title would ("die Stadt
        Agadez" is ``agadez``, as the English "the city of Agadez")."""
        if len(segment) > 1 and not title and self.is_classifier(segment[0].text):
            return segment[1:], segment[0].text.lower()
        return segment, title

    def _trim(self, segment: list[_Tok]) -> list[_Tok]:
        while segment and (segment[0].text.lower() in lex.ARTICLES or segment[0].text in self.connectors):
            segment = segment[1:]
        while segment and segment[-1].text in self.connectors:
            segment = segment[:-1]
        # a common word starting a sentence is no part of a name ("Mit Servus TV", "Each Topic")
        if len(segment) > 1 and segment[0].initial and self.zipf(segment[0].text) >= self.common - 5:
            segment = segment[1:]
        # a German genitive name before the noun it qualifies ("Doskozils Vorschlag"): the name ends there
        # (German names ending in s, x or z take an apostrophe instead, so the s goes whatever the name's ending)
        if self.lang == "de" and len(segment) >= 2:
            gen, noun = segment[-2], segment[-1]
            if (
                len(gen.text) >= 4
                and gen.text.endswith("s")
                and not gen.text.endswith("ss")
                and not gen.text.isupper()
                and self.zipf(noun.text) >= self.rare_de
                and not noun.text.isupper()
            ):
                return [*segment[:-2], dataclasses.replace(gen, text=gen.text[:-1], genitive=True)]
        return segment

    def _name(self, segment: list[_Tok], lower_words: set[str]) -> str | None:
        """The id key of a segment, or None when it is not name-like."""
        words = [t for t in segment if t.text not in self.connectors]
        if not words:
            return None
        if len(words) == 1:
            if not self._single(words[0], lower_words):
                return None
        elif not self._phrase(words, lower_words):
            return None
        parts = [t.text for t in segment]
        last = parts[-1]
        if last.endswith(("'s", "'")):
            last = last[:-2] if last.endswith("'s") else last[:-1]
        elif (
            self.lang == "de"
            and not segment[-1].genitive
            and _genitive(last)
            and (len(words) > 1 or self.zipf(last[:-1]) > 0 or len(last) > 6)
        ):
            last = last[:-1]
        parts[-1] = last
        key = " ".join(" ".join(parts).lower().replace("-", " ").replace("'", " ").split())
        return key if len(key) >= 3 else None

    def _single(self, tok: _Tok, lower_words: set[str]) -> bool:
        word = tok.text
        if _ACRONYM.fullmatch(word):
            return self.zipf(word) < 45
        if len(word) < 3 or word.lower() in lower_words or word.lower().rstrip("s") in lower_words:
            return False
        z = self.zipf(word.rstrip("'s") if word.endswith("'s") else word)
        if self.lang == "de":
            low = word.lower()
            if "-" in low and self.nounish(low.rsplit("-", 1)[1]):
                return False  # "OBIB-Mitarbeiter", "SPÖ-Mandatar": a compound noun
            return (
                z < self.rare_de and not low.endswith(lex.NOUN_SUFFIXES) and not self.is_compound(low.removesuffix("s"))
            )
        # English: a capitalised word inside a sentence that is not a very common word; at a sentence start only a
        # rare one ("Szijjarto and ..."), and not a rare adverb of a known word ("Temperamentally, he ...")
        if tok.initial:
            return z < self.rare_de and not self._adverb(word)
        return z < self.common

    def _adverb(self, word: str) -> bool:
        """An English adverb made from a known, commoner adjective ("temperamental-ly", "tell-ing-ly", "hast-i-ly"
        from "hasty"): what starts a sentence as a capital without being a name. Names ending in -ly have no such
        base ("Kelly", "Donnelly") or one that is no adjective ("Blakely")."""
        low = word.lower()
        if not low.endswith("ly") or len(low) < 7:
            return False
        base = low[:-2]
        if base.endswith("i"):
            base = base[:-1] + "y"
        elif not base.endswith(_ADJECTIVE_ENDINGS):
            return False
        z = self.zipf(base)
        return z >= self.part and z > self.zipf(low)

    def _phrase(self, words: list[_Tok], lower_words: set[str]) -> bool:
        zipfs = [self.zipf(t.text.removesuffix("'s")) for t in words]
        if any(t.text.lower() in lower_words for t in words[1:]):
            return False
        if self.lang == "de":
            if all(z >= self.phrase_common_de for z in zipfs):
                return False
            return not any(
                self.nounish(t.text, last=i == len(words) - 1)
                for i, t in enumerate(words)
                if not _ACRONYM.fullmatch(t.text)
            )
        # English: the last word must not be a common word, nor a sentence-initial first word ("Each Topic")
        if zipfs[-1] >= self.common:
            return False
        return not (words[0].initial and zipfs[0] >= self.common - 5)


def _genitive(word: str) -> bool:
    return (
        len(word) >= 4
        and word.endswith("s")
        and not word.endswith(("ss", "us", "is", "os", "as"))
        and not word.isupper()
    )


def _after_stop(gap: str) -> bool:
    """A full stop and white space: what separates an abbreviation from the next word ("Mr. Zeman")."""
    return len(gap) >= 2 and gap[0] == "." and gap[1:].isspace()
