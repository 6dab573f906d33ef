"""HTML repairs before extraction: markup on which lxml or trafilatura would silently lose a whole article.

Each repair changes nothing a reader sees; each exists because the unrepaired page came out as a permanent
``no_content`` or ``body_too_short`` skip although it holds an article:

* :func:`drop_forbidden_references`: ``&#x1;``, ``&#11;`` (a vertical tab pasted from a word processor)
  and other references to code points XML cannot hold stay in lxml's tree, and trafilatura's XML stage then
  fails on the whole page.
* :func:`cap_attributes`: libxml2 and feedparser read the attributes of one element in quadratic time (a
  1 MB page whose ``<article>`` has 100,000 attributes took 32 s, past the extraction budget; a feed item with
  40,000, 26 s). No markup needs more than :data:`MAX_ATTRIBUTES`; the rest are cut, linearly.
* :func:`flattened`: libxml2's HTML parser stops at 256 levels of nesting (2,048 with ``huge_tree``) and drops
  the rest of the document: a few hundred unclosed ``<span>`` tags are enough. Only for a page that came out
  without an article and is that deep, the wrapper tags are removed, structural tags past
  :data:`MAX_MARKUP_DEPTH` open ones (thousands of unclosed ``<blockquote>``, nested lists or tables) are
  dropped from the markup, and the page is parsed again, unwrapping what is still too deep.
"""

from __future__ import annotations

import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

#: A numeric character reference, with or without its semicolon (HTML accepts both).
_CHAR_REF_RE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")
#: Deeper than this, libxml2 (without XML_PARSE_HUGE) gives up on the document; trafilatura adds no levels.
MAX_DEPTH = 200
#: Elements that carry an article's structure: kept when wrappers around them are unwrapped.
_STRUCTURE = frozenset(
    [
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "table",
        "thead",
        "tbody",
        "tr",
        "td",
        "th",
        "img",
        "br",
        "a",
        "figure",
        "figcaption",
        "article",
        "main",
        "section",
        "header",
        "footer",
        "nav",
        "aside",
        "title",
        "head",
        "body",
        "html",
    ]
)


#: More attributes than this on one element is no page or feed markup (a ``media:content`` has about ten).
MAX_ATTRIBUTES = 100
#: A start tag with more than MAX_ATTRIBUTES attributes spans at least this much without a ``<``.
_LONG_TAG_RE = re.compile(r"<[A-Za-z_][^\s/<>]*(?=[^<]{" + str(MAX_ATTRIBUTES * 2) + r"})")
#: One attribute: quoted, unquoted (HTML) or without a value (HTML).
_ATTRIBUTE = r"""\s+[^\s=/<>"']+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?"""
_ATTRIBUTE_RE = re.compile(_ATTRIBUTE)
_TAG_END_RE = re.compile(f"(?:{_ATTRIBUTE})*" + r"\s*(/?)>")


def cap_attributes(text: str) -> str:
    """``text`` (HTML or XML) with every start tag cut to its first :data:`MAX_ATTRIBUTES` attributes.

    Only stretches long enough to hold such a tag are looked at, so a normal document costs one regex scan.
    Bytes of any ASCII-compatible encoding can go through as latin-1 text (one character per byte).
    """
    if text.count("=") <= MAX_ATTRIBUTES and text.count(" ") <= MAX_ATTRIBUTES:
        return text
    cuts: list[tuple[int, int]] = []
    for tag in _LONG_TAG_RE.finditer(text):
        position, count = tag.end(), 0
        while count < MAX_ATTRIBUTES and (attribute := _ATTRIBUTE_RE.match(text, position)) is not None:
            position, count = attribute.end(), count + 1
        if count < MAX_ATTRIBUTES or _ATTRIBUTE_RE.match(text, position) is None:
            continue
        end = _TAG_END_RE.match(text, position)
        if end is not None:
            cuts.append((position, end.start(1)))
    if not cuts:
        return text
    logger.info("%d start tags cut to their first %d attributes", len(cuts), MAX_ATTRIBUTES)
    parts, last = [], 0
    for start, stop in cuts:
        parts.append(text[last:start])
        last = stop
    parts.append(text[last:])
    return "".join(parts)


def drop_forbidden_references(html: str) -> str:
    """``html`` with numeric references to code points XML cannot hold (C0 controls but tab, LF and CR;
    U+FFFE, U+FFFF) replaced by a space. Browsers show nothing there either."""
    if "&#" not in html:
        return html
    return _CHAR_REF_RE.sub(_forbidden_to_space, html)


def _forbidden_to_space(match: re.Match[str]) -> str:
    hex_digits, digits = match.groups()
    code = int(hex_digits, 16) if hex_digits else int(digits)
    if (code < 0x20 and code not in (0x09, 0x0A, 0x0D)) or code in (0xFFFE, 0xFFFF):
        return " "
    return match.group()


#: Tags that only wrap text (formatting) or other blocks (containers): what deep nesting consists of.
_WRAPPER_RE = re.compile(
    r"</?(?:span|font|b|i|u|em|strong|small|big|sub|sup|mark|s|strike|tt|abbr|cite|ins|del|q|label"
    r"|div|center)\b[^>]*>",
    re.IGNORECASE,
)


#: Open tags counted in the markup past which :func:`flattened` drops further ones (and their end tags): well
#: under huge_tree's 2,048, so the parse that follows reads the whole page.
MAX_MARKUP_DEPTH = 1_000
#: A start or end tag and its name (a comment, doctype or stray ``<`` does not match).
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)\b[^>]*>")
#: Elements without content: never open, so they add no depth.
_VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input",
        "keygen", "link", "meta", "param", "source", "track", "wbr",
    }
)  # fmt: skip


def flattened(html: str) -> Any | None:
    """An lxml tree of ``html`` at most about :data:`MAX_DEPTH` deep, or None when the page is not deeper
    than that (nothing to repair) or cannot be parsed.

    Wrapper tags (formatting and containers, what hundreds of unclosed ``<font>`` or nested ``<div>`` are made
    of) are removed from the markup, which keeps every word; what is still too deep after parsing without the
    depth limit is unwrapped (its text and children move up, as ``drop_tag`` does).
    """
    probe = _parse(html, huge=True)
    if probe is None or not _too_deep(probe, keep=frozenset()):
        return None
    root = _parse(_cap_nesting(_WRAPPER_RE.sub(_wrapper_gap, html)), huge=True)
    if root is None:
        return None
    for keep in (_STRUCTURE, frozenset()):
        for element in _too_deep(root, keep=keep):
            element.drop_tag()
    return root


def _cap_nesting(html: str, limit: int = MAX_MARKUP_DEPTH) -> str:
    """``html`` without the start tags that would open more than ``limit`` elements at once, nor as many of
    their end tags: every word stays. Counted on the markup, as written (an element HTML closes implicitly, an
    unclosed ``<p>`` or ``<li>``, counts as open), which only makes the cap come sooner on a page that deep."""
    depth = 0
    dropped: dict[str, int] = {}
    parts: list[str] = []
    last = 0
    for match in _TAG_RE.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        if name in _VOID or match.group().endswith("/>"):
            continue
        if closing:
            if dropped.get(name):
                dropped[name] -= 1
            else:
                depth = max(0, depth - 1)
                continue
        elif depth < limit:
            depth += 1
            continue
        else:
            dropped[name] = dropped.get(name, 0) + 1
        parts.append(html[last : match.start()])
        parts.append(" ")
        last = match.end()
    if not parts:
        return html
    parts.append(html[last:])
    return "".join(parts)


def _wrapper_gap(match: re.Match[str]) -> str:
    """Containers leave a space between the blocks they separated; formatting tags leave nothing."""
    name = match.group()[1:].lstrip("/").split(None, 1)[0].rstrip(">").lower()
    return " " if name in ("div", "center") else ""


def _parse(html: str, *, huge: bool) -> Any | None:
    import lxml.html  # lazy, like trafilatura
    from lxml import etree

    parser = lxml.html.HTMLParser(
        collect_ids=False,
        default_doctype=False,
        encoding="utf-8",
        remove_comments=True,
        remove_pis=True,
        huge_tree=huge,
    )
    try:
        return lxml.html.fromstring(html.encode("utf-8", "replace"), parser=parser)
    except (etree.ParserError, ValueError, TypeError) as exc:
        logger.debug("page does not parse: %s", exc)
        return None


def _too_deep(root: Any, *, keep: frozenset[str]) -> list[Any]:
    """Elements deeper than :data:`MAX_DEPTH` whose tag is not in ``keep``, in document order."""
    depth: dict[Any, int] = {root: 0}
    found = []
    for element in root.iterdescendants():
        level = depth[element.getparent()] + 1
        depth[element] = level
        if level > MAX_DEPTH and not (isinstance(element.tag, str) and element.tag in keep):
            found.append(element)
    return found


__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_MARKUP_DEPTH",
    "cap_attributes",
    "drop_forbidden_references",
    "flattened",
]
