"""HTML repairs before extraction (:mod:`ingest.markup`)."""

from __future__ import annotations

import re

import pytest

from ingest.markup import MAX_ATTRIBUTES, cap_attributes, drop_forbidden_references

pytestmark = pytest.mark.unit


def test_a_start_tag_is_cut_to_its_first_attributes_whatever_their_syntax() -> None:
    """libxml2 reads one element's attributes in quadratic time (100,000 on an ``<article>``: 32 s, past the
    extraction budget); quoted, unquoted and valueless HTML attributes all count."""
    attributes = " ".join(f'q{i}="1" u{i}=2 v{i}' for i in range(2_000))
    page = f"<html><body><article {attributes}><p>text</p></article><img src='a.png' alt=x></body></html>"
    capped = cap_attributes(page)
    tag = re.search(r"<article[^>]*>", capped)
    assert tag is not None
    assert len(re.findall(r"\s[quv]\d+", tag.group())) == MAX_ATTRIBUTES
    assert tag.group().startswith('<article q0="1" u0=2 v0 q1="1"')
    assert capped.endswith("<p>text</p></article><img src='a.png' alt=x></body></html>")


def test_self_closing_tags_stay_closed_and_normal_markup_is_untouched() -> None:
    many = " ".join(f'a{i}="{i}"' for i in range(500))
    assert cap_attributes(f"<x><e {many}/><f/></x>").endswith('a99="99"/><f/></x>')
    page = "<p class='a' id=b>" + "words and more words " * 1_000 + "</p>"
    assert cap_attributes(page) is page


def test_references_xml_cannot_hold_become_spaces_and_others_stay() -> None:
    assert drop_forbidden_references("a&#x1;b&#11;c&#65535;d&#8217;e&#x9;f&amp;") == "a b c d&#8217;e&#x9;f&amp;"
