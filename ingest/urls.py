"""URL normalisation, document ids and canonical URLs.

``normalize_url`` builds on two maintained libraries: url-normalize (percent-encoding, IDNA, case, default
ports) and courlan (tracking-parameter removal, sorted query). On top of them it folds the variants news sites
publish of the same article: ``www.``, ``m.``/``mobile.``/``amp.`` hosts and AMP paths or flags.
"""

from __future__ import annotations

import hashlib
import logging
import re
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import courlan
from url_normalize import url_normalize

logger = logging.getLogger(__name__)

#: Query parameters that only track the reader (on top of courlan's tracker list).
_TRACKING_PARAMS = re.compile(
    r"^(?:utm_.*|fbclid|gclid|dclid|gclsrc|msclkid|yclid|twclid|igshid|mc_.*|_hs.*|hsa_.*|ocid|cmpid|"
    r"icid|ito|at_.*|wt_.*|wt\.mc_id|s_cid|ns_.*|sr_share|smid|"
    r"soc_src|soc_trk|amp|amp_js_v|amp_gsa|usqp|_gl|_ga|spm|__twitter_impression|ref_src|ref_url)$",
    re.IGNORECASE,
)
_HOST_PREFIXES = ("www.", "amp.", "m.", "mobile.")
_AMP_SUFFIXES = ("/amp/", "/amp", ".amp")


def _strip_host(host: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _HOST_PREFIXES:
            rest = host[len(prefix) :]
            # keep the prefix when stripping it would leave a bare TLD (``m.com``)
            if host.startswith(prefix) and "." in rest:
                host = rest
                changed = True
    return host


def _strip_amp_path(path: str) -> str:
    if path.endswith(".amp.html"):
        return path[: -len(".amp.html")] + ".html"
    if path.startswith("/amp/"):
        path = path[len("/amp") :]
    for suffix in _AMP_SUFFIXES:
        if path.endswith(suffix) and len(path) > len(suffix):
            return path[: -len(suffix)] or "/"
    return path


def normalize_url(url: str) -> str:
    """The comparable form of ``url``: same article, same string.

    Lower-case host without ``www.``/``m.``/``amp.``, no default port, no fragment, no tracking parameters,
    sorted query, dot segments resolved, AMP variants folded, no trailing slash except for the root.
    """
    url = url.strip()
    try:
        basic = url_normalize(url) or url
    except (ValueError, UnicodeError):  # pragma: no cover - url_normalize is tolerant
        basic = url
    try:
        cleaned = courlan.normalize_url(basic, strict=False, trailing_slash=False)
    except ValueError:
        cleaned = basic
    parts = urlsplit(cleaned)
    host = _strip_host((parts.hostname or "").lower())
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host
    if parts.port is not None and not (
        (parts.scheme == "http" and parts.port == 80) or (parts.scheme == "https" and parts.port == 443)
    ):
        netloc = f"{host}:{parts.port}"
    path = urlsplit(urljoin(f"{parts.scheme}://{netloc}/", parts.path or "/")).path or "/"
    path = _strip_amp_path(path)
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    query_items = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    query = urlencode(sorted(query_items))
    return urlunsplit((parts.scheme.lower(), netloc, path, query, ""))


def document_id(url: str) -> str:
    """Deterministic Elasticsearch ``_id``: the first 32 hex digits of sha256(normalize_url(url))."""
    return hashlib.sha256(normalize_url(url).encode("utf-8")).hexdigest()[:32]


def url_host(url: str) -> str:
    """The host of ``url`` as :func:`normalize_url` would fold it (no ``www.``)."""
    return _strip_host((urlsplit(url).hostname or "").lower())


_HEAD_END = re.compile(r"</head\s*>|<body[\s>]", re.IGNORECASE)


class _CanonicalParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.canonical: str | None = None
        self.og_url: str | None = None
        self.base_href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "link" and self.canonical is None:
            rels = values.get("rel", "").lower().split()
            if "canonical" in rels and values.get("href", "").strip():
                self.canonical = values["href"].strip()
        elif tag == "meta" and self.og_url is None:
            prop = (values.get("property") or values.get("name") or "").lower()
            if prop == "og:url" and values.get("content", "").strip():
                self.og_url = values["content"].strip()
        elif tag == "base" and self.base_href is None and values.get("href", "").strip():
            self.base_href = values["href"].strip()


def _acceptable(candidate: str, page_url: str) -> bool:
    cand = urlsplit(candidate)
    page = urlsplit(page_url)
    if cand.scheme not in ("http", "https") or not cand.hostname:
        return False
    same_site = _registrable(cand.hostname) == _registrable(page.hostname or "")
    if (cand.path in ("", "/")) and not cand.query and (page.path not in ("", "/")):
        # an article page whose "canonical" is a home page: a broken template, not the article
        return False
    return same_site or cand.path not in ("", "/")


def _registrable(host: str) -> str:
    """Rough registrable domain (last two labels, three for ``co.uk``-style suffixes)."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def canonical_url(html: str, page_url: str) -> str | None:
    """Absolute canonical URL from ``<link rel=canonical>`` (else ``og:url``), or None.

    None when absent, not http(s), or pointing at a home page while the page itself is an article.
    """
    parser = _CanonicalParser()
    # canonical links, og:url and <base> live in the head: parsing the whole page cost more than extraction
    head_end = _HEAD_END.search(html, 0, 500_000)
    try:
        parser.feed(html[: head_end.start() if head_end else 500_000])
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - HTMLParser is tolerant
        logger.debug("canonical: HTML parser gave up on %s", page_url)
    base = urljoin(page_url, parser.base_href) if parser.base_href else page_url
    for raw in (parser.canonical, parser.og_url):
        if not raw:
            continue
        candidate = urljoin(base, raw)
        if _acceptable(candidate, page_url):
            return candidate
    return None
