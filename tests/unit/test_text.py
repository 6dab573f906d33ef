"""Text that every store accepts (:mod:`ingest.text`)."""

from __future__ import annotations

import pytest

from ingest.text import clean, clean_value, clip_utf8

pytestmark = pytest.mark.unit


def test_clean_drops_controls_and_replaces_lone_surrogates() -> None:
    assert clean("a\x00b\x07c\x1b[0m\x7f") == "abc[0m"
    assert clean("tab\tlf\ncr\r") == "tab\tlf\ncr\r"
    assert clean("lone \ud800 and \udfff") == "lone \ufffd and \ufffd"
    assert clean("paired 😀 stays, ünïcödé too") == "paired 😀 stays, ünïcödé too"
    clean("x\ud83d").encode("utf-8")  # encodable after cleaning


def test_clip_never_cuts_inside_a_character() -> None:
    assert clip_utf8("é" * 10, 5) == "éé"
    assert clip_utf8("😀😀", 7) == "😀"
    assert clip_utf8("short", 100) == "short"


def test_clean_value_reaches_every_string() -> None:
    value = {"a\x00": ["x\ud800", ("y\x01",), {"z": "\x02"}], "n": 3, "f": None}
    assert clean_value(value) == {"a": ["x\ufffd", ["y"], {"z": ""}], "n": 3, "f": None}
