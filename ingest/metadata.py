"""What outlets write about themselves into a page's metadata, taken out after trafilatura: their name in titles
("LTE-Patent: Samsung soll Smartphones zerstören - Golem.de" → "LTE-Patent: …") and in bylines.

Publishers put their name into ``og:title`` and ``<title>`` ("… | CBC News", "…：朝日新聞デジタル", "… - Israel
Nachrichten - Chadashoth Israel"), and trafilatura keeps it. Analysts then read the outlet in every headline in
Kibana, and two pieces of one outlet share their strongest title words. A segment is cut only when it names the
site: the page's own site name or its host's name, compared without case, accents, spaces and punctuation.
Shortening by length alone would also cut real headline segments ("… - und viele offene Fragen"). Bylines lose the
same names, the publishing company ("… GmbH") and the words around names ("Autor", "Journalist").
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

#: Between a headline and the outlet's name: spaced dashes, bars, bullets, guillemets, "::", and the CJK forms
#: written without spaces (full-width colon and bar, "--").
_SEPARATOR = re.compile(r"\s+(?:[|–—«»•·]|-|::)\s+|\s*[：｜]\s*|\s*--\s*")
#: Host labels that are no outlet's name: second-level registry labels (``co.uk``, ``com.au``) and common hosts.
_NOT_A_NAME = frozenset({"www", "m", "amp", "mobile", "news", "co", "com", "org", "net", "ac", "gov", "or", "ne"})
#: A site name longer than this is a page's title or slogan put in ``og:site_name``, not a name to look for.
_MAX_SITE_CHARS = 40
#: A key shorter than this matches only a whole segment (never as its start or end: "CBC" in "CBC News" is fine,
#: two letters are not).
_MIN_PARTIAL_KEY = 3
#: A partial match ("CBC News" for the site "CBC") is at most this many words: longer segments are headline text.
_MAX_PARTIAL_WORDS = 4
#: A site name this long is no everyday word: it may start or end a longer segment without more checks.
_LONG_KEY = 8
#: Words that follow or precede an outlet's name in its own segment ("CBC News", "NTV Haber", "Golem.de").
_PUBLISHER_WORDS = frozenset(
    {"news", "online", "nachrichten", "haber", "digital", "tv", "live", "aktuell", "daily", "today", "times", "post",
     "zeitung", "magazin", "magazine", "media", "com", "net", "org", "info", "plus", "the", "die", "der", "das"}
)  # fmt: skip
_WORD = re.compile(r"\w+")
#: What separates a site name written in front of the headline from it.
_LEADING_PUNCTUATION = re.compile(r"^\s*[:|–—-]\s*")
#: What must stay of a headline after a cut.
_MIN_HEADLINE_WORDS = 2


def fold(text: str) -> str:
    """Lower case, no accents, letters and digits only: "Seznam Zprávy" and "Seznam_Zpravy" are one key."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum())


def site_keys(site_name: str | None, url: str | None) -> frozenset[str]:
    """Folded names of the outlet: its site name (each part of "Berliner Morgenpost, Berlin, Germany"; of an
    overlong one, only the last) and its host's registrable label (``golem`` of ``www.golem.de``,
    ``thegatewaypundit`` of its ``.com``)."""
    keys: set[str] = set()
    parts = _SEPARATOR.split(site_name or "") + (site_name or "").split(",")
    if len(site_name or "") > _MAX_SITE_CHARS:
        # a page's title put in og:site_name, with the outlet's name (if any) last: "… - Tageblatt.lu"
        parts = _SEPARATOR.split(site_name or "")[-1:]
    for part in parts:
        part = part.strip()
        if part and len(part) <= _MAX_SITE_CHARS:
            keys.add(fold(part))
    host = (urlsplit(url).hostname or "") if url else ""
    labels = [label for label in host.split(".")[:-1] if label and label not in _NOT_A_NAME]
    if labels:
        keys.add(fold(labels[-1]))
    return frozenset(k for k in keys if k)


def _names_site(segment: str, keys: frozenset[str], *, partial: bool) -> bool:
    folded = fold(segment)
    if not folded:
        return False
    if folded in keys:
        return True
    if not partial or len(segment.split()) > _MAX_PARTIAL_WORDS:
        return False
    words = [fold(w) for w in _WORD.findall(segment)]
    return any(_holds_key(folded, words, key) for key in keys)


def _holds_key(folded: str, words: list[str], key: str) -> bool:
    """Whether a segment is the site's name with more around it ("CBC News", "Golem.de", "Die Neue Südtiroler
    Tageszeitung") or a part of it ("WELT" of "DIE WELT"). A short name is often a word too ("Zeit", "Kicker"): the
    rest of the segment must then be publisher's words ("News", ".de"), or "Zeit für Reformen" would be the site."""
    if len(folded) >= _MIN_PARTIAL_KEY + 1 and (key.startswith(folded) or key.endswith(folded)):
        return True
    if len(key) < _MIN_PARTIAL_KEY or not (folded.startswith(key) or folded.endswith(key)):
        return False
    if len(key) >= _LONG_KEY:
        return True
    rest = [w for w in words if w and w not in key]
    return all(w in _PUBLISHER_WORDS or len(w) <= 2 for w in rest)


def strip_site(title: str, site_name: str | None, url: str | None) -> str:
    """``title`` without the segments that name its site, and without what follows them (taglines, bylines).

    The cut is at the first segment after the headline that names the site: exactly, or (the last segment only,
    up to four words) by starting or ending with one of its names ("CBC News", "Die Neue Südtiroler
    Tageszeitung"), or by being the start or end of one ("WELT" of "DIE WELT"). A first segment that is exactly
    the site's name goes too. The title is kept whole when less than two words of headline would stay.
    """
    if site_name and len(site_name) < len(title) and title.casefold().startswith(site_name.casefold()):
        # the whole site name, taglines and all, in front: "LinkNaija | Nigeria's popular news platform: ..."
        rest = _LEADING_PUNCTUATION.sub("", title[len(site_name) :], count=1)
        if rest != title[len(site_name) :] and len(rest.split()) >= _MIN_HEADLINE_WORDS:
            title = rest
    keys = site_keys(site_name, url)
    if not keys or not title:
        return title
    cuts = list(_SEPARATOR.finditer(title))
    if not cuts:
        return title
    starts = [0] + [m.end() for m in cuts]
    ends = [m.start() for m in cuts] + [len(title)]
    segments = [title[s:e] for s, e in zip(starts, ends, strict=True)]
    out = title
    for i in range(1, len(segments)):
        if _names_site(segments[i], keys, partial=i == len(segments) - 1):
            out = title[: ends[i - 1]]
            break
    if len(segments) > 1 and fold(segments[0]) in keys:
        rest = out[starts[1] :]
        if len(rest.split()) >= _MIN_HEADLINE_WORDS:
            out = rest
    out = out.strip()
    return out if len(out.split()) >= _MIN_HEADLINE_WORDS or _is_unspaced(out) else title


#: Titles that name no article: what a template writes on every page ("Home | Site", "Startseite - Site").
_PLACEHOLDER_WORDS = frozenset(
    {"home", "homepage", "start", "startseite", "index", "untitled", "welcome", "willkommen", "news", "nachrichten",
     "aktuelles", "article", "artikel"}
)  # fmt: skip


def placeholder_title(title: str | None, site_name: str | None, url: str | None) -> bool:
    """Whether ``title`` names no article: empty, or every segment of it is the site's name or a template word
    ("Home", "Startseite"). A page's real headline is then elsewhere (its ``<h1>``)."""
    segments = [fold(part) for part in _SEPARATOR.split(title or "")]
    segments = [s for s in segments if s]
    if not segments:
        return True
    keys = site_keys(site_name, url)
    return all(s in keys or s in _PLACEHOLDER_WORDS for s in segments)


def _is_unspaced(text: str) -> bool:
    """Chinese and Japanese headlines have no spaces between words: count them as long enough when they are."""
    return len(text) >= 6 and " " not in text.strip()


#: A byline entry that is a company (the publisher), not a person: "… GmbH", "Nikkei Inc", "… S.L.".
_COMPANY = re.compile(r"(?:^|\s)(?:(?i:gmbh|inc|ltd|llc|plc|corp)\.?|AG|KG|A/S|S\.A\.|S\.L\.|SA|SL)$")
#: Words written before a name in bylines ("Autor Monika Beispiel", "Von Jana Muster").
_BYLINE_PREFIX = re.compile(r"^(?:autor(?:in)?|autoren|text|von|by)\s+(?=\S)", re.IGNORECASE)
#: Byline entries that are a role or a desk, not a person.
_ROLES = frozenset(
    {"red", "redaktion", "journalist", "journalistin", "reporter", "reporterin", "staff", "agenturen", "agentur"}
)
#: "and" between two names where trafilatura splits on English and German only (Danish/Norwegian, Swedish).
_AND = re.compile(r"\s+(?:og|och)\s+")


def clean_authors(authors: tuple[str, ...], site_name: str | None, url: str | None) -> tuple[str, ...]:
    """``authors`` without role words, prefixes and the publishing company, and without the outlet's name beside a
    person's (alone, it is the byline: "DER SPIEGEL"); "A og B" split."""
    keys = site_keys(site_name, url)
    people: list[str] = []
    outlet: list[str] = []
    for entry in authors:
        for part in _AND.split(entry):
            name = _BYLINE_PREFIX.sub("", part.strip())
            if not name or fold(name) in _ROLES or _COMPANY.search(name):
                continue
            named = outlet if keys and _names_site(name, keys, partial=True) else people
            if name not in named:
                named.append(name)
    # the outlet as the only author is the byline ("DER SPIEGEL", "dpa"); beside a person it is the site again
    return tuple(people or outlet)
