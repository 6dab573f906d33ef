# ruff: noqa: E501  (HTML templates are easier to read unwrapped)
"""Build the bundled sample corpus from its sources.

The article prose lives in ``src/articles-*.toml`` (original text written for this project); the outlets'
page templates, feed formats and URL schemes live here. Running this script rewrites ``site/`` (HTML pages
and feed documents), ``feeds.toml`` and ``manifest.toml`` next to it. The output is committed, and
``tests/unit/test_sample_corpus.py`` checks that it is in sync with the sources.

    .venv/bin/python seeds/sample/build.py            # rewrite the corpus in place
    .venv/bin/python seeds/sample/build.py --out DIR  # render somewhere else (used by the sync test)

Every absolute URL to the corpus is written as ``{{BASE_URL}}``; ``evaluation.devserver`` substitutes it while
serving.
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import tomllib
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BASE = "{{BASE_URL}}"


# --------------------------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Article:
    key: str
    outlet: str
    language: str
    published: datetime
    title: str
    author: str
    section: str
    story: str
    expected_tags: list[str]
    feeds: list[str]
    teaser: str
    paragraphs: list[str]
    status: int = 200
    duplicate_of_key: str | None = None
    path: str = ""
    duplicate_of: str | None = None
    comments: list[tuple[str, str, str]] = field(default_factory=list)


def _paragraphs(body: str) -> list[str]:
    return [" ".join(chunk.split()) for chunk in body.strip().split("\n\n") if chunk.strip()]


def load_articles(src: Path) -> list[Article]:
    raw: list[dict[str, Any]] = []
    for file in sorted(src.glob("articles-*.toml")):
        raw.extend(tomllib.loads(file.read_text(encoding="utf-8"))["article"])
    by_key = {entry["key"]: entry for entry in raw}
    if len(by_key) != len(raw):
        raise SystemExit("duplicate article key in sources")
    articles: list[Article] = []
    for entry in raw:
        body = entry.get("body", "")
        if "copy_of" in entry:
            body = by_key[entry["copy_of"]]["body"]
            for old, new in entry.get("edits", []):
                if old not in body:
                    raise SystemExit(f"{entry['key']}: edit target {old!r} not in the original")
                body = body.replace(old, new)
        articles.append(
            Article(
                key=entry["key"],
                outlet=entry["outlet"],
                language=OUTLETS[entry["outlet"]].language,
                published=datetime.fromisoformat(entry["published"]),
                title=entry["title"],
                author=entry["author"],
                section=entry["section"],
                story=entry["story"],
                expected_tags=list(entry.get("expected_tags", [])),
                feeds=list(entry["feeds"]),
                teaser=entry["teaser"],
                paragraphs=_paragraphs(body),
                status=int(entry.get("status", 200)),
                duplicate_of_key=entry.get("copy_of"),
            )
        )
    for art in articles:
        art.path = OUTLETS[art.outlet].article_path(art)
    paths = {a.key: a.path for a in articles}
    for art in articles:
        if art.duplicate_of_key:
            art.duplicate_of = paths[art.duplicate_of_key]
    return sorted(articles, key=lambda a: (a.published, a.path))


def load_comments(src: Path) -> dict[str, list[tuple[str, str]]]:
    data = tomllib.loads((src / "comments.toml").read_text(encoding="utf-8"))
    return {lang: [(c["name"], c["text"]) for c in items] for lang, items in data.items()}


def assign_comments(articles: list[Article], pool: dict[str, list[tuple[str, str]]]) -> None:
    for art in articles:
        choices = pool[art.language]
        start = zlib.crc32(art.key.encode()) % len(choices)
        picked = [choices[(start + i * 3) % len(choices)] for i in range(3)]
        art.comments = [
            (name, text, _iso(art.published.replace(microsecond=0) + _hours(2 + 3 * i)))
            for i, (name, text) in enumerate(picked)
        ]


def _hours(n: int) -> Any:
    from datetime import timedelta

    return timedelta(hours=n, minutes=7 * n)


def _iso(d: datetime) -> str:
    return d.isoformat()


def _num_id(art: Article, digits: int = 7) -> int:
    base = int(10 ** (digits - 1))
    return base + zlib.crc32(art.key.encode()) % (9 * base)


def esc(text: str) -> str:
    return html.escape(text, quote=True)


# --------------------------------------------------------------------------------------------------------------
# outlets
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Feed:
    name: str
    path: str
    fmt: str  # rss2 | atom | rdf
    title: str
    description: str
    encoding: str = "utf-8"
    #: query string appended to item links (tracking parameters)
    link_suffix: str = ""


@dataclass
class Outlet:
    key: str
    name: str
    prefix: str
    language: str
    html_lang: str
    country: str
    feeds: list[Feed]
    article_path: Callable[[Article], str]
    render: Callable[[Article, list[Article]], str]
    home_url: str = ""


def _date_parts(a: Article) -> tuple[str, str, str]:
    return f"{a.published:%Y}", f"{a.published:%m}", f"{a.published:%d}"


def _related(art: Article, articles: list[Article], n: int = 4) -> list[Article]:
    same = [a for a in articles if a.outlet == art.outlet and a.key != art.key and a.status == 200]
    same.sort(key=lambda a: (a.story != art.story, abs((a.published - art.published).total_seconds())))
    return same[:n]


def _body_html(art: Article, cls: str | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return "\n".join(f"        <p{attr}>{esc(p)}</p>" for p in art.paragraphs)


def _json_ld(art: Article, outlet: Outlet, logo: str) -> str:
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": art.title,
        "description": art.teaser,
        "datePublished": art.published.isoformat(),
        "dateModified": art.published.isoformat(),
        "inLanguage": outlet.html_lang,
        "author": [{"@type": "Person", "name": art.author}]
        if not art.author.startswith(("Meridian", "Redaktion"))
        else {"@type": "Organization", "name": art.author},
        "publisher": {
            "@type": "Organization",
            "name": outlet.name,
            "logo": {"@type": "ImageObject", "url": f"{BASE}{outlet.prefix}static/{logo}"},
        },
        "mainEntityOfPage": {"@type": "WebPage", "@id": f"{BASE}{art.path}"},
        "articleSection": art.section,
    }
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return text.replace("</", "<\\/")


def _comments_html(art: Article, heading: str, wrapper: str) -> str:
    items = []
    for i, (name, text, when) in enumerate(art.comments, start=1):
        items.append(
            f'      <li class="comment" id="comment-{i}">\n'
            f'        <div class="comment-meta"><span class="comment-author">{esc(name)}</span> '
            f'<time datetime="{when}">{when[:10]}</time></div>\n'
            f'        <div class="comment-body"><p>{esc(text)}</p></div>\n'
            f'        <div class="comment-actions"><a href="#reply-{i}">Reply</a> '
            f'<a href="#report-{i}">Report</a></div>\n'
            f"      </li>"
        )
    joined = "\n".join(items)
    return (
        f'  <{wrapper} id="comments" class="comments">\n'
        f"    <h2>{esc(heading)} ({len(art.comments)})</h2>\n"
        f'    <ol class="comment-list">\n{joined}\n    </ol>\n'
        f'    <form class="comment-form" action="#"><textarea name="comment"></textarea>'
        f'<button type="submit">Post</button></form>\n'
        f"  </{wrapper}>"
    )


# ---- The Northbridge Courier (US daily): JSON-LD, meta author, article:published_time ---------------------------


def northbridge_path(a: Article) -> str:
    y, m, d = _date_parts(a)
    return f"/northbridge-courier/{a.section.lower()}/{y}/{m}/{d}/{a.key}.html"


def northbridge_page(art: Article, articles: list[Article]) -> str:
    o = OUTLETS["northbridge"]
    related = "\n".join(f'        <li><a href="{esc(r.path)}">{esc(r.title)}</a></li>' for r in _related(art, articles))
    when = art.published
    return f"""<!DOCTYPE html>
<html lang="{o.html_lang}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{esc(art.title)} - The Northbridge Courier</title>
  <meta name="description" content="{esc(art.teaser)}">
  <meta name="author" content="{esc(art.author)}">
  <link rel="canonical" href="{BASE}{art.path}">
  <meta property="og:type" content="article">
  <meta property="og:title" content="{esc(art.title)}">
  <meta property="og:description" content="{esc(art.teaser)}">
  <meta property="og:url" content="{BASE}{art.path}">
  <meta property="og:site_name" content="The Northbridge Courier">
  <meta property="article:published_time" content="{when.isoformat()}">
  <meta property="article:section" content="{esc(art.section)}">
  <link rel="alternate" type="application/rss+xml" title="World" href="{BASE}/northbridge-courier/rss/world.xml">
  <link rel="stylesheet" href="/northbridge-courier/static/site.css">
  <script type="application/ld+json">
{_json_ld(art, o, "courier-logo.png")}
  </script>
</head>
<body class="article-page">
  <div id="cookie-consent" class="cookie-banner" role="dialog">
    <p>We use cookies and similar technologies to personalize content and measure our audience.
    By clicking Accept you agree to this use as described in our Cookie Policy.</p>
    <button type="button">Accept</button> <button type="button">Manage preferences</button>
  </div>
  <header class="masthead">
    <a class="logo" href="/northbridge-courier/">The Northbridge Courier</a>
    <p class="tagline">Serving the Lakeshore since 1871</p>
    <nav class="main-nav" aria-label="Sections">
      <ul>
        <li><a href="/northbridge-courier/">Home</a></li>
        <li><a href="/northbridge-courier/local/">Local</a></li>
        <li><a href="/northbridge-courier/world/">World</a></li>
        <li><a href="/northbridge-courier/business/">Business</a></li>
        <li><a href="/northbridge-courier/technology/">Technology</a></li>
        <li><a href="/northbridge-courier/sports/">Sports</a></li>
        <li><a href="/northbridge-courier/arts/">Arts</a></li>
        <li><a href="/northbridge-courier/opinion/">Opinion</a></li>
      </ul>
    </nav>
    <a class="subscribe" href="/northbridge-courier/subscribe/">Subscribe for $1 a week</a>
  </header>
  <main id="content">
    <nav class="breadcrumbs" aria-label="Breadcrumb">
      <a href="/northbridge-courier/">Home</a> &rsaquo;
      <a href="/northbridge-courier/{art.section.lower()}/">{esc(art.section)}</a>
    </nav>
    <article class="story">
      <header>
        <h1 class="headline">{esc(art.title)}</h1>
        <p class="byline">By <span class="author">{esc(art.author)}</span> |
          {when:%B} {when.day}, {when:%Y}</p>
      </header>
      <div class="share-tools">
        <a href="#share-facebook">Share on Facebook</a> <a href="#share-twitter">Tweet</a>
        <a href="#share-email">Email</a> <a href="#print">Print</a>
      </div>
      <div class="story-body">
{_body_html(art)}
      </div>
    </article>
    <aside class="related">
      <h2>More from The Courier</h2>
      <ul>
{related}
      </ul>
    </aside>
{_comments_html(art, "Reader comments", "section")}
  </main>
  <footer class="site-footer">
    <nav><a href="/northbridge-courier/about/">About us</a> | <a href="/northbridge-courier/contact/">Contact</a> |
    <a href="/northbridge-courier/privacy/">Privacy Policy</a> | <a href="/northbridge-courier/terms/">Terms of Service</a></nav>
    <p>&copy; 2014 The Northbridge Courier Company. All rights reserved.</p>
  </footer>
</body>
</html>
"""


# ---- Circuit Lane (UK tech site): <time datetime> byline, no JSON-LD, no meta author ----------------------------


def circuitlane_path(a: Article) -> str:
    y, m, d = _date_parts(a)
    return f"/circuitlane/{y}/{m}/{d}/{a.key}/"


def circuitlane_page(art: Article, articles: list[Article]) -> str:
    related = "\n".join(
        f'      <li><a href="{esc(r.path)}">{esc(r.title)}</a> <span class="ago">{r.published:%d %b}</span></li>'
        for r in _related(art, articles, 5)
    )
    when = art.published
    return f"""<!doctype html>
<html lang="en-GB">
<head>
<meta charset="UTF-8">
<title>{esc(art.title)} &#8226; Circuit Lane</title>
<meta name="viewport" content="width=device-width">
<link rel="canonical" href="{BASE}{art.path}">
<meta property="og:title" content="{esc(art.title)}">
<meta property="og:url" content="{BASE}{art.path}">
<meta property="og:site_name" content="Circuit Lane">
<meta property="og:type" content="article">
<meta property="article:published_time" content="{when.isoformat()}">
<meta name="twitter:card" content="summary_large_image">
<link rel="alternate" type="application/atom+xml" href="{BASE}/circuitlane/feeds/news.atom">
</head>
<body>
<div class="consent-overlay" id="gdpr">
  <div class="consent-box">
    <h3>Your privacy choices</h3>
    <p>Circuit Lane and our advertising partners store and access information on your device to serve
    relevant ads and to analyse traffic. You can change your mind at any time in Privacy Settings.</p>
    <button>I agree</button><button>Show purposes</button>
  </div>
</div>
<div id="top-bar"><a href="/circuitlane/">CIRCUIT LANE</a> <span>Tech news for people who read the footnotes</span></div>
<nav id="menu">
  <a href="/circuitlane/security/">Security</a>
  <a href="/circuitlane/software/">Software</a>
  <a href="/circuitlane/hardware/">Hardware</a>
  <a href="/circuitlane/science/">Science</a>
  <a href="/circuitlane/business/">Business</a>
  <a href="/circuitlane/podcast/">Podcast</a>
  <a href="/circuitlane/newsletter/">Newsletter</a>
</nav>
<div class="page">
  <div class="crumbs"><a href="/circuitlane/">Home</a> / <a href="/circuitlane/{art.section.lower()}/">{esc(art.section)}</a></div>
  <div class="post">
    <h1>{esc(art.title)}</h1>
    <h2 class="standfirst">{esc(art.teaser)}</h2>
    <div class="byline">
      <a rel="author" href="/circuitlane/authors/{art.author.lower().replace(" ", "-")}/">{esc(art.author)}</a>
      <time datetime="{when.isoformat()}">{when:%a %d %b %Y} // {when:%H:%M} UTC</time>
    </div>
    <ul class="share"><li><a href="#x">Share</a></li><li><a href="#li">LinkedIn</a></li><li><a href="#rd">Reddit</a></li><li><a href="#cp">Copy link</a></li></ul>
    <div class="post-content">
{_body_html(art)}
    </div>
    <div class="tags">Tagged: <a href="/circuitlane/tag/{art.story}/">{esc(art.story)}</a></div>
  </div>
  <div class="sidebar">
    <h3>Most read</h3>
    <ol>
{related}
    </ol>
    <div class="newsletter-signup"><p>Get the Circuit Lane daily digest in your inbox.</p>
      <input type="email" placeholder="you@example.com"><button>Sign up</button></div>
  </div>
{_comments_html(art, "Comments", "div")}
</div>
<div id="footer">
  <p><a href="/circuitlane/about/">About</a> &middot; <a href="/circuitlane/advertise/">Advertise</a> &middot;
  <a href="/circuitlane/privacy/">Privacy</a> &middot; <a href="/circuitlane/cookies/">Cookies</a></p>
  <p>Circuit Lane is published by Lanewise Media Ltd, registered in England and Wales.</p>
</div>
</body>
</html>
"""


# ---- Meridian Press Agency (wire): JSON-LD only, meta author, dateline in the body ------------------------------


def meridian_path(a: Article) -> str:
    return f"/meridian/stories/{a.published:%Y%m%d}-{a.key}.html"


def meridian_page(art: Article, articles: list[Article]) -> str:
    o = OUTLETS["meridian"]
    related = "\n".join(
        f'    <div class="card"><a href="{esc(r.path)}">{esc(r.title)}</a></div>' for r in _related(art, articles, 3)
    )
    when = art.published
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(art.title)} | Meridian</title>
<meta name="author" content="{esc(art.author)}">
<meta property="og:title" content="{esc(art.title)}">
<meta property="og:url" content="{BASE}{art.path}">
<meta property="og:site_name" content="Meridian Press Agency">
<script type="application/ld+json">{_json_ld(art, o, "meridian.svg")}</script>
</head>
<body>
<div class="cookie-notice" data-consent="pending">
  <span>This website uses cookies to ensure you get the best experience. Continued use means you accept
  the Meridian cookie statement.</span> <a href="/meridian/legal/cookies.html">Learn more</a> <button>OK</button>
</div>
<header class="header">
  <a href="/meridian/" class="brand">MERIDIAN</a>
  <nav class="nav">
    <a href="/meridian/world/">World</a> <a href="/meridian/business/">Business</a>
    <a href="/meridian/markets/">Markets</a> <a href="/meridian/tech/">Technology</a>
    <a href="/meridian/sport/">Sport</a> <a href="/meridian/pictures/">Pictures</a>
  </nav>
</header>
<div class="container">
  <div class="breadcrumb"><a href="/meridian/">Meridian</a> &gt; <a href="/meridian/{art.section.lower()}/">{esc(art.section)}</a></div>
  <h1 class="article-headline">{esc(art.title)}</h1>
  <div class="article-info">
    <span class="byline">{esc(art.author)}</span>
    <span class="timestamp">{when:%B} {when.day}, {when:%Y} {when:%I:%M %p} GMT</span>
    <span class="read-time">{max(1, sum(len(p.split()) for p in art.paragraphs) // 200)} Min Read</span>
  </div>
  <div class="share-bar"><button>Share</button><button>Save</button></div>
  <div class="article-body" itemprop="articleBody">
{_body_html(art, "article-text")}
  </div>
  <p class="trust">Our Standards: The Meridian Trust Principles.</p>
  <section class="more-news">
    <h2>More news</h2>
{related}
  </section>
{_comments_html(art, "Discussion", "section")}
</div>
<footer class="footer">
  <p>All quotes delayed a minimum of 15 minutes. &copy; 2015 Meridian Press Agency. All rights reserved.</p>
  <p><a href="/meridian/about/">About Meridian</a> <a href="/meridian/careers/">Careers</a> <a href="/meridian/licensing/">Content licensing</a></p>
</footer>
</body>
</html>
"""


# ---- Rheinbrücker Rundschau (German regional daily): <time> byline, meta author, og, no JSON-LD ------------------


def rundschau_path(a: Article) -> str:
    section = {
        "Politik": "politik",
        "Wirtschaft": "wirtschaft",
        "Sport": "sport",
        "Kultur": "kultur",
        "Digital": "digital",
        "Ausland": "politik/ausland",
    }[a.section]
    return f"/rheinbruecker-rundschau/{section}/{a.key}-{_num_id(a, 8)}.html"


def rundschau_page(art: Article, articles: list[Article]) -> str:
    related = "\n".join(
        f'        <li><a href="{esc(r.path)}"><span class="kicker">{esc(r.section)}</span> {esc(r.title)}</a></li>'
        for r in _related(art, articles)
    )
    when = art.published
    month = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ][when.month - 1]
    return f"""<!DOCTYPE html>
<html lang="de-DE">
<head>
  <meta charset="utf-8">
  <title>{esc(art.title)} | Rheinbrücker Rundschau</title>
  <meta name="description" content="{esc(art.teaser)}">
  <meta name="author" content="{esc(art.author)}">
  <meta name="robots" content="index, follow, max-image-preview:large">
  <link rel="canonical" href="{BASE}{art.path}">
  <meta property="og:locale" content="de_DE">
  <meta property="og:title" content="{esc(art.title)}">
  <meta property="og:url" content="{BASE}{art.path}">
  <meta property="og:site_name" content="Rheinbrücker Rundschau">
  <meta property="article:published_time" content="{when.isoformat()}">
</head>
<body>
  <div class="cmp-banner" id="consent">
    <p>Wir verwenden Cookies und ähnliche Technologien, um Inhalte zu personalisieren und Zugriffe zu analysieren.
    Mit einem Klick auf „Alle akzeptieren“ stimmen Sie der Verarbeitung zu; Ihre Einwilligung können Sie jederzeit
    widerrufen.</p>
    <button>Alle akzeptieren</button> <button>Einstellungen</button>
  </div>
  <header id="kopf">
    <a href="/rheinbruecker-rundschau/" class="marke">Rheinbrücker Rundschau</a>
    <nav class="ressorts">
      <ul>
        <li><a href="/rheinbruecker-rundschau/politik/">Politik</a></li>
        <li><a href="/rheinbruecker-rundschau/wirtschaft/">Wirtschaft</a></li>
        <li><a href="/rheinbruecker-rundschau/region/">Region</a></li>
        <li><a href="/rheinbruecker-rundschau/sport/">Sport</a></li>
        <li><a href="/rheinbruecker-rundschau/kultur/">Kultur</a></li>
        <li><a href="/rheinbruecker-rundschau/digital/">Digital</a></li>
        <li><a href="/rheinbruecker-rundschau/epaper/">E-Paper</a></li>
      </ul>
    </nav>
  </header>
  <div class="inhalt">
    <ol class="brotkrumen">
      <li><a href="/rheinbruecker-rundschau/">Startseite</a></li>
      <li><a href="/rheinbruecker-rundschau/{art.section.lower()}/">{esc(art.section)}</a></li>
    </ol>
    <article class="artikel">
      <h1>{esc(art.title)}</h1>
      <div class="autor-zeile">Von {esc(art.author)} · <time datetime="{when.isoformat()}">{when.day}. {month} {when:%Y}, {when:%H:%M} Uhr</time></div>
      <p class="vorspann"><strong>{esc(art.teaser)}</strong></p>
      <div class="teilen"><a href="#fb">Teilen</a> <a href="#wa">WhatsApp</a> <a href="#mail">E-Mail</a> <a href="#druck">Drucken</a></div>
      <div class="artikel-text">
{_body_html(art)}
      </div>
    </article>
    <aside class="mehr-zum-thema">
      <h2>Mehr zum Thema</h2>
      <ul>
{related}
      </ul>
    </aside>
{_comments_html(art, "Leserkommentare", "section")}
  </div>
  <footer id="fuss">
    <p><a href="/rheinbruecker-rundschau/impressum/">Impressum</a> · <a href="/rheinbruecker-rundschau/datenschutz/">Datenschutz</a> ·
    <a href="/rheinbruecker-rundschau/agb/">AGB</a> · <a href="/rheinbruecker-rundschau/abo/">Abo</a></p>
    <p>© Rheinbrücker Verlagshaus GmbH &amp; Co. KG</p>
  </footer>
</body>
</html>
"""


# ---- Taktrate (German IT news): JSON-LD, <time> byline, lang="de" ------------------------------------------------


def taktrate_path(a: Article) -> str:
    return f"/taktrate/meldung/{a.key}-{_num_id(a, 7)}.html"


def taktrate_page(art: Article, articles: list[Article]) -> str:
    o = OUTLETS["taktrate"]
    related = "\n".join(f'      <li><a href="{esc(r.path)}">{esc(r.title)}</a></li>' for r in _related(art, articles))
    when = art.published
    return f"""<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<title>{esc(art.title)} | Taktrate</title>
<meta name="description" content="{esc(art.teaser)}">
<link rel="canonical" href="{BASE}{art.path}">
<meta property="og:title" content="{esc(art.title)}">
<meta property="og:url" content="{BASE}{art.path}">
<meta property="og:site_name" content="Taktrate">
<meta property="og:type" content="article">
<link rel="alternate" type="application/rdf+xml" title="Taktrate Newsticker" href="{BASE}/taktrate/news.rdf">
<script type="application/ld+json">
{_json_ld(art, o, "taktrate.png")}
</script>
</head>
<body>
<div id="consent-layer" class="consent">
  <p>Diese Website nutzt Cookies und Tracking für Reichweitenmessung und Werbung. Sie können Taktrate mit Werbung
  und Tracking nutzen oder ein werbefreies Pur-Abo abschließen.</p>
  <button>Akzeptieren</button> <button>Pur-Abo</button>
</div>
<header class="site-header">
  <a class="brand" href="/taktrate/">taktrate</a>
  <nav class="topnav">
    <a href="/taktrate/newsticker/">Newsticker</a> <a href="/taktrate/security/">Security</a>
    <a href="/taktrate/netzpolitik/">Netzpolitik</a> <a href="/taktrate/hardware/">Hardware</a>
    <a href="/taktrate/software/">Software</a> <a href="/taktrate/wissenschaft/">Wissenschaft</a>
    <a href="/taktrate/forum/">Forum</a>
  </nav>
</header>
<div class="wrapper">
  <div class="pfad"><a href="/taktrate/">Taktrate</a> › <a href="/taktrate/{art.section.lower()}/">{esc(art.section)}</a></div>
  <article>
    <header class="a-head">
      <h1>{esc(art.title)}</h1>
      <p class="a-lead">{esc(art.teaser)}</p>
      <p class="a-meta"><time datetime="{when.isoformat()}">{when:%d.%m.%Y, %H:%M} Uhr</time> · Von <span class="a-author">{esc(art.author)}</span></p>
    </header>
    <div class="a-share"><a href="#teilen">Teilen</a> <a href="#merken">Merken</a> <a href="#kommentare">Kommentieren</a></div>
    <div class="a-text">
{_body_html(art)}
    </div>
    <p class="a-footer">({esc("".join(w[0] for w in art.author.split()).lower())})</p>
  </article>
  <aside class="a-related">
    <h2>Weitere Meldungen</h2>
    <ul>
{related}
    </ul>
  </aside>
{_comments_html(art, "Forum zum Artikel", "section")}
</div>
<footer class="site-footer">
  <a href="/taktrate/impressum/">Impressum</a> <a href="/taktrate/datenschutz/">Datenschutzhinweis</a>
  <a href="/taktrate/mediadaten/">Mediadaten</a> <p>Copyright © 2014 Taktrate Medien GmbH</p>
</footer>
</body>
</html>
"""


OUTLETS: dict[str, Outlet] = {
    "northbridge": Outlet(
        key="northbridge",
        name="The Northbridge Courier",
        prefix="/northbridge-courier/",
        language="en",
        html_lang="en-US",
        country="US",
        article_path=northbridge_path,
        render=northbridge_page,
        feeds=[
            Feed(
                "northbridge-world",
                "/northbridge-courier/rss/world.xml",
                "rss2",
                "The Northbridge Courier - World",
                "World and national news from The Northbridge Courier",
            ),
            Feed(
                "northbridge-tech",
                "/northbridge-courier/rss/technology.xml",
                "rss2",
                "The Northbridge Courier - Technology",
                "Technology and business news from The Northbridge Courier",
            ),
        ],
    ),
    "circuitlane": Outlet(
        key="circuitlane",
        name="Circuit Lane",
        prefix="/circuitlane/",
        language="en",
        html_lang="en-GB",
        country="GB",
        article_path=circuitlane_path,
        render=circuitlane_page,
        feeds=[
            Feed(
                "circuitlane-news",
                "/circuitlane/feeds/news.atom",
                "atom",
                "Circuit Lane",
                "Tech news for people who read the footnotes",
            ),
            Feed(
                "circuitlane-security",
                "/circuitlane/feeds/security.rss",
                "rss2",
                "Circuit Lane: Security",
                "Security coverage from Circuit Lane",
                link_suffix="?utm_source=rss&utm_medium=feed",
            ),
        ],
    ),
    "meridian": Outlet(
        key="meridian",
        name="Meridian Press Agency",
        prefix="/meridian/",
        language="en",
        html_lang="en",
        country="GB",
        article_path=meridian_path,
        render=meridian_page,
        feeds=[
            Feed(
                "meridian-top",
                "/meridian/feeds/top-news.atom",
                "atom",
                "Meridian: Top News",
                "Top stories from the Meridian Press Agency wire",
            ),
        ],
    ),
    "rundschau": Outlet(
        key="rundschau",
        name="Rheinbrücker Rundschau",
        prefix="/rheinbruecker-rundschau/",
        language="de",
        html_lang="de-DE",
        country="DE",
        article_path=rundschau_path,
        render=rundschau_page,
        feeds=[
            Feed(
                "rundschau-nachrichten",
                "/rheinbruecker-rundschau/rss/nachrichten.xml",
                "rss2",
                "Rheinbrücker Rundschau – Nachrichten",
                "Nachrichten aus Politik, Wirtschaft, Sport und Kultur",
                encoding="iso-8859-1",
            ),
        ],
    ),
    "taktrate": Outlet(
        key="taktrate",
        name="Taktrate",
        prefix="/taktrate/",
        language="de",
        html_lang="de",
        country="DE",
        article_path=taktrate_path,
        render=taktrate_page,
        feeds=[
            Feed(
                "taktrate-ticker",
                "/taktrate/news.rdf",
                "rdf",
                "Taktrate Newsticker",
                "Nachrichten aus IT, Netzpolitik und Wissenschaft",
            ),
            Feed(
                "taktrate-security",
                "/taktrate/feeds/security.atom",
                "atom",
                "Taktrate Security",
                "IT-Sicherheit bei Taktrate",
            ),
        ],
    ),
}

FEEDS: dict[str, tuple[Outlet, Feed]] = {f.name: (o, f) for o in OUTLETS.values() for f in o.feeds}


# --------------------------------------------------------------------------------------------------------------
# feeds
# --------------------------------------------------------------------------------------------------------------


def _x(text: str) -> str:
    return html.escape(text, quote=False)


def render_rss2(outlet: Outlet, feed: Feed, items: list[Article]) -> str:
    last = max(a.published for a in items)
    entries = []
    for a in items:
        entries.append(
            "    <item>\n"
            f"      <title>{_x(a.title)}</title>\n"
            f"      <link>{BASE}{a.path}{_x(feed.link_suffix)}</link>\n"
            f'      <guid isPermaLink="true">{BASE}{a.path}</guid>\n'
            f"      <pubDate>{format_datetime(a.published)}</pubDate>\n"
            f"      <dc:creator>{_x(a.author)}</dc:creator>\n"
            f"      <category>{_x(a.section)}</category>\n"
            f"      <description>{_x(a.teaser)}</description>\n"
            "    </item>"
        )
    body = "\n".join(entries)
    return (
        f'<?xml version="1.0" encoding="{feed.encoding.upper()}"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">\n'
        "  <channel>\n"
        f"    <title>{_x(feed.title)}</title>\n"
        f"    <link>{BASE}{outlet.prefix}</link>\n"
        f'    <atom:link href="{BASE}{feed.path}" rel="self" type="application/rss+xml"/>\n'
        f"    <description>{_x(feed.description)}</description>\n"
        f"    <language>{outlet.html_lang.lower()}</language>\n"
        f"    <lastBuildDate>{format_datetime(last)}</lastBuildDate>\n"
        "    <ttl>15</ttl>\n"
        f"{body}\n"
        "  </channel>\n"
        "</rss>\n"
    )


def render_atom(outlet: Outlet, feed: Feed, items: list[Article]) -> str:
    last = max(a.published for a in items)
    entries = []
    for a in items:
        entries.append(
            "  <entry>\n"
            f"    <title>{_x(a.title)}</title>\n"
            f'    <link rel="alternate" type="text/html" href="{BASE}{a.path}{_x(feed.link_suffix)}"/>\n'
            f"    <id>tag:{outlet.key}.example,{a.published:%Y-%m-%d}:{a.key}</id>\n"
            f"    <published>{a.published.isoformat()}</published>\n"
            f"    <updated>{a.published.isoformat()}</updated>\n"
            f"    <author><name>{_x(a.author)}</name></author>\n"
            f'    <category term="{_x(a.section)}"/>\n'
            f"    <summary>{_x(a.teaser)}</summary>\n"
            "  </entry>"
        )
    body = "\n".join(entries)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{outlet.html_lang}">\n'
        f"  <title>{_x(feed.title)}</title>\n"
        f"  <subtitle>{_x(feed.description)}</subtitle>\n"
        f'  <link rel="self" type="application/atom+xml" href="{BASE}{feed.path}"/>\n'
        f'  <link rel="alternate" type="text/html" href="{BASE}{outlet.prefix}"/>\n'
        f"  <id>tag:{outlet.key}.example,2014:{feed.name}</id>\n"
        f"  <updated>{last.isoformat()}</updated>\n"
        f"{body}\n"
        "</feed>\n"
    )


def render_rdf(outlet: Outlet, feed: Feed, items: list[Article]) -> str:
    seq = "\n".join(f'        <rdf:li rdf:resource="{BASE}{a.path}"/>' for a in items)
    entries = []
    for a in items:
        entries.append(
            f'  <item rdf:about="{BASE}{a.path}">\n'
            f"    <title>{_x(a.title)}</title>\n"
            f"    <link>{BASE}{a.path}</link>\n"
            f"    <description>{_x(a.teaser)}</description>\n"
            f"    <dc:date>{a.published.isoformat()}</dc:date>\n"
            f"    <dc:creator>{_x(a.author)}</dc:creator>\n"
            f"    <dc:subject>{_x(a.section)}</dc:subject>\n"
            "  </item>"
        )
    body = "\n".join(entries)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"\n'
        '         xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
        f'  <channel rdf:about="{BASE}{feed.path}">\n'
        f"    <title>{_x(feed.title)}</title>\n"
        f"    <link>{BASE}{outlet.prefix}</link>\n"
        f"    <description>{_x(feed.description)}</description>\n"
        f"    <dc:language>{outlet.language}</dc:language>\n"
        "    <items>\n"
        "      <rdf:Seq>\n"
        f"{seq}\n"
        "      </rdf:Seq>\n"
        "    </items>\n"
        "  </channel>\n"
        f"{body}\n"
        "</rdf:RDF>\n"
    )


RENDERERS = {"rss2": render_rss2, "atom": render_atom, "rdf": render_rdf}


# --------------------------------------------------------------------------------------------------------------
# TOML output
# --------------------------------------------------------------------------------------------------------------


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


def render_feeds_toml() -> str:
    lines = [
        "# Feeds of the bundled sample corpus (generated by seeds/sample/build.py; edit the sources, not this).",
        "# {{BASE_URL}} is replaced by evaluation.devserver.SampleServer.render_feeds_file().",
        "",
    ]
    for outlet in OUTLETS.values():
        for feed in outlet.feeds:
            lines += [
                "[[feed]]",
                f"name = {_toml_str(feed.name)}",
                f"url = {_toml_str(BASE + feed.path)}",
                f"language = {_toml_str(outlet.language)}",
                f"country = {_toml_str(outlet.country)}",
                f"publisher = {_toml_str(outlet.name)}",
                "",
            ]
    return "\n".join(lines)


def render_manifest(articles: list[Article]) -> str:
    lines = [
        "# Labeled ground truth for the sample corpus: one [[article]] per page (generated by seeds/sample/build.py).",
        "# story: every piece about the same real-world event chain shares a label; status 404 = listed in a feed",
        "# but missing on the server; duplicate_of = path of the original a syndicated copy was made from;",
        "# file = the page relative to this directory; first_sentence/comment/words help the extraction tests.",
        "",
    ]
    for a in articles:
        lines += [
            "[[article]]",
            f"path = {_toml_str(a.path)}",
            f"outlet = {_toml_str(OUTLETS[a.outlet].name)}",
            f"language = {_toml_str(a.language)}",
            f"published = {_toml_str(a.published.isoformat())}",
            f"title = {_toml_str(a.title)}",
            f"author = {_toml_str(a.author)}",
            f"story = {_toml_str(a.story)}",
            f"expected_tags = {_toml_list(a.expected_tags)}",
            f"feeds = {_toml_list(a.feeds)}",
            f"status = {a.status}",
        ]
        if a.status == 200:
            lines.append(f"file = {_toml_str(page_file(a.path))}")
            lines.append(f"first_sentence = {_toml_str(_first_sentence(a.paragraphs[0]))}")
            lines.append(f"words = {sum(len(p.split()) for p in a.paragraphs)}")
            lines.append(f"comment = {_toml_str(a.comments[0][1])}")
        if a.duplicate_of:
            lines.append(f"duplicate_of = {_toml_str(a.duplicate_of)}")
        lines.append("")
    return "\n".join(lines)


def page_file(path: str) -> str:
    """The page's file relative to the corpus root (directory URLs are served from their index.html)."""
    rel = "site/" + path.lstrip("/")
    return rel + "index.html" if rel.endswith("/") else rel


def _first_sentence(paragraph: str) -> str:
    for end in (". ", "? ", "! "):
        idx = paragraph.find(end, 40)
        if idx != -1:
            return paragraph[: idx + 1]
    return paragraph


# --------------------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------------------


def build(out: Path, src: Path = HERE / "src") -> list[Article]:
    articles = load_articles(src)
    assign_comments(articles, load_comments(src))
    for art in articles:
        for feed_name in art.feeds:
            if feed_name not in FEEDS or FEEDS[feed_name][0].key != art.outlet:
                raise SystemExit(f"{art.key}: feed {feed_name} does not belong to outlet {art.outlet}")
    site = out / "site"
    if site.exists():
        shutil.rmtree(site)
    for art in articles:
        if art.status != 200:
            continue
        target = out / page_file(art.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(OUTLETS[art.outlet].render(art, articles), encoding="utf-8")
    for outlet, feed in FEEDS.values():
        items = sorted((a for a in articles if feed.name in a.feeds), key=lambda a: a.published, reverse=True)
        text = RENDERERS[feed.fmt](outlet, feed, items)
        target = site / feed.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode(feed.encoding, errors="xmlcharrefreplace"))
    (out / "feeds.toml").write_text(render_feeds_toml(), encoding="utf-8")
    (out / "manifest.toml").write_text(render_manifest(articles), encoding="utf-8")
    return articles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    articles = build(args.out)
    print(f"wrote {len(articles)} manifest entries to {args.out}")  # noqa: T201 - script entry point


if __name__ == "__main__":
    main()
