"""Tagger: cyberattack and geopolitics in English and German, entities, evidence, determinism, ES fields.

The sentences below are written for these tests (short, original); the seed article is read in place from the
shared folder and the test skips when it is absent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.config import DATA_DIR, TaggingOptions
from ingest.errors import ConfigurationError
from ingest.tagging import Tagger, entity_ids, fold
from tests.conftest import shared_path

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger()


def tag(tagger: Tagger, title: str, body: str = "", language: str | None = None) -> tuple[set[str], set[str]]:
    result = tagger.tag(title=title, body=body, language=language)
    return set(result.tags), set(result.subtopics)


# --- cyberattack ------------------------------------------------------------------------------------------


def test_english_ransomware_attack(tagger: Tagger) -> None:
    tags, subs = tag(
        tagger,
        "Ransomware attack cripples regional hospital network",
        "Hackers encrypted the hospital's servers on Monday and demanded a ransom payment in bitcoin. "
        "Staff returned to paper records while the IT team restored systems from backups.",
        "en",
    )
    assert "cyberattack" in tags
    assert "cyberattack.ransomware" in subs


def test_english_data_breach_and_phishing(tagger: Tagger) -> None:
    tags, subs = tag(
        tagger,
        "Retailer confirms data breach after phishing emails",
        "An employee opened a phishing email with a fake login page, and attackers used the stolen credentials "
        "to access a customer database. Names and card numbers of 40,000 customers were exposed.",
        "en",
    )
    assert "cyberattack" in tags
    assert {"cyberattack.data_breach", "cyberattack.phishing"} <= subs


def test_german_compounds(tagger: Tagger) -> None:
    tags, subs = tag(
        tagger,
        "Hackerangriff auf Stadtwerke: Erpressersoftware legt Rechner lahm",
        "Nach dem Cyberangriff verlangen die Täter Lösegeld. Die Server wurden verschlüsselt, ein Datenleck "
        "mit Kundendaten wird nicht ausgeschlossen. Seit Cyberangriffen im Vorjahr gilt höchste Alarmstufe.",
        "de",
    )
    assert "cyberattack" in tags
    assert {"cyberattack.ransomware", "cyberattack.data_breach"} <= subs


def test_german_ddos(tagger: Tagger) -> None:
    tags, subs = tag(
        tagger,
        "DDoS-Attacke legt Webseiten von Ministerien lahm",
        "Ein Überlastungsangriff mit einem Botnetz aus gekaperten Kameras hat die Server stundenlang blockiert.",
        "de",
    )
    assert "cyberattack" in tags
    assert "cyberattack.ddos" in subs


@pytest.mark.parametrize(
    ("title", "body", "language"),
    [
        (
            "Striker's late attack wins the derby",
            "The home side pressed forward and their attack finally broke through the defence in stoppage time.",
            "en",
        ),
        ("Man survives heart attack during marathon", "Paramedics used a defibrillator at the finish line.", "en"),
        (
            "Ein Hacker im besten Sinne",
            "Der Bastler baut seit Jahren Computer aus alten Teilen und zeigt Kindern, wie Software funktioniert.",
            "de",
        ),
        ("Angriff auf Tabellenführer gescheitert", "Die Offensive der Gäste fand kein Mittel gegen die Abwehr.", "de"),
        (
            "Neues Smartphone im Test",
            "Das Gerät hat einen schnellen Prozessor, ein helles Display und eine gute "
            "Kamera. Das Software-Update kommt im Herbst.",
            "de",
        ),
    ],
)
def test_not_cyberattack(tagger: Tagger, title: str, body: str, language: str) -> None:
    result = tagger.tag(title=title, body=body, language=language)
    assert "cyberattack" not in result.tags, result.evidence["cyberattack"]


def test_hacker_word_alone_is_not_enough(tagger: Tagger) -> None:
    result = tagger.tag(title="Hackers and makers meet in Berlin", body="A weekend of soldering.", language="en")
    assert "cyberattack" not in result.tags
    assert result.evidence["cyberattack"]["gate_met"] is False


@pytest.mark.parametrize(
    ("title", "body", "language"),
    [
        (
            "Critical flaw in router firmware fixed",
            "Researchers found a vulnerability that could allow an attacker to take over the device remotely. "
            "The vendor released a security update; there is no sign of attacks.",
            "en",
        ),
        (
            "How to protect yourself from ransomware",
            "Back up your files, keep software up to date and be wary of phishing emails, security experts advise.",
            "en",
        ),
        (
            "Sicherheitslücke in Mail-Programm geschlossen",
            "Angreifer können über die Lücke Nachrichten mitlesen, warnen Sicherheitsforscher. Ein Update steht "
            "bereit.",
            "de",
        ),
    ],
)
def test_security_news_without_an_attack_is_not_cyberattack(
    tagger: Tagger, title: str, body: str, language: str
) -> None:
    result = tagger.tag(title=title, body=body, language=language)
    assert "cyberattack" not in result.tags, result.evidence["cyberattack"]


def test_an_attack_next_to_a_patch_is_still_an_attack(tagger: Tagger) -> None:
    result = tagger.tag(
        title="Hackers stole customer data through an unpatched flaw",
        body="The attackers broke into the retailer's servers in March and stole the card data of 40,000 customers. "
        "The company has since patched the vulnerability.",
        language="en",
    )
    assert "cyberattack" in result.tags, result.evidence["cyberattack"]
    assert {"cyberattack.data_breach", "cyberattack.vulnerability"} <= set(result.subtopics)


def test_vulnerability_subtopic_without_attack(tagger: Tagger) -> None:
    result = tagger.tag(
        title="Vendor patches critical vulnerability in VPN appliance",
        body="Security researchers disclosed the flaw, tracked as CVE-2024-12345, and a security update is available. "
        "There is no sign that it has been exploited.",
        language="en",
    )
    assert "cyberattack.vulnerability" in result.subtopics


# --- the near window: an attack word next to a hacker, in the same or an adjacent sentence -----------------

_FILLER_EN = (
    "The harbour opened in 1890. It handles grain and timber. A new crane arrived in May. "
    "Tourists visit the lighthouse. The ferry runs twice a day. "
)
_FILLER_DE = (
    "Der Hafen wurde 1890 eröffnet. Dort werden Getreide und Holz umgeschlagen. Im Mai kam ein neuer Kran. "
    "Touristen besuchen den Leuchtturm. Die Fähre fährt zweimal am Tag. "
)


@pytest.mark.parametrize(
    ("language", "hacker", "attack", "filler"),
    [
        (
            "en",
            "Unknown hackers spent weeks inside the shipping company.",
            "Investigators now say the attack was planned for months.",
            _FILLER_EN,
        ),
        (
            "de",
            "Unbekannte Hacker hielten sich wochenlang bei der Reederei auf.",
            "Die Ermittler gehen davon aus, dass der Angriff monatelang geplant war.",
            _FILLER_DE,
        ),
    ],
)
def test_attack_in_the_sentence_after_a_hacker_counts(
    tagger: Tagger, language: str, hacker: str, attack: str, filler: str
) -> None:
    adjacent = tagger.tag(title="", body=f"{filler}{hacker} {attack} {filler}", language=language)
    evidence = adjacent.evidence["cyberattack"]
    assert evidence["gate_met"] is True, evidence
    assert "attack" in evidence["groups"] and "hacker_context" in evidence["groups"]
    # the same two sentences with unrelated sentences between them: no longer one statement
    apart = tagger.tag(title="", body=f"{hacker} {filler}{attack}", language=language)
    assert apart.evidence["cyberattack"]["gate_met"] is False, apart.evidence["cyberattack"]
    assert "cyberattack" not in apart.tags
    assert apart.scores["cyberattack"] < adjacent.scores["cyberattack"]


def test_implicit_follow_up_gets_cyberattack(tagger: Tagger) -> None:
    result = tagger.tag(
        title="Mayor criticises port for paying up",
        body="The port authority gave in to threats from hackers who officials say were working for a foreign state. "
        "The mayor spoke an hour after the police publicly blamed a criminal group for the attack.",
        language="en",
    )
    assert "cyberattack" in result.tags, result.evidence["cyberattack"]


@pytest.mark.parametrize(
    ("language", "body"),
    [
        ("en", "Police dismantled the terror network in March. The attack on the market killed four people."),
        ("de", "Die Polizei hat die Daten der Verdächtigen ausgewertet. Der Angriff auf den Markt forderte vier Tote."),
    ],
)
def test_weak_context_must_share_the_sentence(tagger: Tagger, language: str, body: str) -> None:
    result = tagger.tag(title="", body=body, language=language)
    assert result.evidence["cyberattack"]["gate_met"] is False, result.evidence["cyberattack"]
    assert "cyberattack" not in result.tags


def test_near_window_is_validated(tmp_path: Path) -> None:
    text = (DATA_DIR / "taxonomy.toml").read_text(encoding="utf-8")
    assert "near_window = { cyber_attack = 1," in text
    for bad_value, message in [("{ nope = 1,", "not in near"), ("{ cyber_attack = -1,", "non-negative")]:
        bad = tmp_path / "taxonomy.toml"
        bad.write_text(text.replace("near_window = { cyber_attack = 1,", f"near_window = {bad_value}"), "utf-8")
        with pytest.raises(ConfigurationError, match=message):
            Tagger(TaggingOptions(taxonomy_path=bad))


# --- geopolitics ------------------------------------------------------------------------------------------


def test_english_geopolitics_sanctions(tagger: Tagger) -> None:
    tags, subs = tag(
        tagger,
        "EU agrees new sanctions on Russia",
        "Foreign ministers of the European Union agreed on Monday to widen sanctions against Moscow. "
        "The Kremlin condemned the decision and said it would retaliate; Washington welcomed the move.",
        "en",
    )
    assert "geopolitics" in tags
    assert "geopolitics.sanctions" in subs


def test_german_geopolitics_diplomacy(tagger: Tagger) -> None:
    tags, subs = tag(
        tagger,
        "Außenminister beraten in Wien über Waffenruhe",
        "Die Außenminister der USA und Russlands trafen sich zu Gesprächen über eine Waffenruhe in Syrien. "
        "Diplomaten sprachen von einem schwierigen Gipfel.",
        "de",
    )
    assert "geopolitics" in tags
    assert "geopolitics.diplomacy" in subs


def test_not_geopolitics(tagger: Tagger) -> None:
    for title, body, lang in [
        ("Local bakery wins bread award", "The jury praised the sourdough and the rye.", "en"),
        ("Das Wetter war schön", "Es war ein warmer Tag, und der Ausflug war gelungen.", "de"),
    ]:
        result = tagger.tag(title=title, body=body, language=lang)
        assert "geopolitics" not in result.tags
    # German "war" (was) is not a war
    result = tagger.tag(title="Das Wetter war schön", body="Es war warm.", language="de")
    assert "conflict" not in result.evidence["geopolitics"]["groups"]


def test_home_country_is_not_evidence_of_relations(tagger: Tagger) -> None:
    text = (
        "Wien – Der österreichische Außenminister hat am Montag die neue Linie der Außenpolitik vorgestellt. "
        "Österreich wolle ein verlässlicher Partner bleiben, sagte der Außenminister in Wien."
    )
    assert "geopolitics" in tagger.tag(title="", body=text, language="de").tags
    at_home = tagger.tag(title="", body=text, language="de", home_country="at")
    assert "geopolitics" not in at_home.tags
    assert at_home.evidence["home"] == ["country:at"]
    assert "states" not in at_home.evidence["geopolitics"]["groups"]


def test_a_foreign_countrys_internal_politics_is_not_geopolitics(tagger: Tagger) -> None:
    """A foreign government's reshuffle, its parliament and its elections are no relation between states: not
    geopolitics, whether the outlet's home country is known or not."""
    text = (
        "Rom – Der italienische Ministerpräsident hat nach dem Streit mit der Opposition im Parlament eine "
        "Regierungsumbildung angekündigt. Die Regierung will die Minister bis Freitag benennen."
    )
    for home in ("at", None, "it"):
        result = tagger.tag(title="", body=text, language="de", home_country=home)
        assert "geopolitics" not in result.tags, (home, result.evidence["geopolitics"])
        assert "geopolitics.government_change" not in result.subtopics
    english = tagger.tag(
        title="Opposition leader wins presidential run-off in Guatemala",
        body="The former comedian won 60 percent of the vote and promised to fight corruption in the government.",
        language="en",
        home_country="gb",
    )
    assert "geopolitics" not in english.tags


def test_eu_migration_and_border_policy_between_states_is_geopolitics(tagger: Tagger) -> None:
    result = tagger.tag(
        title="",
        body="Wien – Österreich will die Grenzkontrollen am Brenner verschärfen. Italien kritisierte den Plan, "
        "die EU-Kommission prüft, ob die Kontrollen mit Schengen vereinbar sind.",
        language="de",
        home_country="at",
    )
    assert "geopolitics" in result.tags, result.evidence["geopolitics"]
    assert "migration_lead" in result.evidence["geopolitics"]["groups"]
    # refugees' daily life at home, with no policy between states, is not
    housing = tagger.tag(
        title="",
        body="Linz – In der Turnhalle schlafen seit Montag 80 Asylwerber. Freiwillige bringen Decken und Essen.",
        language="de",
        home_country="at",
    )
    assert "geopolitics" not in housing.tags


@pytest.mark.parametrize(
    ("title", "body"),
    [
        (
            "Search for missing jet widens to the Indian Ocean",
            "Ships from Malaysia, China and Australia joined the search; the foreign ministry in Kuala Lumpur said "
            "relatives of the passengers would be flown to Perth. Military radar data is being checked again.",
        ),
        (
            "Festival opens with a war film",
            "The film follows soldiers of the French army in Algeria; the director said the war still divides "
            "France. The festival runs until Sunday.",
        ),
    ],
)
def test_war_words_on_disaster_and_culture_pages_are_not_geopolitics(tagger: Tagger, title: str, body: str) -> None:
    result = tagger.tag(title=title, body=body, language="en")
    assert "geopolitics" not in result.tags, result.evidence["geopolitics"]


def test_a_foreign_state_named_once_next_to_one_politics_word_is_not_enough(tagger: Tagger) -> None:
    text = (
        "Rom – Der Bürgermeister hat am Montag die neue Straßenbahnlinie eröffnet. Der Präsident des "
        "Verkehrsverbunds lobte die kurze Bauzeit, Fahrgäste freuten sich über die dichteren Intervalle."
    )
    assert "geopolitics" not in tagger.tag(title="", body=text, language="de", home_country="at").tags


def test_german_genitive_names_are_recognised(tagger: Tagger) -> None:
    ids = tagger.entity_ids("Angolas Präsident und Merkels Kurs", "de")
    assert "country:ao" in ids and "person:angela-merkel" in ids
    assert "country:ao" not in tagger.entity_ids("Angolas president", "en")


def _geo(tagger: Tagger, **kwargs: str) -> dict[str, Any]:
    result = tagger.tag(**kwargs)  # type: ignore[arg-type]
    evidence = result.evidence["geopolitics"]
    assert isinstance(evidence, dict)
    return {"tagged": "geopolitics" in result.tags, **evidence, "dateline": result.evidence.get("dateline")}


def test_relation_between_two_states_in_the_lead_opens_the_gate(tagger: Tagger) -> None:
    en = _geo(
        tagger,
        title="Japan and South Korea resume talks over the disputed islands",
        body="Negotiators met in Seoul on Tuesday. Both sides called the meeting constructive.",
        language="en",
    )
    assert en["gate_met"] and ["relation_lead"] in en["requires"]
    assert {"Japan", "South Korea"} <= set(en["groups"]["relation_lead"]["hits"])
    de = _geo(
        tagger,
        title="Polen und Litauen unterzeichnen Abkommen über gemeinsame Grenzpatrouillen",
        body="Die Regierungen in Warschau und Vilnius wollen enger zusammenarbeiten.",
        language="de",
    )
    assert de["tagged"]
    assert {"Poland", "Lithuania"} <= set(de["groups"]["relation_lead"]["hits"])


def test_a_leader_or_government_acts_for_their_state(tagger: Tagger) -> None:
    # Merkel and Erdoğan are two states; Merkel and Germany, or the White House and the USA, are one.
    two = _geo(tagger, title="Merkel empfängt Erdoğan zu Gesprächen", body="", language="de")
    assert "relation_lead" in two["groups"]
    one = _geo(tagger, title="Merkel kündigt in Deutschland Gespräche an", body="", language="de")
    assert "relation_lead" not in one["groups"]
    same = _geo(tagger, title="The White House says the United States will hold talks", body="", language="en")
    assert "relation_lead" not in same["groups"]


def test_foreign_names_only_in_the_body_do_not_open_the_gate(tagger: Tagger) -> None:
    body = (
        "She compared the plan with a reform in France, where the army ran boarding schools after the war, "
        "and with Spain, where troops helped to build them."
    )
    home = _geo(
        tagger,
        title="Minister presents school reform",
        description="The education minister presented her school reform to parliament on Monday.",
        body=body,
        language="en",
    )
    assert not home["gate_met"] and not home["tagged"]
    abroad = _geo(
        tagger,
        title="France sends troops to protect schools after attacks by militants",
        description="The army will guard schools in the north, the defence ministry in Paris said.",
        body=body,
        language="en",
    )
    assert abroad["gate_met"] and abroad["tagged"]


def test_a_home_dateline_needs_a_relation_between_states(tagger: Tagger) -> None:
    lead = "Die Polizei warnt vor Betrügern aus Rumänien, die sich am Telefon als Soldaten der Armee ausgeben."
    at_home = _geo(tagger, title="", body=f"Wien – {lead}", language="de", home_country="at")
    assert at_home["dateline"] == {"place": "Wien", "countries": ["country:at"], "home": True}
    assert ["relation_lead"] in at_home["requires"] and not at_home["gate_met"]
    # the same lead without a home audience: the dateline is recorded, the foreign-focus gates apply
    anywhere = _geo(tagger, title="", body=f"Wien – {lead}", language="de")
    assert anywhere["dateline"] == {"place": "Wien", "countries": ["country:at"], "home": False}
    assert anywhere["gate_met"]
    # a relation between states in the lead still opens the gate at home
    relation = _geo(
        tagger,
        title="",
        body="Wien – Österreich und Italien haben sich auf gemeinsame Kontrollen am Brenner geeinigt.",
        language="de",
        home_country="at",
    )
    assert relation["gate_met"] and relation["dateline"]["home"]


def test_agency_dateline_in_english(tagger: Tagger) -> None:
    result = tagger.tag(title="", body="WASHINGTON (Reuters) - The Senate passed the bill on Friday.", language="en")
    assert result.evidence["dateline"]["place"] == "WASHINGTON"
    assert result.evidence["dateline"]["countries"] == ["country:us"]
    assert "dateline" not in tagger.tag(title="", body="The Senate passed the bill - finally.", language="en").evidence


def test_refugees_are_not_war_reporting_nor_politics(tagger: Tagger) -> None:
    groups = _geo(
        tagger,
        title="",
        body="Kriegsflüchtlinge und Bürgerkriegsflüchtlinge warten auf Asyl; Migranten suchen Arbeit.",
        language="de",
    )["groups"]
    assert "conflict" not in groups
    assert "politics" not in groups
    war = _geo(tagger, title="", body="Der Bürgerkrieg und die Kriegsschäden halten an.", language="de")["groups"]
    assert {"burgerkrieg", "kriegsschaden"} <= set(war["conflict"]["hits"])


def test_new_data_keys_are_validated(tmp_path: Path) -> None:
    taxonomy = (DATA_DIR / "taxonomy.toml").read_text(encoding="utf-8")
    bad = tmp_path / "taxonomy.toml"
    bad.write_text(
        taxonomy.replace('home_dateline_require = [["relation_lead"],', 'home_dateline_require = [["nope"],'),
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="home_dateline_require"):
        Tagger(TaggingOptions(taxonomy_path=bad))
    entities = (DATA_DIR / "entities.toml").read_text(encoding="utf-8")
    bad_entities = tmp_path / "entities.toml"
    bad_entities.write_text(
        entities.replace('\nstate = "country:de"\n', '\nstate = "country:zz"\n', 1), encoding="utf-8"
    )
    with pytest.raises(ConfigurationError, match="country:zz"):
        Tagger(TaggingOptions(entities_path=bad_entities))


# --- entities ---------------------------------------------------------------------------------------------


def test_country_metonyms_and_demonyms() -> None:
    for text, expected in [
        ("Pyongyang rejected the accusation.", "country:kp"),
        ("Pjöngjang wies die Vorwürfe zurück.", "country:kp"),
        ("Die nordkoreanische Führung schweigt.", "country:kp"),
        ("North Korea fired a missile.", "country:kp"),
        ("Peking reagierte verärgert.", "country:cn"),
        ("Beijing responded.", "country:cn"),
        ("Das Weiße Haus schwieg.", "org:white-house"),
        ("Das Weiße Haus schwieg.", "country:us"),
        ("The White House declined to comment.", "country:us"),
        ("Die US-Regierung reagierte.", "country:us"),
    ]:
        assert expected in entity_ids(text), text


def test_ambiguous_short_forms() -> None:
    assert "country:us" not in entity_ids("Let us know what you think, said the coach.", "en")
    assert "country:us" in entity_ids("The US imposed sanctions.", "en")
    assert "org:islamic-state" not in entity_ids("This IS a test.", "en")
    assert "org:bsi" not in entity_ids("The bsi file format is unrelated.", "en")
    assert "org:bsi" in entity_ids("Das BSI warnt vor der Lücke.", "de")
    assert "country:tr" not in entity_ids("We ate turkey for dinner.", "en")
    assert "country:my" not in entity_ids("Malaysia Airlines flight MH370 disappeared.", "en")
    assert "company:malaysia-airlines" in entity_ids("Malaysia Airlines flight MH370 disappeared.", "en")


def test_entities_are_language_independent() -> None:
    english = entity_ids("The FBI said North Korea was behind the hack on Sony; Obama promised a response.", "en")
    german = entity_ids("Das FBI sagt, Nordkorea stecke hinter dem Hack bei Sony; Obama kündigte Reaktion an.", "de")
    assert (
        english
        == german
        == (
            "company:sony",
            "country:kp",
            "org:fbi",
            "person:barack-obama",
        )
    )


def test_entity_names_follow_ids(tagger: Tagger) -> None:
    result = tagger.tag(title="Kim Jong Un und Xi Jinping in Peking", body="", language="de")
    assert list(result.entities) == sorted(result.entities)
    names = dict(zip(result.entities, result.entity_names, strict=True))
    assert names["person:kim-jong-un"] == "Kim Jong Un"
    assert names["country:cn"] == "China"


# --- result shape -----------------------------------------------------------------------------------------


def test_as_fields_match_the_index_mapping(tagger: Tagger) -> None:
    mapping = json.loads((DATA_DIR / "templates" / "news-articles.json").read_text())["template"]["mappings"]
    properties = mapping["properties"]
    fields = tagger.tag(title="Hackers hit Sony", body="A cyberattack on Sony's network.", language="en").as_fields()
    assert set(fields) == {
        "tags",
        "subtopics",
        "entities",
        "entity_names",
        "names",
        "tag_scores",
        "tag_evidence",
        "taxonomy_version",
    }
    assert set(fields) <= set(properties)
    assert set(fields["tag_scores"]) == set(properties["tag_scores"]["properties"]) == {"cyberattack", "geopolitics"}
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in fields["tag_scores"].values())
    json.dumps(fields)  # evidence is plain JSON


def test_deterministic(tagger: Tagger) -> None:
    args = {
        "title": "Cyberangriff auf Ministerium",
        "body": "Die Regierung in Berlin macht Russland für den Hackerangriff verantwortlich und droht mit Sanktionen.",
        "language": "de",
    }
    first = tagger.tag(**args).as_fields()
    again = Tagger().tag(**args).as_fields()
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert first["tags"] == ["cyberattack", "geopolitics"]


def test_language_guess_when_unknown(tagger: Tagger) -> None:
    result = tagger.tag(
        title="Hackerangriff auf die Stadtverwaltung",
        body="Die Server sind seit Tagen lahmgelegt und die Daten wurden verschlüsselt.",
    )
    assert result.evidence["language"] == "de"
    assert "cyberattack" in result.tags


def test_thresholds_come_from_options() -> None:
    title, body = "Cyberattack on a bank", "Hackers stole customer data from the bank's servers."
    assert "cyberattack" in Tagger().tag(title=title, body=body, language="en").tags
    strict = Tagger(TaggingOptions(thresholds={"cyberattack": 1.01}))
    result = strict.tag(title=title, body=body, language="en")
    assert "cyberattack" not in result.tags
    assert result.scores["cyberattack"] == Tagger().tag(title=title, body=body, language="en").scores["cyberattack"]
    with pytest.raises(ConfigurationError, match="nope"):
        Tagger(TaggingOptions(thresholds={"nope": 0.5}))


def test_thresholds_from_the_environment() -> None:
    from ingest.config import options_from_env

    options = options_from_env(TaggingOptions, "NEWS_TAGGING_", {"NEWS_TAGGING_THRESHOLDS": "cyberattack=0.7"})
    assert options.threshold("cyberattack") == 0.7
    assert options.threshold("geopolitics") == options.default_threshold
    with pytest.raises(ConfigurationError, match="key=value"):
        options_from_env(TaggingOptions, "NEWS_TAGGING_", {"NEWS_TAGGING_THRESHOLDS": "0.7"})


def test_a_third_tag_is_one_table_in_the_data(tmp_path: Path) -> None:
    taxonomy = tmp_path / "taxonomy.toml"
    taxonomy.write_text(
        (DATA_DIR / "taxonomy.toml").read_text(encoding="utf-8")
        + '\n[tags.climate]\ndefinition = "Climate change and climate policy."\nrequire = [["words"]]\n'
        '[tags.climate.groups.words]\nweight = 3.0\nterms = ["climate change", "global warming"]\n'
        'terms_de = ["~klimawandel*"]\n',
        encoding="utf-8",
    )
    tagger = Tagger(TaggingOptions(taxonomy_path=taxonomy))
    assert tagger.tags == ("cyberattack", "geopolitics", "climate")
    result = tagger.tag(
        title="Klimawandel: Gletscher schmelzen", body="Der Klimawandel beschleunigt sich.", language="de"
    )
    assert result.tags == ("climate",)
    assert set(result.as_fields()["tag_scores"]) == {"cyberattack", "geopolitics", "climate"}


def test_every_tag_and_subtopic_has_a_definition(tmp_path: Path) -> None:
    text = (DATA_DIR / "taxonomy.toml").read_text(encoding="utf-8")
    assert text.count("definition = ") >= 14
    bad = tmp_path / "taxonomy.toml"
    start = text.index("[tags.cyberattack.subtopics.ddos]")
    block_start = text.index("definition = ", start)
    block_end = text.index('"""', text.index('"""', block_start) + 3) + 3
    bad.write_text(text[:block_start] + text[block_end:], encoding="utf-8")
    with pytest.raises(ConfigurationError, match="ddos needs a definition"):
        Tagger(TaggingOptions(taxonomy_path=bad))
    typo = tmp_path / "typo.toml"
    typo.write_text(text.replace("near_window = { cyber_attack = 1,", "near_windw = { cyber_attack = 1,"), "utf-8")
    with pytest.raises(ConfigurationError, match="near_windw"):
        Tagger(TaggingOptions(taxonomy_path=typo))


def test_version_is_data(tmp_path: Path) -> None:
    taxonomy = tmp_path / "taxonomy.toml"
    text = (DATA_DIR / "taxonomy.toml").read_text(encoding="utf-8")
    taxonomy.write_text(text.replace('version = "', 'version = "test-', 1), encoding="utf-8")
    default = Tagger()
    changed = Tagger(TaggingOptions(taxonomy_path=taxonomy))
    assert changed.version.startswith("test-")
    assert changed.version != default.version
    result = changed.tag(title="x", body="y", language="en")
    assert result.taxonomy_version == changed.version


def test_bad_taxonomy_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "taxonomy.toml"
    bad.write_text(
        'version = "1"\n[tags.cyberattack]\ndefinition = "a"\n[tags.cyberattack.groups.a]\nterms = ["(unclosed"]\n'
        '[tags.geopolitics]\ndefinition = "b"\n[tags.geopolitics.groups.b]\nterms = ["x"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="unclosed"):
        Tagger(TaggingOptions(taxonomy_path=bad))
    with pytest.raises(ConfigurationError, match="not found"):
        Tagger(TaggingOptions(taxonomy_path=tmp_path / "missing.toml"))


def test_fold() -> None:
    assert fold("Pjöngjang, Weiße Haus, Außenministerium") == "Pjongjang, Weisse Haus, Aussenministerium"


@pytest.mark.parametrize("invisible", ["\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e"])
def test_invisible_characters_inside_words_change_no_tag(tagger: Tagger, invisible: str) -> None:
    title = "Cyberangriff auf Sony: Nordkorea weist Vorwürfe zurück"
    body = (
        "Die USA machen Nordkorea für den Cyberangriff auf das Filmstudio Sony Pictures verantwortlich. "
        "Pjöngjang weist die Vorwürfe zurück und droht Washington mit Vergeltung. " * 3
    )
    plain = tagger.tag(title=title, body=body, language="de")
    hidden = tagger.tag(
        title=title.replace("Cyber", f"Cyber{invisible}"),
        body=body.replace("Nordkorea", f"Nord{invisible}korea").replace("Cyber", f"Cy{invisible}ber"),
        language="de",
    )
    assert hidden.tags == plain.tags and "cyberattack" in plain.tags
    assert fold(f"Nord{invisible}korea") == "Nordkorea"


def test_fast_enough(tagger: Tagger) -> None:
    body = (
        "Die USA hatten Nordkorea offiziell für den Cyberangriff auf Sony verantwortlich gemacht. "
        "Ein Sprecher des Außenministeriums in Pjöngjang wies das zurück. " * 20
    )
    start = time.process_time()
    for _ in range(50):
        tagger.tag(title="Hackerangriff", body=body, language="de")
    per_doc = (time.process_time() - start) / 50
    assert per_doc < 0.05, f"{per_doc * 1000:.1f} ms per 3 kB document"


# --- the seed article -------------------------------------------------------------------------------------


def test_seed_article(tagger: Tagger) -> None:
    path = shared_path("seed-article", "sony-hack-de-2014.txt")
    text = path.read_text(encoding="utf-8")
    result = tagger.tag(title="", body=text, language="de")
    assert set(result.tags) == {"cyberattack", "geopolitics"}
    assert {"country:kp", "country:us", "org:fbi", "company:sony"} <= set(result.entities)
    named: set[str] = set()
    for tag_name in result.tags:
        named.update(result.evidence[tag_name]["entities"])
    assert {"North Korea", "United States", "FBI", "Sony"} <= named


def test_german_ueber_is_not_the_company_uber() -> None:
    """Matching runs on accent-folded text, where "Über" becomes "Uber": the company alias is English-only."""
    tagger = Tagger()
    german = tagger.tag(
        title="Über die Angriffe", body="Über die Angriffe auf Sony berichtete die Zeitung.", language="de"
    )
    assert "company:uber" not in german.entities
    english = tagger.tag(title="Uber hacked", body="Uber said hackers stole data of 57 million riders.", language="en")
    assert "company:uber" in english.entities


def test_mrs_obama_is_michelle_not_barack() -> None:
    tagger = Tagger()
    assert tagger.tag(title="", body="Mrs. Obama visited a school in Chicago.", language="en").entities == (
        "person:michelle-obama",
    )
    assert "person:barack-obama" in tagger.tag(title="", body="Obama signed the bill.", language="en").entities


def test_programme_listings_do_not_make_a_story(tagger: Tagger) -> None:
    """A TV guide strings unrelated blurbs together: a mountain summit in one, a terracotta army in the next and a
    Canadian nature film in a third are not a story about relations between states."""
    blurbs = [
        "17.30 DOKUMENTATION Des Kaisers ewige Armee: Chinas Terrakotta-Krieger und ihr Geheimnis.",
        "18.30 MAGAZIN Heute konkret: Urlaub am Gipfel, Wandern in den Alpen.",
        "19.30 DOKUREIHE Kanadas Nationalparks: Bären, Elche und die Taiga.",
        "20.15 SPIELFILM Die Geiselnahme: Ein Kommissar ermittelt in Wien.",
        "21.45 TALK Zu Gast ist der Präsident des Alpenvereins.",
        "22.30 REPORTAGE Der Krieg der Bauern gegen die Preise.",
        "23.15 SPIELFILM Liebe in Wien.",
    ]
    listing = tagger.tag(title="", body=" ".join(blurbs), language="de", home_country="at")
    assert "geopolitics" not in listing.tags
    assert listing.evidence["geopolitics"]["groups"]["listing"]["score"] < 0
    prose = tagger.tag(title="", body=" ".join(b.split(" ", 2)[2] for b in blurbs), language="de", home_country="at")
    assert listing.scores["geopolitics"] < prose.scores["geopolitics"]


def test_a_capitalised_german_nationality_adjective_inside_a_name_is_no_state(tagger: Tagger) -> None:
    """German writes nationality adjectives in lower case; a capital inside a sentence before another capitalised
    word marks a name (a bank, an institute), not the state."""
    for body in (
        "Der Chef der Spanischen Volkspartei tritt zurück.",
        "Ein Meteorologe vom Deutschen Wetterdienst warnt.",
        "Die Preise der Deutschen Bahn steigen.",
    ):
        ids = tagger.entity_ids(body, "de")
        assert "country:es" not in ids and "country:de" not in ids, body
    for body, country in (
        ("Die spanische Regierung berät heute.", "country:es"),  # the usual lower-case adjective
        ("Deutsche Soldaten sind in Mali stationiert.", "country:de"),  # capital at the start of a sentence
        ("Der Gesandte der Russischen Föderation widersprach.", "country:ru"),  # the state's own name
        ("Die Deutschen wählen im September.", "country:de"),  # the people, not an adjective before a name
    ):
        assert country in tagger.entity_ids(body, "de"), body


def test_an_attack_only_deep_in_the_body_is_a_side_remark(tagger: Tagger) -> None:
    """Cyber-attack evidence that the title, the lead and the body's first sentence never mention weighs less (the
    rule's ``focus``): a story that mentions an old breach in passing is not about it."""
    filler = " ".join(f"Der Umsatz im Quartal {q} stieg um {q} Prozent." for q in range(1, 6))
    attack = "Im Vorjahr hatten Hacker bei einem Cyberangriff Kundendaten erbeutet."
    deep = tagger.tag(
        title="Händler steigert Umsatz", description="Das Geschäft läuft gut.", body=f"{filler} {attack}", language="de"
    )
    opening = tagger.tag(
        title="Händler steigert Umsatz", description="Das Geschäft läuft gut.", body=f"{attack} {filler}", language="de"
    )
    assert deep.evidence["cyberattack"]["focused"] is False
    assert opening.evidence["cyberattack"]["focused"] is True
    assert deep.scores["cyberattack"] < opening.scores["cyberattack"]


def test_a_crime_page_with_terror_words_needs_a_relation_between_states(tagger: Tagger) -> None:
    """Pages framed as crime, accidents or culture in the title or lead open the geopolitics gate only with a
    relation between states there (``framed_require``)."""
    crime = _geo(
        tagger,
        title="",
        body=(
            "Chicago – Ein US-Soldat hat vor Gericht gestanden, einen Anschlag auf eine Kaserne der Armee geplant zu "
            "haben. Der Staatsanwalt forderte eine lange Haftstrafe. Der Mann habe sich als Kämpfer einer "
            "Terrormiliz in Syrien ausgegeben, um Unterstützer zu finden."
        ),
        language="de",
    )
    assert crime["framed"] and not crime["gate_met"] and not crime["tagged"]
    assert crime["requires"][:3] == [["relation_lead"], ["migration_lead", "states"], ["migration_lead", "intl"]]
    assert {"states_lead", "conflict_lead"} <= set(crime["groups"])  # what would open the gate on other pages
    relation = _geo(
        tagger,
        title="",
        body=(
            "Ankara – Der Prozess gegen einen Spion belastet die Beziehungen: Die Türkei wirft Russland Spionage "
            "vor und bestellt den Botschafter ein. Moskau weist die Vorwürfe zurück."
        ),
        language="de",
    )
    assert relation["framed"] and relation["gate_met"]


def test_chronicles_are_no_story(tagger: Tagger) -> None:
    """A this-day-in-history column lists a century of wars and coups, one line per year."""
    lines = [
        "1848 - In Wien bricht die Revolution aus, das Militär schlägt den Aufstand nieder.",
        "1914 - Österreich-Ungarn erklärt Serbien den Krieg.",
        "1939 - Deutsche Truppen marschieren in Polen ein.",
        "1962 - Die Kuba-Krise zwischen den USA und der Sowjetunion erreicht ihren Höhepunkt.",
        "1989 - In Berlin fällt die Mauer.",
    ]
    result = tagger.tag(title="", body=" ".join(lines), language="de", home_country="at")
    assert result.evidence["geopolitics"]["groups"]["chronicle"]["score"] < 0
    assert "geopolitics" not in result.tags


def test_focus_and_frames_are_validated(tmp_path: Path) -> None:
    taxonomy = (DATA_DIR / "taxonomy.toml").read_text(encoding="utf-8")
    bad = tmp_path / "taxonomy.toml"
    for old, new, message in (
        ('focus = ["cyber_attack",', 'focus = ["nope",', "focus"),
        ("unfocused_weight = 0.6", "unfocused_weight = 1.5", "unfocused_weight"),
        ('frames = ["frame"]', 'frames = ["nope"]', "frames"),
        ('frames = ["frame"]', "", "go together"),
    ):
        assert old in taxonomy
        bad.write_text(taxonomy.replace(old, new), encoding="utf-8")
        with pytest.raises(ConfigurationError, match=message):
            Tagger(TaggingOptions(taxonomy_path=bad))


def test_a_brief_needs_less_evidence_than_a_report(tagger: Tagger) -> None:
    """A one-sentence brief has room for one piece of evidence: its scale shrinks with its length (``brief_chars``),
    the gate stays as strict."""
    sentence = "Die EU und der IWF kritisieren die Regierung in Athen."
    brief = tagger.tag(title="", body=sentence, language="de")
    assert brief.evidence["geopolitics"]["brief"] is True and "geopolitics" in brief.tags
    filler = "Die Börse schloss am Freitag unverändert. " * 12
    report = tagger.tag(title="", body=f"{sentence} {filler}", language="de")
    assert "brief" not in report.evidence["geopolitics"]
    assert report.scores["geopolitics"] < brief.scores["geopolitics"]
    ungated = tagger.tag(title="", body="Der IWF veröffentlicht am Montag seine Prognose.", language="de")
    assert ungated.evidence["geopolitics"]["brief"] is True and "geopolitics" not in ungated.tags


def test_violence_between_two_states_people_is_a_relation(tagger: Tagger) -> None:
    """Inter-state conflict told with little political vocabulary: two states' actors and violence in one
    sentence of the lead."""
    geo = _geo(
        tagger,
        title="",
        body=(
            "Bei Zusammenstößen an der Grenze zwischen Armenien und Aserbaidschan sind am Sonntag drei Menschen "
            "getötet worden. Dutzende wurden verletzt."
        ),
        language="de",
    )
    assert "violence" in geo["groups"] and geo["gate_met"] and geo["tagged"]
    assert geo["groups"]["relation_lead"]["hits"].keys() >= {"Armenia", "Azerbaijan"}


_FILLER_LEAD_EN = (
    "Witnesses described scenes of panic in the streets nearby. Ambulances and fire engines arrived within minutes, "
    "and the surrounding roads were closed through the night while residents were told to stay indoors. "
    "Shops and schools in the district will stay shut on Monday, the mayor's office said in a statement. "
)


def test_a_terror_attack_at_a_venue_is_geopolitics_despite_the_frame(tagger: Tagger) -> None:
    """International terrorism is in the definition: clear terror evidence (a terror word in the title or lead and
    three different ones in the body) opens the gate even on a page framed as culture (a concert hall)."""
    title = "Dozens killed in a night of attacks in Paris"
    lead = "Gunmen burst into a concert hall in Paris on Friday night and opened fire on the audience. "
    terror = (
        "The president called it an act of terrorism and sent troops into the streets. Suicide bombers struck outside "
        "the stadium at the same time. Islamic State claimed responsibility; investigators said the terrorist cell "
        "had planned the attacks in Syria for months."
    )
    attack = _geo(tagger, title=title, body=lead + _FILLER_LEAD_EN + terror, language="en")
    assert attack["framed"] and attack["gate_met"] and attack["tagged"]
    assert ["states_lead", "terror_word_lead", "terror"] in attack["requires"]
    assert len(attack["groups"]["terror"]["hits"]) >= 3
    crime = "Police said the men had robbed a bank the week before. Both were known to the police for theft."
    robbery = _geo(tagger, title=title, body=lead + _FILLER_LEAD_EN + crime, language="en")
    assert robbery["framed"] and not robbery["gate_met"] and not robbery["tagged"]


def test_one_terror_word_in_the_lead_counts_with_terror_evidence_in_the_body(tagger: Tagger) -> None:
    """One war word in the lead is a passing mention (``conflict_lead`` needs two), but a terror word there with
    clear terror evidence in the body is what the story is about."""
    title = "Investigators identify a second man"
    lead = "Police in Belgium have named one of the terrorists from the photographs found in a flat. "
    terror = (
        "He had joined the jihadists in Syria two years ago. A third suspect, a suicide bomber, blew himself up "
        "in the raid. Islamic State claimed responsibility the next day."
    )
    geo = _geo(tagger, title=title, body=lead + _FILLER_LEAD_EN + terror, language="en")
    assert geo["groups"]["conflict_lead"]["score"] < 0.3  # the old gate stays shut
    assert geo["gate_met"] and geo["tagged"]
    plain = "He had lived in the flat for two years. Neighbours said he was quiet and rarely went out."
    passing = _geo(tagger, title=title, body=lead + _FILLER_LEAD_EN + plain, language="en")
    assert not passing["gate_met"] and not passing["tagged"]


def test_english_is_names_islamic_state_only_where_it_cannot_be_the_verb() -> None:
    for text in ("Fighters of IS took the town.", "IS fighters took the town.", "He joined IS in 2014."):
        assert "org:islamic-state" in entity_ids(text, "en"), text
    for text in ("This IS a test.", "WHAT IS THIS", "It IS true."):
        assert "org:islamic-state" not in entity_ids(text, "en"), text


def test_armed_groups_and_bodies_of_states_are_known() -> None:
    assert "org:pkk" in entity_ids("Die Armee geht gegen die PKK vor.", "de")
    assert "org:houthis" in entity_ids("Houthi rebels fired missiles.", "en")
    assert "org:boko-haram" in entity_ids("Boko Haram kidnapped the girls.", "en")
    assert "org:eurozone" in entity_ids("Ein Austritt aus der Eurozone", "de")
    assert "org:international-lenders" in entity_ids("Streit mit den internationalen Geldgebern", "de")


def test_brexit_is_a_matter_between_the_uk_and_the_eu(tagger: Tagger) -> None:
    """The word "Brexit" names the United Kingdom and the EU (it implies both): a sentence with it is a relation."""
    assert {"event:brexit", "country:gb", "org:eu"} <= set(entity_ids("Der Brexit", "de"))
    poll = "Eine knappe Mehrheit würde laut einer Umfrage für den Brexit stimmen."
    geo = _geo(tagger, title="", body=poll, language="de")
    assert geo["groups"]["relation_lead"]["hits"].keys() >= {"United Kingdom", "European Union"}
    assert geo["tagged"]


@pytest.mark.parametrize(
    ("title", "body", "language"),
    [
        (
            "Nordkorea weist Vorwürfe im Sony-Hack zurück",
            "Nordkorea hat jede Beteiligung an dem Hackerangriff auf Sony Pictures zurückgewiesen. Das FBI hatte "
            "Pjöngjang für die Attacke verantwortlich gemacht. US-Präsident Obama kündigte eine Antwort an.",
            "de",
        ),
        (
            "Ukraine: Stromausfall nach Cyberangriff",
            "Nach einem Cyberangriff auf Umspannwerke ist in der Westukraine stundenlang der Strom ausgefallen. "
            "Kiew macht russische Hacker verantwortlich. Die Schadsoftware habe die Steuerungssysteme lahmgelegt.",
            "de",
        ),
        (
            "Investigators blame North Korea for hack of state broadcaster",
            "Government investigators on Tuesday blamed North Korea for a cyberattack that wiped the computers of a "
            "state broadcaster last month. Officials said the malware matched tools used in earlier attacks.",
            "en",
        ),
    ],
)
def test_a_cyberattack_attributed_to_a_state_is_geopolitics(
    tagger: Tagger, title: str, body: str, language: str
) -> None:
    """The definition's includes: "a cyberattack attributed to a state, or a state's response to one"."""
    result = tagger.tag(title=title, body=body, language=language)
    assert {"cyberattack", "geopolitics"} <= set(result.tags)


@pytest.mark.parametrize(
    ("title", "body", "language"),
    [
        # a hacker's nationality and criminal charges are not a state's act
        (
            "Russischer Hacker in den USA angeklagt",
            "Ein 29-jähriger Russe ist in New York angeklagt worden, weil er mit Schadsoftware Bankdaten von "
            "Tausenden Kunden gestohlen haben soll. Ihm drohen bis zu 20 Jahre Haft.",
            "de",
        ),
        # blame without a state
        (
            "Polizei macht Hackerbande für Angriff auf Stadtwerke verantwortlich",
            "Die Polizei macht eine Hackerbande für den Angriff auf die Stadtwerke verantwortlich. Die Täter hatten "
            "Server verschlüsselt und Lösegeld gefordert.",
            "de",
        ),
    ],
)
def test_a_cyberattack_without_a_blamed_state_is_not_geopolitics(
    tagger: Tagger, title: str, body: str, language: str
) -> None:
    result = tagger.tag(title=title, body=body, language=language)
    assert "cyberattack" in result.tags and "geopolitics" not in result.tags
