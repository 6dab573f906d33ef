"""Consent walls and not-found pages served as pages are recognised and skipped; articles about cookies,
tracking, consent and outages are not (all texts written for these tests)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ingest.errors import JunkText, NotAnArticle, SoftNotFound
from ingest.extraction import extract
from ingest.pagekind import consent_wall, junk_text, not_found_page
from tests.conftest import shared_path

pytestmark = pytest.mark.unit

WALL_EN = (
    "We value your privacy",
    "We and our 842 partners store and/or access information on a device, such as cookies, and process personal "
    "data, such as unique identifiers and standard information sent by a device, for personalised advertising and "
    "content, advertising and content measurement, audience research and services development.\n"
    "With your permission we and our partners may use precise geolocation data and identification through device "
    "scanning. You may click to consent to our and our partners' processing as described above.\n"
    "Please note that some processing of your personal data may not require your consent, but you have a right to "
    "object to such processing based on legitimate interest. You can change your preferences or withdraw your "
    "consent at any time by returning to this site.\nAccept all\nReject all\nManage preferences",
)
WALL_EN_SHORT = (
    "Before you continue",
    "We use cookies and data to deliver and maintain our services and to show personalised ads. If you choose "
    "Accept all, we will also use cookies to develop new services. Select Reject all to decline these uses, or "
    "manage your privacy settings at any time.",
)
WALL_DE = (
    "Lesen Sie testzeitung.de mit Werbung oder im Pur-Abo. Sie haben die Wahl.",
    "Besuchen Sie testzeitung.de wie gewohnt mit Werbung und Tracking. Details zum Tracking finden Sie in der "
    "Datenschutzerklärung und im Privacy Center.\nWir und unsere Partner speichern und/oder greifen auf "
    "Informationen auf Ihrem Gerät zu, beispielsweise auf Kennungen in Cookies, um personenbezogene Daten zu "
    "verarbeiten. Sie können Ihre Auswahl annehmen oder verwalten, einschließlich Ihres Widerspruchsrechts bei "
    "berechtigtem Interesse.\nIhre Einwilligung können Sie jederzeit über die Datenschutzeinstellungen am Ende "
    "jeder Seite widerrufen.\nZustimmen und weiter\nOder lesen Sie testzeitung.de im Pur-Abo ohne Werbung und "
    "ohne Tracking für 2,99 Euro im Monat. Jetzt abonnieren.",
)
#: news about the very things a notice is made of: must stay articles
ARTICLE_EN = (
    "EU court rules pre-ticked cookie boxes are not valid consent",
    "Europe's top court ruled on Tuesday that websites must obtain active consent before storing cookies on "
    "users' devices, in a case brought by German consumer groups against the lottery company Planet49. A "
    "pre-ticked checkbox does not amount to consent under EU law, the Court of Justice said. The company had "
    "used such a box to let advertising partners track participants. Consumer advocates welcomed the ruling, "
    "saying it would force many publishers to redesign the banners that ask readers to accept all cookies. "
    "Industry groups warned that advertising revenue could fall. The case now returns to Germany's Federal "
    "Court of Justice, which had asked for the ruling.",
)
ARTICLE_DE = (
    "Datenschützer gehen gegen Cookie-Banner vor",
    "Die Datenschutzbehörden mehrerer Bundesländer haben Verfahren gegen große Nachrichtenseiten eingeleitet. "
    "Sie werfen ihnen vor, Leser mit irreführenden Cookie-Bannern zur Einwilligung zu drängen. Der Knopf "
    "'Alle akzeptieren' sei oft größer und farbiger als die Ablehnung, sagte der Hamburger Datenschutzbeauftragte "
    "am Montag. Die Verlage verweisen auf ihre Pur-Abos als Alternative. Verbraucherschützer halten das Modell "
    "für rechtswidrig, weil Leser dann für ihre Privatsphäre bezahlen müssten. Eine Entscheidung des "
    "Bundesverwaltungsgerichts wird im Herbst erwartet.",
)


def test_an_article_followed_by_its_sites_cookie_notice_is_an_article() -> None:
    title, body = ARTICLE_EN
    assert not consent_wall(title, body + "\n" + WALL_EN_SHORT[1])


def test_a_long_page_is_never_a_wall() -> None:
    title, body = WALL_EN
    assert not consent_wall(title, " ".join([body] * 5))


def test_extraction_skips_a_consent_wall_with_its_reason() -> None:
    title, body = WALL_DE
    paragraphs = "".join(f"<p>{line}</p>" for line in body.split("\n"))
    head = f"<html lang=de><head><title>{title}</title></head>"
    page = f"{head}<body><main><h1>{title}</h1>{paragraphs}</main></body></html>"
    with pytest.raises(NotAnArticle) as info:
        extract(page, url="https://testzeitung.example/politik/artikel-123")
    assert info.value.reason == "consent_wall" and info.value.permanent


NOT_FOUND_DE = (
    "Fehler 404",
    "Die von Ihnen aufgerufene Seite existiert leider nicht mehr oder wurde verschoben. Vielleicht finden Sie das "
    "Gesuchte über unsere Suche.\nBundestag beschließt Haushalt nach langer Debatte\nUnwetter: Tausende Haushalte "
    "im Norden ohne Strom",
)
NOT_FOUND_EN = (
    "Page not found",
    "Sorry, the page you are looking for could not be found. It may have been moved or deleted.\nMost read\n"
    "Parliament passes budget after marathon session\nStorm leaves thousands without power",
)
OUTAGE_EN = (
    "Ministry website down after attack",
    "The finance ministry's website could not be reached for most of Monday after what officials called a "
    "denial-of-service attack. Visitors saw an error message instead of the tax forms. The ministry said no data "
    "had been stolen and that the page was restored by the evening.",
)
HISTORY_EN = (
    "Why the 404 page is older than the web browser you use",
    "The message that a page could not be found is one of the oldest on the web. " * 30,
)


@pytest.mark.parametrize(
    ("detector", "page", "expected"),
    [
        (consent_wall, WALL_EN, True),
        (consent_wall, WALL_EN_SHORT, True),
        (consent_wall, WALL_DE, True),
        # news about cookie banners and consent rules, close in words: reported in the third person
        (consent_wall, ARTICLE_EN, False),
        (consent_wall, ARTICLE_DE, False),
        (not_found_page, NOT_FOUND_DE, True),
        (not_found_page, NOT_FOUND_EN, True),
        # news about an unreachable site, and a long piece about error pages
        (not_found_page, OUTAGE_EN, False),
        (not_found_page, HISTORY_EN, False),
    ],
    ids=[
        "wall-en",
        "wall-en-short",
        "wall-de",
        "cookie-news-en",
        "cookie-news-de",
        "404-de",
        "404-en",
        "outage-news",
        "404-history",
    ],
)
def test_what_is_not_an_article(detector: Callable[[str, str], bool], page: tuple[str, str], expected: bool) -> None:
    assert detector(*page) is expected


def test_extraction_skips_a_not_found_page_served_with_200() -> None:
    title, body = NOT_FOUND_DE
    paragraphs = "".join(f"<p>{line}</p>" for line in body.split("\n"))
    head = "<html lang=de><head><title>Seite nicht gefunden</title></head>"
    page = f"{head}<body><main><h1>{title}</h1>{paragraphs}</main></body></html>"
    with pytest.raises(SoftNotFound) as info:
        extract(page, url="https://beispielblatt.example/politik/artikel-123")
    assert info.value.reason == "soft_404" and info.value.permanent


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("x" * 3_000_000, True),  # one 3 MB "word" (under the page cap): an article of word count 1, before
        ("A short lead. " + "QUJD" * 500 + " and nothing else", True),  # an encoded blob
        ("Der Bundesverfassungsgerichtsentscheidungsvorbereitungsausschuss tagte. " * 20, False),
        ("Details: https://example.org/" + "a/" * 60 + " " + "Worte und Sätze, wie sie sind. " * 10, False),
        ("北京市政府今天宣布了新的交通政策，市民对此反应不一，许多人表示支持。" * 30, False),  # no spaces, not junk
        ("", False),
    ],
    ids=["one-token", "blob", "german-compounds", "a-long-url", "chinese", "empty"],
)
def test_junk_text(body: str, expected: bool) -> None:
    assert junk_text(body) is expected


def test_extraction_skips_text_that_is_no_words() -> None:
    """Found by a red-team probe: a page whose text is one 3 MB token was built into a document."""
    page = "<html><head><title>Council approves budget</title></head><body><article><h1>Council approves budget"
    page += "</h1><p>" + "x" * 300_000 + "</p></article></body></html>"
    with pytest.raises(JunkText) as info:
        extract(page, url="https://example.org/news/story.html")
    assert info.value.reason == "junk_text" and info.value.permanent


def test_no_real_article_of_the_shared_data_is_taken_for_a_wall() -> None:
    """All 2,880 texts of ../shared/eval are articles (and the bench pages through the extraction): none may be
    taken for a consent wall, a not-found page or junk text."""
    shared_path("eval")
    from evaluation import pagekind

    assert pagekind.main(["--closest", "0"]) == 0
