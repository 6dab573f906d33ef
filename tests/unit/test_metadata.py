"""Titles and bylines without the outlet's name (:mod:`ingest.metadata`), and the extraction stage that applies it."""

from __future__ import annotations

import pytest

from ingest.config import ExtractionOptions
from ingest.extraction import extract
from ingest.metadata import clean_authors, fold, site_keys, strip_site

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("title", "site", "url", "expected"),
    [
        # the site's name, exactly, after the headline
        (
            "Flotte stoppt Frachter vor der Küste - Nordblatt",
            "Nordblatt",
            "https://www.nordblatt.example/a",
            "Flotte stoppt Frachter vor der Küste",
        ),
        # the host's name when the page names its site differently ("Nordredaktion")
        (
            "Flotte stoppt Frachter vor der Küste - Nordblatt.de",
            "Nordredaktion",
            "https://www.nordblatt.de/a",
            "Flotte stoppt Frachter vor der Küste",
        ),
        # accents, case and punctuation do not matter
        (
            "Vláda schválila rozpočet - Denní Zprávy",
            "Denni_Zpravy",
            "https://www.dennizpravy.example/c",
            "Vláda schválila rozpočet",
        ),
        # a last segment that starts or ends with the site's name
        (
            "Harbour strike ends after two weeks | Bay News",
            "Bay",
            "https://www.bay.example/n",
            "Harbour strike ends after two weeks",
        ),
        (
            "„Ein langer Abend“ - Die Neue Talzeitung",
            "talzeitung.example",
            "https://www.talzeitung.example/x",
            "„Ein langer Abend“",
        ),
        # and everything after the site's segment: taglines, bylines
        (
            "Court hears the appeal | The Daily Lantern | by A. Writer",
            "Lights On",
            "https://www.thedailylantern.example/p",
            "Court hears the appeal",
        ),
        (
            "Minister tritt zurück - Stadtbote - Nachrichten aus der Region",
            "Stadtbote - Nachrichten aus der Region",
            "https://stadtbote.example/",
            "Minister tritt zurück",
        ),
        # CJK separators without spaces
        (
            "港で火災、けが人なし：港町新聞デジタル",
            "港町新聞デジタル",
            "https://www.minato.example/a",
            "港で火災、けが人なし",
        ),
        # the whole site name in front
        (
            "Bay Times | Your daily news: Ferry service resumes",
            "Bay Times | Your daily news",
            "https://baytimes.example/f",
            "Ferry service resumes",
        ),
    ],
)
def test_the_outlets_name_goes(title: str, site: str, url: str, expected: str) -> None:
    assert strip_site(title, site, url) == expected


@pytest.mark.parametrize(
    ("title", "site", "url"),
    [
        # headline segments that do not name the site stay, however short
        ("Zwei Rücktritte - und viele offene Fragen", "Tagesblatt", "https://www.tagesblatt.example/a"),
        ("Die Eisheiligen: Wann sie sind - und wie das Wetter wird", "Ruhrbote", "https://ruhrbote.example/"),
        # a headline segment that starts with the site's name, but not as the last one or longer than a name
        ("Pokal - Kicker kritisiert den Schiedsrichter scharf", "Kicker", "https://www.kicker.example/a"),
        # a short site name that is an everyday word, at the start or end of a headline segment
        ("Die Regierung legt vor - Zeit für Reformen", "ZEIT ONLINE", "https://www.zeit.example/a"),
        ("Die Kanzlerin zögert - Eine Frage der Zeit", "ZEIT ONLINE", "https://www.zeit.example/a"),
        # less than two words of headline would stay
        ("Trump - Harbour News", "Harbour News", "https://harbournews.example/"),
        # no separator at all
        ("Harbour News reports record traffic", "Harbour News", "https://harbournews.example/"),
        # a two-letter host name is no key to look for inside a segment
        ("Budget talks stall | MK Daily", None, "https://www.mk.example/"),
        # a site name that is really the page's title is not looked for
        (
            "Ferry service resumes - after storm damage",
            "Ferry service resumes - after storm damage and more words than a name",
            None,
        ),
    ],
)
def test_headlines_stay(title: str, site: str | None, url: str | None) -> None:
    assert strip_site(title, site, url) == title


def test_keys_come_from_the_site_name_and_the_host() -> None:
    keys = site_keys("Berliner Morgenbote, Berlin, Germany", "https://www.morgenbote.co.uk/a")
    assert {"berlinermorgenbote", "berlin", "germany", "morgenbote"} <= keys
    assert "co" not in keys and "www" not in keys
    assert fold("Seznam_Zprávy") == fold("seznam zpravy") == "seznamzpravy"


PAGE = """<!doctype html><html lang="en"><head>
<meta property="og:title" content="Ferry service resumes after the storm - Harbour Times">
<meta property="og:site_name" content="Harbour Times"></head><body><article><h1>Ferry service resumes</h1>
<p>The ferry between the two islands runs again from Monday, the operator said, after the storm damaged the pier
last week. Engineers repaired the landing stage over the weekend and inspectors approved it on Sunday.</p>
<p>Passengers with tickets for cancelled crossings can use them until the end of the month, the operator added.</p>
</article></body></html>"""


def test_extraction_cuts_the_site_unless_told_not_to() -> None:
    url = "https://www.harbourtimes.example/ferry"
    assert extract(PAGE, url=url).title == "Ferry service resumes after the storm"
    kept = extract(PAGE, url=url, options=ExtractionOptions(clean_metadata=False))
    assert kept.title == "Ferry service resumes after the storm - Harbour Times"


@pytest.mark.parametrize(
    ("authors", "expected"),
    [
        # the outlet and its company beside a person: the person
        (("Harbour Times", "Jana Muster"), ("Jana Muster",)),
        (("Harbour Times Verlag GmbH", "Jana Muster"), ("Jana Muster",)),
        (("Jana Muster", "Harbour Media Inc"), ("Jana Muster",)),
        # the outlet alone is the byline
        (("Harbour Times",), ("Harbour Times",)),
        # words around names, and roles that are no one
        (("Autorin Jana Muster", "Journalist", "Red"), ("Jana Muster",)),
        (("Von Jana Muster",), ("Jana Muster",)),
        # "and" in Danish/Norwegian and Swedish
        (("Jana Muster og Ole Beispiel",), ("Jana Muster", "Ole Beispiel")),
        (("Jana Muster och Ole Beispiel",), ("Jana Muster", "Ole Beispiel")),
        # names that merely contain such words stay
        (("Agathe Redford", "Tim Bystrom"), ("Agathe Redford", "Tim Bystrom")),
        ((), ()),
    ],
)
def test_bylines_name_people(authors: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert clean_authors(authors, "Harbour Times", "https://www.harbourtimes.example/a") == expected


BYLINE_PAGE = PAGE.replace(
    '<meta property="og:site_name" content="Harbour Times">',
    '<meta property="og:site_name" content="Harbour Times"><meta name="author" content="Harbour Times; Jana Muster">',
)


def test_extraction_cleans_the_byline_unless_told_not_to() -> None:
    url = "https://www.harbourtimes.example/ferry"
    assert extract(BYLINE_PAGE, url=url).authors == ("Jana Muster",)
    raw = extract(BYLINE_PAGE, url=url, options=ExtractionOptions(clean_metadata=False))
    assert raw.authors == ("Harbour Times", "Jana Muster")
