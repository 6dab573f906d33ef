"""The response value and body decoding (a leaf module: fetching, archive and state import it)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from ingest.response import ArchiveRef, Response, charset_of, codec_for, decode_body

pytestmark = pytest.mark.unit

GERMAN = "Größere Änderungen im Straßenverkehr: die Behörde in Köln erklärt, dass Fußgänger Vorrang haben. "
SPANISH = "En España y en São Paulo, el niño vio el cañón; mañana en Logroño, según el señor Muñoz. "
CZECH = "Příliš žluťoučký kůň úpěl ďábelské ódy. Šťastný nový rok, řekl ministr Dvořák. "


def test_declared_utf8_with_a_few_bad_bytes_stays_utf8() -> None:
    body = (GERMAN * 5).encode().replace("Köln".encode(), b"K\x92ln", 1)
    text = decode_body(body, "utf-8")
    assert text.count("\ufffd") == 1
    assert text.count("Straßenverkehr") == 5  # not the whole page as cp1252 mojibake ("StraÃŸenverkehr")


def test_undeclared_utf8_with_a_stray_byte_stays_utf8() -> None:
    body = f'<html><head><meta charset="utf-8"></head><body>{GERMAN * 3}\x00</body></html>'.encode() + b"\x92"
    assert "Straßenverkehr" in decode_body(body, None)


def test_cp1252_labelled_utf8_is_detected_as_cp1252_not_cp1250() -> None:
    body = (SPANISH * 12).encode("cp1252")
    text = decode_body(body, "utf-8")
    assert text == SPANISH * 12  # cp1250 would give "Espańa", "S\u0103o Paulo"


def test_real_cp1250_is_still_cp1250() -> None:
    body = (CZECH * 12).encode("cp1250")
    assert decode_body(body, None) == CZECH * 12


def test_short_legacy_text_falls_back_to_windows_1252() -> None:
    assert decode_body("Köln \u201equoted\u201c \u20ac".encode("cp1252"), "utf-8") == "Köln \u201equoted\u201c \u20ac"


def test_labels() -> None:
    assert codec_for("ISO-8859-1") == "cp1252" and codec_for("latin1") == "cp1252"
    assert codec_for("koi8-r") == "koi8-r" and codec_for("utf-\xff8") is None and codec_for("nonsense") is None
    assert charset_of('application/rss+xml; Charset="KOI8-R"') == "koi8-r"
    assert charset_of("text/html") is None


def test_response_value() -> None:
    ref = ArchiveRef(path="/a.warc.gz", record_id="<urn:uuid:x>")
    response = Response(
        url="http://e.org/a",
        final_url="http://e.org/b",
        status=200,
        headers={"content-type": "text/html; charset=KOI8-R"},
        content="Новости".encode("koi8-r"),
        fetched_at=datetime(2026, 11, 20, tzinfo=UTC),
        kind="page",
        archive_ref=ref,
    )
    assert response.content_type == "text/html" and response.charset == "koi8-r"
    assert response.text() == "Новости"


def test_response_module_is_a_leaf_and_fetching_re_exports_it() -> None:
    code = (
        "import sys, ingest.response, ingest.archive, ingest.state\n"
        "assert 'ingest.fetching' not in sys.modules, 'archive/state must not import fetching'\n"
        "import ingest.fetching\n"
        "assert ingest.fetching.Response is ingest.response.Response\n"
        "from ingest.archive import ArchiveRef; assert ArchiveRef is ingest.response.ArchiveRef\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    probe = "import sys, ingest.response; print(sorted(m for m in sys.modules if m.startswith('ingest.')))"
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == "['ingest.response']"


# --- labels that are no web page's encoding (found by red-teaming) ---------------------------------------------


@pytest.mark.parametrize(
    "label", ["undefined", "punycode", "idna", "unicode_escape", "raw_unicode_escape", "rot13", "base64", "utf-7"]
)
def test_python_codecs_that_are_no_web_encoding_are_ignored(label: str) -> None:
    assert codec_for(label) is None
    page = "<html><body><p>Café in Köln \\u00e9 \\x41</p></body></html>"
    assert decode_body(page.encode("utf-8"), label) == page
    assert decode_body(f'<html><meta charset="{label}"><p>Café</p></html>'.encode(), None).endswith("Café</p></html>")


@pytest.mark.parametrize("label", ["utf-16", "utf-16le", "utf-32", "cp037", "cp500"])
def test_ascii_incompatible_label_on_ascii_markup_is_a_wrong_label(label: str) -> None:
    page = "<html><head><title>Sony</title></head><body><p>Ein Hackerangriff auf Sony.</p></body></html>"
    assert decode_body(page.encode("utf-8"), label) == page


def test_real_utf16_without_bom_still_decodes() -> None:
    page = "<html><body><p>Grüße</p></body></html>"
    assert decode_body(page.encode("utf-16-le"), "utf-16le") == page


@pytest.mark.parametrize("label", ["gbk", "gb18030", "euc-jp", "big5-hkscs"])
def test_a_multibyte_legacy_label_on_utf8_bytes_is_a_wrong_label(label: str) -> None:
    """GBK and its kin decode UTF-8 bytes without an error, into other characters ("K枚ln"): a legacy label on
    valid multi-byte UTF-8 lies, for them as for the single-byte code pages."""
    body = f"<html><head><title>Köln</title></head><body>{GERMAN * 3}</body></html>".encode()
    assert decode_body(body, label).count("Straßenverkehr") == 3


@pytest.mark.parametrize(
    ("codec", "text"),
    [
        ("gbk", "北京市政府今天宣布了新的交通政策，市民对此反应不一。"),
        ("big5", "臺北市政府今天宣布了新的交通政策。"),
        ("shift_jis", "東京都は今日、新しい交通政策を発表しました。"),
        ("euc_kr", "서울시는 오늘 새로운 교통 정책을 발표했습니다."),
        ("koi8_r", "Правительство Москвы объявило о новой политике."),
    ],
)
def test_real_legacy_text_keeps_its_label(codec: str, text: str) -> None:
    for repeat in (1, 5):
        body = f"<html><head><title>x</title></head><body><p>{text * repeat}</p></body></html>".encode(codec)
        assert text in decode_body(body, codec)
