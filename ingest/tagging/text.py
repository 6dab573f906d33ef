"""Text folding, zones and sentences: what every other tagging module reads.

Matching runs on accent-folded text (``Pjöngjang`` → ``Pjongjang``, ``ß`` → ``ss``) so that one alias serves
every spelling; folding keeps offsets one-to-one with the folded text, and a document keeps a cased and a
lower-cased copy of it (case-sensitive terms such as ``US`` read the first).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Mapping

#: The zones of a document, in reading order; a term's weight depends on the zone it is found in.
ZONES: tuple[str, ...] = ("title", "lead", "body")
#: Languages the data files have terms for (``terms_<lang>``); anything else is guessed as one of them.
LANGUAGES: tuple[str, ...] = ("en", "de")

_REPLACE: tuple[tuple[str, str], ...] = (
    ("ß", "ss"),
    ("ẞ", "SS"),
    ("’", "'"),
    ("‘", "'"),
    ("–", "-"),
    ("—", "-"),
    ("‑", "-"),
    ("ø", "o"),  # letters with a stroke do not decompose
    ("Ø", "O"),
    ("ł", "l"),
    ("Ł", "L"),
    ("đ", "d"),
    ("Đ", "D"),
    ("ı", "i"),
)
#: Combining accents (after NFKD) and invisible format characters inside words: soft hyphen, Mongolian vowel
#: separator, zero-width space / non-joiner / joiner, direction marks and overrides, word joiner and invisible
#: operators, BOM. A "Cyber\u200cangriff" is a Cyberangriff to a reader, so it is one to the tagger.
_DROPPED = re.compile(r"[\u0300-\u036f\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def fold(text: str) -> str:
    """Strip accents and normalise punctuation, keeping case (``Pjöngjang`` → ``Pjongjang``)."""
    if text.isascii():
        return text
    for char, replacement in _REPLACE:
        if char in text:
            text = text.replace(char, replacement)
    return _DROPPED.sub("", unicodedata.normalize("NFKD", text))


#: A dateline: up to five capitalised place words (joined by spaces or slashes), an optional agency in brackets,
#: then a dash, at the start of the text or of a sentence (text is folded: en/em dashes are plain hyphens).
DATELINE = re.compile(
    r"(?:^|(?<=[.!?:;\"'»«“”)]\s)|(?<=\n))(?P<place>[A-Z][\w.'-]*(?:\s?/\s?[A-Z][\w.'-]*|\s[A-Z][\w.'-]*){0,4})"
    r"(?:\s\([^()\n]{1,40}\))?\s?-\s"
)
#: How far into the lead a dateline may start (after a subtitle sentence or two).
DATELINE_WINDOW = 600
SENTENCE_END = re.compile(r"(?<=[.!?:;])[\"'»«“”)]*\s+|\n\s*")
_DE_HINTS = re.compile(r"\b(?:der|die|das|und|ist|nicht|mit|von|den|ein|eine|sich|auch|auf|dass)\b")
_EN_HINTS = re.compile(r"\b(?:the|and|is|of|to|that|with|for|was|are|has|have|this|from)\b")


def guess_language(text: str) -> str:
    """Cheap en/de guess from function words (only used when the caller does not know the language)."""
    sample = text[:3000].lower()
    return "de" if len(_DE_HINTS.findall(sample)) > len(_EN_HINTS.findall(sample)) else "en"


def normalise_language(language: str | None, text: str) -> str:
    if language:
        code = language.strip().lower().replace("_", "-").split("-", 1)[0]
        if code in LANGUAGES:
            return code
    return guess_language(text)


class Doc:
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
        self.sentence_starts = [0] + [m.end() for m in SENTENCE_END.finditer(self.cased)]

    def zone(self, pos: int) -> str:
        return ZONES[bisect_right(self.zone_starts, pos) - 1]

    def sentence(self, pos: int) -> int:
        return bisect_right(self.sentence_starts, pos) - 1


def split_zones(title: str, body: str, description: str, lead_chars: int) -> dict[str, str]:
    """The zones of an article: the description is the lead; without one, the first whole sentences of the
    body up to ``lead_chars`` characters are."""
    body = body or ""
    description = (description or "").strip()
    if description:
        return {"title": title or "", "lead": description, "body": body}
    cut = 0
    for m in SENTENCE_END.finditer(body):
        if m.end() > lead_chars and cut:
            break
        cut = m.end()
        if cut >= lead_chars:
            break
    if cut == 0 or cut >= len(body):
        cut = min(len(body), lead_chars) if len(body) > lead_chars else len(body)
    return {"title": title or "", "lead": body[:cut], "body": body[cut:]}
