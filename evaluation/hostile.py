"""Hostile documents for the fault server: feeds that break parsers, links and redirects that break URL
handling, pages that hide their text or truncate their bodies, and secrets that must never leak.

Everything is generated here (no external data). The fault server (:mod:`evaluation.faultserver`) serves them;
``make eval-faults`` (:mod:`evaluation.faults`) checks that none of them crashes, hangs or leaks.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import Sequence
from xml.sax.saxutils import escape

#: Secrets that must never reach a request, the archive, the index or any output.
USERINFO_USER = "newsreader"
USERINFO_SECRET = "pw-Userinfo-7f3a9c"
COOKIE_SECRET = "sess-Cookie-5b21e8"
FILE_SECRET = "file-Secret-90d4c2"
BYSTANDER_SECRET = "bystander-Admin-3e77aa"
SECRETS = (USERINFO_SECRET, COOKIE_SECRET, FILE_SECRET, BYSTANDER_SECRET)

#: The article each hostile feed lists (served by the fault server at ``/articles/<n>.html``): indexed when the
#: feed is read despite its fault, except for the two feeds that must give nothing.
FEED_ARTICLES = {
    "psc-chapter.xml": 510,
    "gml-pos.xml": 511,
    "cc-license.xml": 512,
    "encoding-label.xml": 513,
    "json-numeric-title.json": 514,
    "w3c-entities.xml": 515,
    "bad-links.xml": 516,
    "koi8r.xml": 517,
    "json-surrogate.json": 520,
    "many-attributes.xml": 521,
    "crowded.xml": 522,
}
#: Hostile feeds that must yield no article: no items at all; a body naming a local file (read, it would list
#: the article of ``secret_file_feed``).
EMPTY_FEEDS = {"json-items-number.json": 518, "file-path.xml": 519}


def secret_forms() -> list[str]:
    """Every form a secret can take on the wire: plain, and inside a Basic ``Authorization`` value."""
    basic = base64.b64encode(f"{USERINFO_USER}:{USERINFO_SECRET}".encode()).decode()
    return [*SECRETS, basic]


def _rss(items: Sequence[tuple[str, str]], *, namespaces: str = "", extra: str = "", decl: str = "") -> str:
    body = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>{extra}</item>" for title, link in items
    )
    declaration = decl or '<?xml version="1.0" encoding="utf-8"?>'
    return (
        f"{declaration}\n"
        f'<rss version="2.0"{namespaces}><channel><title>hostile</title><link>http://example.org/</link>'
        f"<description>hostile feed</description>{body}</channel></rss>\n"
    )


def feedparser_bug_feeds(good_link: str) -> dict[str, bytes]:
    """Well-formed (or nearly) feeds on which feedparser 6.0 itself raises; each lists ``good_link``."""
    items = [("salvaged entry", good_link)]
    return {
        # podlove chapter without start=: TypeError in feedparser's time parsing
        "psc-chapter.xml": _rss(
            items,
            namespaces=' xmlns:psc="http://podlove.org/simple-chapters"',
            extra='<psc:chapters version="1.2"><psc:chapter title="Intro"/></psc:chapters>',
        ).encode(),
        # gml:pos outside georss:where: KeyError 'where'
        "gml-pos.xml": _rss(
            items, namespaces=' xmlns:gml="http://www.opengis.net/gml"', extra="<gml:pos>52.5 13.4</gml:pos>"
        ).encode(),
        # a stray end tag of the creativeCommons licence element: KeyError 'license' in the loose parser
        "cc-license.xml": _rss(
            items,
            namespaces=' xmlns:creativeCommons="http://backend.userland.com/creativeCommonsRssModule"',
            extra="</creativeCommons:license>",
        ).encode(),
        # a non-UTF-8 byte in the XML declaration's encoding label: UnicodeDecodeError
        "encoding-label.xml": _rss(items).encode().replace(b'encoding="utf-8"', b'encoding="utf-\xff8"', 1),
    }


def bad_link_feed(base_url: str, good_link: str, bystander_url: str) -> bytes:
    """Entry links that broke URL handling (each must be dropped as ``bad_url`` or refused, never crash), one
    with a secret in its userinfo (must be stripped), one pointing at another loopback service."""
    host = base_url.split("://", 1)[1]
    with_userinfo = good_link.replace("://", f"://{USERINFO_USER}:{USERINFO_SECRET}@", 1)
    links = [
        ("port out of range", "http://127.0.0.1:99999/articles/1.html"),
        ("non-numeric port", f"http://{host.split(':')[0]}:8o/articles/1.html"),
        ("broken ipv6 bracket", "http://[::1/articles/1.html"),
        ("unbalanced ipv6", "http://[fe80::1%eth0/x"),
        ("space in host", "http://exa mple.com/a"),
        ("percent in host", "http://%41%42.example/a"),
        ("credentials", with_userinfo),
        ("bystander service", f"{bystander_url}/admin"),
        ("no host", "http://:80/nohost"),
    ]
    doc = _rss(links)
    # a control character in one link (XML 1.0 forbids it: the loose parser reads the document)
    doc = doc.replace("</channel>", f"<item><title>control</title><link>{base_url}/a\x01b</link></item></channel>")
    return doc.encode("utf-8")


def json_feeds(good_link: str) -> dict[str, bytes]:
    """JSON Feeds with the wrong types where strings and lists belong."""
    return {
        "json-items-number.json": json.dumps(
            {"version": "https://jsonfeed.org/version/1.1", "title": "five", "items": 5}
        ).encode(),
        "json-numeric-title.json": json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": 42,
                "items": [
                    {"id": 1, "url": good_link, "title": 7, "authors": [{"name": 3}, "x"], "summary": ["a"]},
                    {"id": 2, "url": 99, "title": None},
                    "not an item",
                ],
            }
        ).encode(),
        # a lone surrogate (valid JSON, not encodable as UTF-8) and NUL in the entry's strings: the archive
        # refused the page's record and the whole capture batch failed as an ArchiveError, on every run
        "json-surrogate.json": (
            '{"version": "https://jsonfeed.org/version/1.1", "title": "surrogate\\u0000", "items": [{"id": "s1",'
            f' "url": {json.dumps(good_link)}, "title": "lone \\ud800 surrogate\\u0007",'
            ' "authors": [{"name": "\\udfff"}]}]}'
        ).encode(),
    }


#: Odd pages whose article must still be indexed (``/odd/<kind>/<n>.html`` serves article ``n`` so): what made
#: lxml, trafilatura or Elasticsearch lose the article whole.
ODD_PAGES = ("control-ref", "deep-nesting", "huge-meta", "long-canonical", "many-attributes")
#: A later odd page (served the same way, numbered apart so no article number is shared): 3,000 unclosed
#: ``<blockquote>``, structural tags past huge_tree's 2,048 levels, where the page was cut off.
LATER_ODD_PAGES = ("deep-structure",)


def odd_page(kind: str, html: str) -> bytes:
    """Article ``html`` made odd in one way (``kind`` from :data:`ODD_PAGES` or :data:`LATER_ODD_PAGES`)."""
    if kind == "control-ref":  # a reference to a code point XML cannot hold: trafilatura found nothing
        html = html.replace("<p>", "<p>&#x1; &#11; ", 1)
    elif kind == "deep-nesting":  # past libxml2's 256 (and huge_tree's 2,048) levels the page was cut off
        html = html.replace("<article>", "<article>" + "<font size=2>" * 3_000, 1)
    elif kind == "deep-structure":
        html = html.replace("<article>", "<article>" + "<blockquote>" * 3_000, 1)
    elif kind == "huge-meta":  # a 40 KB author and site name: a keyword term Elasticsearch refuses
        big = "Desk " * 8_000
        html = html.replace('content="Fault Server Desk"', f'content="{big}"', 1).replace(
            "</title>", f'</title><meta property="og:site_name" content="{"Site " * 8_000}">', 1
        )
    elif kind == "long-canonical":  # a 40 KB canonical URL: an immense url term, and no URL to fetch
        html = html.replace('rel="canonical" href="', 'rel="canonical" href="/x?' + "q" * 40_000 + "&amp;", 1)
    elif kind == "many-attributes":  # libxml2 reads them in quadratic time: 32 s, past the extraction budget
        attributes = " ".join(f'data-a{i}="{i}"' for i in range(100_000))
        html = html.replace("<article>", f"<article {attributes}>", 1)
    else:
        raise ValueError(f"unknown odd page {kind!r}")
    return html.encode("utf-8")


def many_attributes_feed(good_link: str) -> bytes:
    """An item with 60,000 attributes (650 KB): feedparser reads attributes in quadratic time (over a minute)."""
    attributes = " ".join(f'a{i}="{i}"' for i in range(60_000))
    return _rss([("many attributes", good_link)]).replace("<item>", f"<item {attributes}>", 1).encode()


def crowded_feed(base_url: str, good_link: str) -> bytes:
    """400 copies of one link (tracking parameters apart) before the feed's other article: with
    ``max_entries_per_feed`` 300 the copies crowded it out."""
    copies = [(f"copy {i}", f"{base_url}/articles/0.html?utm_source=crowd{i}") for i in range(400)]
    return _rss([*copies, ("the other article", good_link)]).encode()


def w3c_entities_feed(good_link: str) -> bytes:
    """An old RSS 1.0 feed importing the W3C XHTML entity sets in its DOCTYPE, using ``&eacute;``."""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        "<!DOCTYPE rdf:RDF [\n"
        '<!ENTITY % HTMLlat1 PUBLIC "-//W3C//ENTITIES Latin 1 for XHTML//EN"\n'
        ' "http://www.w3.org/TR/xhtml1/DTD/xhtml-lat1.ent">\n%HTMLlat1;\n'
        '<!ENTITY % HTMLspecial PUBLIC "-//W3C//ENTITIES Special for XHTML//EN"'
        ' "http://www.w3.org/TR/xhtml1/DTD/xhtml-special.ent">\n%HTMLspecial;\n'
        "]>\n"
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">\n'
        '<channel rdf:about="http://example.org/"><title>Caf&eacute; news &mdash; old</title>'
        "<link>http://example.org/</link><description>d</description></channel>\n"
        f'<item rdf:about="{escape(good_link)}"><title>R&eacute;sum&eacute; of the week</title>'
        f"<link>{escape(good_link)}</link></item>\n</rdf:RDF>\n"
    ).encode("latin-1")


KOI8_TITLE = "Новости недели: правительство и парламент"


def koi8_feed(good_link: str) -> bytes:
    """A KOI8-R feed whose only charset information is the HTTP header's ``charset=koi8-r``."""
    return _rss([(KOI8_TITLE, good_link)], decl='<?xml version="1.0"?>').encode("koi8-r")


def file_path_feed(path: str) -> bytes:
    """A feed body that is a local file name: feedparser given bytes tries them as a path first."""
    return path.encode()


def secret_file_feed(good_link: str) -> bytes:
    """What the local file named by :func:`file_path_feed` holds: a feed whose title is a secret."""
    return _rss([(f"local file {FILE_SECRET}", good_link)]).encode()


def interstitial_page(target: str, *, delay: int = 0) -> bytes:
    """A consent/redirect interstitial: no article, a meta refresh to ``target``."""
    return (
        f'<!DOCTYPE html><html><head><meta http-equiv="refresh" content="{delay}; url={escape(target)}">'
        "<title>Redirecting</title></head><body><p>You are being redirected.</p></body></html>"
    ).encode()


_GERMAN = (
    "Größere Änderungen im Straßenverkehr: Die Behörde in Köln erklärt, dass Fußgänger künftig Vorrang "
    "haben. Außerdem wurden Gebühren für Parkplätze erhöht; Bürger äußerten Kritik an der Maßnahme. "
)
_SPANISH = (
    "En España y en São Paulo, el niño vio el cañón; la señora compró piñatas y jalapeños. "
    "Mañana habrá reuniones en Logroño, Peñíscola y Cataluña, según el señor Muñoz. "
)


def utf8_stray_byte_page() -> bytes:
    """A UTF-8 article (declared so) with one stray windows-1252 byte: must stay UTF-8."""
    paras = "".join(f"<p>{_GERMAN * 2} Absatz {i}.</p>" for i in range(4))
    html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Verkehr in Köln</title></head>'
        f"<body><article><h1>Verkehr in Köln</h1>{paras}</article></body></html>"
    ).encode()
    return html.replace(b"Absatz 1.", b"Absatz 1\x92s.", 1)


def cp1252_as_utf8_page() -> bytes:
    """A windows-1252 article (ñ, ã: letters cp1250 decodes differently) whose header claims UTF-8."""
    paras = "".join(f"<p>{_SPANISH * 2} Párrafo {i}.</p>" for i in range(5))
    return (
        "<!DOCTYPE html><html><head><title>Noticias de España</title></head>"
        f"<body><article><h1>Noticias de España</h1>{paras}</article></body></html>"
    ).encode("cp1252")


def truncated(data: bytes, encoding: str) -> bytes:
    """``data`` compressed with ``encoding`` (gzip or deflate), cut off before the end of the stream."""
    packed = gzip.compress(data) if encoding == "gzip" else zlib.compress(data)
    return packed[: len(packed) * 2 // 3]


# --- the third round (2026-12-04): what red-teaming found in fetching and feed parsing ----------------------------

#: Feeds of the third round that each list one good article (merged into :data:`FEED_ARTICLES`).
THIRD_ROUND_FEEDS = {
    "linkless-crowd.xml": 523,
    "self-links.xml": 524,
    "quoted-xxe.xml": 525,
    "json-angles.json": 526,
}
#: A third-round feed that must yield no article: a billion-laughs DOCTYPE after a megabyte of comment.
THIRD_ROUND_EMPTY = {"padded-laughs.xml": 527}
FEED_ARTICLES.update(THIRD_ROUND_FEEDS)
EMPTY_FEEDS.update(THIRD_ROUND_EMPTY)
#: Article pages served with an odd but valid encoding (``/encoded/<kind>/<n>.html``): each must be indexed.
ENCODED_PAGES = ("gzip-members", "deflate-raw", "charset-undefined", "utf16-label")


def third_round_feeds(good_link: str, billion_laughs: bytes) -> dict[str, bytes]:
    """The third round's feeds, by name; each lists ``good_link`` (the padded one behind its attack)."""
    linkless = "".join("<item><title>no link here</title></item>" for _ in range(3_000))
    crowd = _rss([("good", good_link)]).replace("<channel>", "<channel>" + linkless, 1)
    self_links = _rss([("the feed itself", "#"), ("top", "#top"), ("good", good_link)])
    quoted = _rss([("XXE explained", good_link)]).replace(
        "</link>",
        '</link><description><![CDATA[Payload: <!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>]]></description>',
        1,
    )
    angles = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "angles",
        "items": [{"id": "1", "url": good_link, "title": "angles", "content_html": "<b" * 300_000}],
    }
    declaration, rest = billion_laughs.split(b"\n", 1)
    padded = (
        declaration
        + b"\n<!-- "
        + b"padding " * 140_000
        + b"-->\n"
        + rest.replace(b"http://example.org/a", good_link.encode())
    )
    return {
        "linkless-crowd.xml": crowd.encode(),
        "self-links.xml": self_links.encode(),
        "quoted-xxe.xml": quoted.encode(),
        "json-angles.json": json.dumps(angles).encode(),
        "padded-laughs.xml": padded,
    }


def encoded_page(kind: str, html: str) -> tuple[bytes, dict[str, str]]:
    """Article ``html`` as body and headers encoded one odd way (``kind`` from :data:`ENCODED_PAGES`)."""
    data = html.encode("utf-8")
    if kind == "gzip-members":  # 600 empty gzip members before the page: RecursionError in the decoder once
        return gzip.compress(b"") * 600 + gzip.compress(data), {"Content-Encoding": "gzip"}
    if kind == "deflate-raw":  # deflate without its zlib header, as some servers send it
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return packer.compress(data) + packer.flush(), {"Content-Encoding": "deflate"}
    if kind == "charset-undefined":  # a Python codec that raises on every byte
        return data, {"Content-Type": "text/html; charset=undefined"}
    if kind == "utf16-label":  # ASCII-compatible bytes under a UTF-16 label
        return data, {"Content-Type": "text/html; charset=utf-16"}
    raise ValueError(kind)


#: Responses that are not HTTP (``/malformed/<kind>``), sent raw on the socket: each must be skipped as
#: ``protocol_error`` (not a network problem), and never crash the client that reads it.
_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
MALFORMED_RESPONSES = {
    "status-line": b"HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\nok",
    "header-line": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nno colon in this line\r\n\r\n<p>x</p>",
    "two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabc",
    "negative-length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc",
    "nul-in-header": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    # chunked bodies whose framing is broken (they were incomplete_body, as if the server had hung up)
    "chunk-size": _CHUNKED + b"zz\r\n<p>x</p>\r\n0\r\n\r\n",
    "chunk-overrun": _CHUNKED + b"3\r\n<p>x</p>\r\n0\r\n\r\n",
}


def consent_wall_page(site: str) -> bytes:
    """What some publishers serve instead of the article to a client without their consent cookie: the same notice
    on every URL. Indexed, every such URL was one "article" of identical text (written for this project)."""
    return f"""<!doctype html><html lang="en"><head><title>Before you continue to {site}</title></head><body>
<main class="consent"><h1>We value your privacy</h1>
<p>We and our partners store and/or access information on a device, such as cookies, and process personal data,
such as unique identifiers, for personalised advertising and content, advertising and content measurement and
audience research.</p>
<p>You may accept all, reject all or manage your preferences at any time through the privacy settings link at the
bottom of every page of {site}. Some partners process your data on the basis of a legitimate interest, to which
you may object.</p>
<p>If you choose Accept all, we will also use cookies to develop new services and to show you relevant ads.</p>
<button>Accept all</button> <button>Reject all</button> <button>Manage preferences</button></main></body></html>
""".encode()


def not_found_page(site: str) -> bytes:
    """A not-found page served with status 200 ("soft 404"), with teasers of other articles (written for this
    project): it was indexed as an article titled "Fehler 404"."""
    return f"""<!doctype html><html lang="de"><head><title>Seite nicht gefunden - {site}</title></head><body>
<main><h1>Fehler 404</h1><p>Die von Ihnen aufgerufene Seite existiert leider nicht mehr oder wurde verschoben.
Vielleicht finden Sie das Gesuchte über unsere Suche oder auf der Startseite von {site}.</p>
<div class="teaser"><h2>Meistgelesen</h2><p><a href="/x">Bundestag beschließt Haushalt nach langer Debatte in der
Nacht zum Freitag</a></p><p><a href="/y">Unwetter: Tausende Haushalte im Norden ohne Strom, Bahnverkehr
eingeschränkt</a></p></div></main></body></html>
""".encode()
