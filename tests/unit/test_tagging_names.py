"""Open-vocabulary names (the ``names`` field): found in text the gazetteer does not know, normalised to
language-independent ids, never duplicating a gazetteer entity. The sentences are written for these tests."""

from __future__ import annotations

import pytest

from ingest.config import TaggingOptions
from ingest.tagging import Tagger

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger()


def names(tagger: Tagger, text: str, language: str) -> set[str]:
    return set(tagger.tag(title="", body=text, language=language).names)


def test_english_people_and_organisations(tagger: Tagger) -> None:
    got = names(
        tagger,
        "The opposition candidate Maria Kowalczyk-Brandt met Rex Tillerson on Monday, the Yonhap agency reported. "
        "Mr. Zeman said the plan was dead.",
        "en",
    )
    assert {"name:maria kowalczyk brandt", "name:rex tillerson", "name:yonhap", "name:zeman"} <= got
    # sentence starts, weekdays and common words are no names
    assert not {"name:the", "name:monday", "name:mr"} & got


def test_german_nouns_are_not_names_but_rare_phrases_are(tagger: Tagger) -> None:
    got = names(
        tagger,
        "Der Landeshauptmann Hans Peter Doskozil verteidigte die Flüchtlingsobergrenze. Ende Juni soll der "
        "Grenzzaun fertig sein, sagte Innenministerin Johanna Mikl-Leitner. Doskozil bleibt dabei.",
        "de",
    )
    assert got == {"name:hans peter doskozil", "name:johanna mikl leitner"}


def test_normalisation_is_language_independent(tagger: Tagger) -> None:
    english = names(tagger, "Officials said Péter Szijjártó's visit was cancelled.", "en")
    german = names(tagger, "Die Regierung sagte, Péter Szijjártós Besuch sei abgesagt.", "de")
    assert english == german == {"name:peter szijjarto"}
    # hyphens and spaces are one separator; an English possessive and a German genitive are dropped
    assert names(tagger, "Officials said Ri Yong-ho's trip ended.", "en") == {"name:ri yong ho"}


def test_a_gazetteer_hit_is_an_entity_not_a_name(tagger: Tagger) -> None:
    result = tagger.tag(title="", body="Security researchers at Kaspersky Lab met Sergey Lavrov.", language="en")
    assert "company:kaspersky" in result.entities
    assert "person:sergey-lavrov" in result.entities
    assert not result.names  # no "name:lab", no "name:sergey"
    german = tagger.tag(title="", body="US-Präsident Donald Trump telefonierte mit Kim Jong-un.", language="de")
    assert {"person:donald-trump", "person:kim-jong-un"} <= set(german.entities)
    assert not german.names


def test_names_are_in_the_fields_and_the_evidence(tagger: Tagger) -> None:
    result = tagger.tag(title="", body="Die Partei von Kandidatin Wiebke Oltmanns-Sørensen siegte.", language="de")
    fields = result.as_fields()
    assert fields["names"] == ["name:wiebke oltmanns sorensen"] == list(result.names)
    evidence = result.evidence["names"]["name:wiebke oltmanns sorensen"]
    assert evidence["surface"] == "Wiebke Oltmanns-Sorensen" and evidence["title"] == "kandidatin"


def test_names_can_be_switched_off_and_capped() -> None:
    text = "Alpha Zorbin met Beta Quillon, Gamma Vostrik and Delta Prandel in Vienna."
    assert Tagger(TaggingOptions(names=False)).tag(title="", body=text, language="en").names == ()
    capped = Tagger(TaggingOptions(max_names=2)).tag(title="", body=text, language="en").names
    assert len(capped) == 2
    assert Tagger().name_ids(text, "en") == (
        "name:alpha zorbin",
        "name:beta quillon",
        "name:delta prandel",
        "name:gamma vostrik",
    )


@pytest.mark.parametrize(
    ("language", "text"),
    [
        (
            "de",
            "Der ungarische Außenminister Ferenc Zsoldosi empfing am Montag Gäste. Auch der serbische Außenminister "
            "Dragan Vukotic kam. Zsoldosi und Vukotic unterzeichneten ein Abkommen.",
        ),
        (
            "en",
            "Hungary's foreign minister Ferenc Zsoldosi received guests on Monday. Serbia's foreign minister Dragan "
            "Vukotic came too. Zsoldosi and Vukotic signed an agreement.",
        ),
    ],
)
def test_a_name_with_a_title_of_state_office_acts_for_its_country(tagger: Tagger, language: str, text: str) -> None:
    """An unknown minister acts for the country that introduces them, so a sentence naming two such people is a
    relation between two states (as it would be with two gazetteer leaders)."""
    result = tagger.tag(title="", body=text, language=language)
    evidence = result.evidence["names"]
    assert evidence["name:ferenc zsoldosi"]["acts_for"] == "country:hu"
    assert evidence["name:dragan vukotic"]["acts_for"] == "country:rs"
    relation = result.evidence["geopolitics"]["groups"]["relation"]["hits"]
    assert {"name:ferenc zsoldosi", "name:dragan vukotic"} <= set(relation)
    # a title that is no state office gives no actor
    coach = tagger.tag(title="", body="Der ungarische Trainer Ferenc Zsoldosi lobte die Elf.", language="de")
    assert "acts_for" not in coach.evidence["names"]["name:ferenc zsoldosi"]


def test_a_german_classifier_noun_in_front_is_no_part_of_the_name(tagger: Tagger) -> None:
    got = names(
        tagger,
        "Soldaten erreichten am Morgen die Stadt Agadez im Norden. Dort hatte sich die Hackergruppe Vorox Ilam "
        "zu dem Angriff bekannt, berichtete der Fernsehsender Kanal Ostwind. In Darmstadt Nord blieb es ruhig.",
        "de",
    )
    assert {"name:agadez", "name:vorox ilam", "name:kanal ostwind"} <= got
    assert not {n for n in got if n.startswith(("name:stadt", "name:hackergruppe", "name:fernsehsender"))}
    # the same name in English text has the same id, so the two sides can meet
    english = names(tagger, "Soldiers reached Agadez in the north, where Vorox Ilam claimed the attack.", "en")
    assert {"name:agadez", "name:vorox ilam"} <= english


def test_a_word_between_capitals_ends_a_name_and_a_connector_joins_one(tagger: Tagger) -> None:
    """The finder skips ordinary lower-case words; one between two capitalised words must still end the run, a
    connector ("of", "von der") must still join it, and a lower-case title in front must still be seen."""
    got = tagger.tag(
        title="",
        body="Analysts at Quorvant Bank of Zelmira met Quorvant and Tessaly officials. Later, foreign minister "
        "Peter Ostrovan spoke to Ulrike von der Brenk.",
        language="en",
    )
    assert {"name:quorvant bank of zelmira", "name:ulrike von der brenk", "name:peter ostrovan"} <= set(got.names)
    assert "name:quorvant and tessaly" not in got.names
    assert got.evidence["names"]["name:peter ostrovan"]["title"] == "minister"


def test_a_rare_adverb_opening_a_sentence_is_no_name(tagger: Tagger) -> None:
    got = names(
        tagger,
        "The envoy left early. Temperamentally, Ostrovan is a cautious man. Quorvelly said the talks would go on.",
        "en",
    )
    assert "name:temperamentally" not in got
    assert {"name:ostrovan", "name:quorvelly"} <= got  # a name ending in -ly has no known word inside
