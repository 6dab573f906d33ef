"""Pages that hold text but no article: text that is no words (:func:`junk_text`), a consent wall (the cookie
and tracking notice some publishers serve instead of the article to a client without their consent cookie, as
this pipeline's fetcher always is), and a "soft 404" (a not-found page served with status 200, often with teasers
of other articles).

Indexed, such a page is harmful, not only useless: its text is the same on every URL of the publisher, so each
becomes an "article" that near-duplicates the others (marking real articles fetched later as copies) and one
story groups a whole site. So :func:`consent_wall` and :func:`not_found_page` recognise them from the extracted
text alone, in English and German, and extraction skips them as ``extract:consent_wall`` and
``extract:soft_404`` (counted, and the raw page stays in the archive for a replay).

The test is conservative, because an article *about* cookies, tracking or the GDPR must never go: most of the
sentences must be the notice's own, a consent phrase said to the reader (what we and our partners store on your
device, accept or reject all, manage your preferences, read with ads or subscribe ad-free), where news about
consent rules, however close in words, reports in the third person; and the page must be short, as notices
are. Measured on 2,880 real articles and the 439 bench pages:
``python -m evaluation.pagekind``.
"""

from __future__ import annotations

import re

#: Phrases of consent notices (lower-cased text). Each names the notice's own business: the reader's device,
#: the site's partners, the buttons, the choice between ads and a subscription.
_CONSENT = re.compile(
    "|".join(
        [
            # English
            r"\bcookies?\b[^.!?]{0,80}\b(?:accept|consent|settings|preferences|partners|tracking|personali[sz]ed)",
            r"\b(?:accept|consent|settings|preferences|partners|tracking)\b[^.!?]{0,80}\bcookies?\b",
            r"\b(?:accept|reject|refuse|decline) all\b",
            r"\bmanage (?:your )?(?:privacy |cookie |consent )?(?:preferences|settings|choices|options)\b",
            r"\b(?:store and/or access|access and/or store|store or access) information on (?:a|your) device\b",
            r"\bpersonali[sz]ed (?:ads|advertising|content)\b",
            r"\b(?:ad|advertising) and content measurement\b",
            r"\blegitimate interests?\b",
            r"\b(?:withdraw|change) your (?:consent|preferences)\b",
            r"\bwe and our (?:\d+ )?(?:partners|vendors)\b",
            r"\bprivacy (?:settings|center|centre|choices|dashboard|button)\b",
            r"\bdo not sell (?:or share )?my personal information\b",
            # German
            r"\bcookies?\b[^.!?]{0,80}\b(?:akzeptier|zustimm|einstellung|partner|tracking|einwillig)",
            r"\balle (?:akzeptieren|ablehnen|zulassen)\b",
            r"\b(?:zustimmen|akzeptieren|einverstanden) und weiter\b",
            r"\bdatenschutz(?:einstellungen|-einstellungen|erklärung|hinweise|center)\b",
            r"\bberechtigte[mns]? interesse",
            r"\binformationen auf (?:ihrem|einem) (?:endgerät|gerät)\b",
            r"\bauf ihrem (?:endgerät|gerät) (?:speichern|zu|gespeichert)",
            r"\bpur-?abo\b",
            r"\b(?:mit|ohne) werbung und (?:ohne )?tracking\b",
            r"\bwir und unsere (?:\d+ )?(?:partner|drittanbieter)\b",
            r"\bihre einwilligung\b",
            r"\bwiderspruchsrecht",
            r"\bpersonenbezogene(?:n)? daten\b[^.!?]{0,80}\b(?:verarbeit|partner|gerät)",
        ]
    )
)
#: A notice speaks to its reader ("we and our partners", "your device"; "Sie", "Ihre"), news reports in the third
#: person: a sentence counts only with such an address. German "Sie" at a sentence's start may be "they", and
#: lower-case "ihr(e)" is "her"/"their", so those do not count.
_ADDRESS_EN = re.compile(r"\b(?:you|your|we|our|us)\b", re.IGNORECASE)
_ADDRESS_DE = re.compile(r"\b(?:Ihr|Ihre|Ihrem|Ihren|Ihrer|Ihres)\b|(?<=\w )Sie\b|\b(?:[Ww]ir|[Uu]nser[emnrs]?)\b")
#: A sentence ends at . ! ? or a line break, before a space and what starts a new one.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'„“(]?[A-ZÄÖÜ0-9])|\n+")
#: Fragments shorter than this many words (a button, "Jetzt abonnieren.") are not counted either way.
_MIN_WORDS = 4
#: A notice is short; an article that long is not one, whatever it quotes.
MAX_CHARS = 4_000
#: Share of the counted sentences that must be the notice's own, and their least number.
MIN_SHARE = 0.5
MIN_SENTENCES = 2


def consent_wall(title: str, body: str) -> bool:
    """Whether ``title`` + ``body`` (as extracted) is a consent notice, not an article."""
    if len(body) > MAX_CHARS:
        return False
    notice, counted = notice_sentences(title, body)
    return notice >= MIN_SENTENCES and notice / counted >= MIN_SHARE if counted else False


def notice_sentences(title: str, body: str) -> tuple[int, int]:
    """(sentences of a consent notice, sentences counted) in ``title`` + ``body``: what :func:`consent_wall`
    judges, and ``make eval-pagekind`` prints as the margin."""
    sentences = [s for s in _SENTENCE_END.split(f"{title}\n{body}") if len(s.split()) >= _MIN_WORDS]
    return sum(1 for s in sentences if _is_notice(s)), len(sentences)


def _is_notice(sentence: str) -> bool:
    """A sentence of a notice: a consent phrase, said to the reader."""
    return bool(_CONSENT.search(sentence.lower()) and (_ADDRESS_EN.search(sentence) or _ADDRESS_DE.search(sentence)))


#: A not-found page says so in its headline ...
_NOT_FOUND_TITLE = re.compile(
    r"\b(?:404|page not found|not found|seite nicht gefunden|nicht gefunden|page (?:does not|doesn't) exist"
    r"|seite existiert nicht|seite nicht verfügbar|page unavailable|content unavailable)\b",
    re.IGNORECASE,
)
#: ... and in a sentence about the page the reader asked for.
_NOT_FOUND_TEXT = re.compile(
    r"\b(?:page|article|content|url|address|link|seite|artikel|inhalt|adresse)\b[^.!?]{0,100}"
    r"(?:(?:could|can)(?:not| not|n't) be found|not (?:be )?found|no longer (?:exists|available)|does(?: not|n't) exist"
    r"|(?:has|have|may have) been (?:moved|removed|deleted)|never (?:have )?existed"
    r"|nicht (?:mehr )?(?:gefunden|verfügbar|vorhanden|erreichbar)|existiert (?:leider )?(?:nicht|nicht mehr)"
    r"|wurde (?:leider )?(?:entfernt|verschoben|gelöscht))",
    re.IGNORECASE,
)
#: A not-found page is short: its teasers are a few headlines, never an article's length.
MAX_NOT_FOUND_CHARS = 1_500


def not_found_page(title: str, body: str) -> bool:
    """Whether ``title`` + ``body`` is a not-found page served as a page (a "soft 404"): its headline says not
    found and so does its text, within :data:`MAX_NOT_FOUND_CHARS`. An article about an error page has the
    words but not the shortness, or not both."""
    if len(body) > MAX_NOT_FOUND_CHARS:
        return False
    return bool(_NOT_FOUND_TITLE.search(title) and _NOT_FOUND_TEXT.search(body[:600]))


#: A "word" longer than this in ASCII is no word of any language (German's long compounds stay under 80): an
#: encoded blob, a run of one character, a minified script that leaked into the text.
MAX_WORD_CHARS = 100
#: Text is junk when such tokens are at least this share of its non-space characters.
JUNK_SHARE = 0.5
_SPACE = re.compile(r"\s+")


def junk_share(body: str) -> float:
    """The share of ``body``'s non-space characters that are ASCII tokens longer than :data:`MAX_WORD_CHARS`.
    Scripts written without spaces (Chinese, Japanese, Thai) are not ASCII, so they never count."""
    tokens = _SPACE.split(body)
    total = sum(len(t) for t in tokens)
    junk = sum(len(t) for t in tokens if len(t) > MAX_WORD_CHARS and t.isascii())
    return junk / total if total else 0.0


def junk_text(body: str) -> bool:
    """Whether ``body`` is mostly no words at all (a page whose text is one 3 MB token was built into an
    "article" of word count 1, with a language guessed from noise)."""
    return junk_share(body) >= JUNK_SHARE


__all__ = [
    "JUNK_SHARE",
    "MAX_CHARS",
    "MAX_NOT_FOUND_CHARS",
    "MAX_WORD_CHARS",
    "MIN_SENTENCES",
    "MIN_SHARE",
    "consent_wall",
    "junk_share",
    "junk_text",
    "not_found_page",
    "notice_sentences",
]
