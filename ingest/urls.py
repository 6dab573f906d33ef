"""URL normalisation, document ids and canonical URLs.

``normalize_url`` builds on two maintained libraries: url-normalize (percent-encoding, IDNA, case, default
ports) and courlan (tracking-parameter removal, sorted query). On top of them it folds the variants news sites
publish of the same article: ``www.``, ``m.``/``mobile.``/``amp.`` hosts and AMP paths or flags.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import SplitResult, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import courlan
import httpx
from url_normalize import url_normalize

from ingest.errors import BadRedirect, BadURL

logger = logging.getLogger(__name__)

#: ASCII control characters (and DEL), lone surrogates: never part of a URL we fetch or store.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
#: Longer URLs are refused: far beyond what servers accept (RFC 9110 asks for 8,000 octets) and, past 32 KB,
#: a keyword term Elasticsearch refuses, which would fail the article's document (``url``, ``source_urls``).
MAX_URL_LENGTH = 8_192
#: What a host may consist of once IDNA-encoded (underscores occur in real host names).
_HOST_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?$")
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
#: ``scheme://user:password@`` up to the last ``@`` of the authority.
_USERINFO_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#]*@")
_WEB_SCHEMES = ("http", "https")


def _split(url: str) -> SplitResult:
    """urlsplit, with a typed skip for what it refuses (broken IPv6 brackets, bad or out-of-range ports)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for "99999" or "8o"
    except ValueError as exc:
        raise BadURL(f"unparseable URL: {exc}", url=url) from exc
    return parts


def strip_userinfo_text(url: str) -> str:
    """``url`` with any ``user:password@`` removed, however malformed the rest is (for messages and logs)."""
    return _USERINFO_RE.sub(r"\1", url)


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@``: credentials in a URL are never sent, archived or indexed."""
    parts = _split(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def clean_url(url: str) -> str:
    """``url`` checked and made safe to fetch and store, or a :class:`~ingest.errors.BadURL` skip.

    Refused: control characters, unparseable authorities (broken IPv6 brackets, ports that are not numbers
    or out of range), http(s) URLs without a host or with characters no host name has, and whatever httpx
    cannot build a request for. Userinfo is stripped. Schemes are not judged here (the fetcher's guard
    refuses what it does not fetch, with its own reason).
    """
    if not isinstance(url, str):
        raise BadURL(f"not a URL string: {type(url).__name__}")
    # credentials go first, before any check can quote the URL in an error message or a log line
    url = strip_userinfo_text(url.strip())
    if not url:
        raise BadURL("empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise BadURL(f"URL longer than {MAX_URL_LENGTH} characters", url=url[:200] + "...")
    if _CONTROL_RE.search(url):
        raise BadURL("control character in URL", url=ascii(url))
    parts = _split(url)
    if not parts.scheme:
        raise BadURL("URL is not absolute", url=url)
    url = strip_userinfo(url)
    if parts.scheme.lower() in _WEB_SCHEMES:
        http_host(url)
    return url


def http_host(url: str) -> tuple[str, int]:
    """The host (IDNA-encoded the way httpx encodes it for the connection) and port of an http(s) URL.

    One encoding for the guard's check and the connection: ``straße.example`` is ``xn--strae-oqa.example``
    for both (IDNA 2008), never ``strasse.example`` (Python's IDNA 2003 codec).
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").lower()
        port = parsed.port
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise BadURL(f"invalid URL: {exc}", url=url) from exc
    if parsed.scheme not in _WEB_SCHEMES:
        raise BadURL(f"not an http(s) URL: {parsed.scheme!r}", url=url)
    if not host:
        raise BadURL("URL has no host", url=url)
    if not _is_ip_literal(host) and not _HOST_RE.match(host):
        raise BadURL(f"invalid host {host!r}", url=url)
    if port is None:
        port = 443 if parsed.scheme == "https" else 80
    if not 0 < port < 65536:
        raise BadURL(f"port {port} out of range", url=url)
    return host.rstrip("."), port


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def absolute_location(location: str, base_url: str) -> str:
    """The absolute http(s) URL a redirect's ``Location`` names, or :class:`~ingest.errors.BadRedirect`.

    A Location with a scheme but no authority (``javascript:``, ``mailto:``, ``about:blank``, ``data:``,
    ``http:foo``) is not a URL we can fetch (RFC 3986: an http URI needs a host); a well-formed URL with another
    scheme (``file:///``, ``ftp://``) is returned for the guard to refuse as ``blocked_scheme``.
    """
    location = location.strip()
    scheme = _SCHEME_RE.match(location)
    if scheme and not location[scheme.end() :].startswith("//"):
        raise BadRedirect(f"redirect to a non-fetchable URL {location[:80]!r}", url=base_url)
    try:
        target = clean_url(urljoin(base_url, location))
    except (BadURL, ValueError) as exc:
        raise BadRedirect(f"redirect to a bad URL {location[:80]!r}: {exc}", url=base_url) from exc
    return target


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

    Lower-case host without ``www.``/``m.``/``amp.``, no default port, no userinfo, no fragment, no tracking
    parameters, sorted query, dot segments resolved, AMP variants folded, no trailing slash except for the
    root. Raises :class:`~ingest.errors.BadURL` for what :func:`clean_url` refuses.

    A pure function of the string, remembered for recent URLs: one page's URLs are normalised about five times
    on the way (feed membership, document id, source URLs, dedup), at about 0.5 ms each.
    """
    if not isinstance(url, str):  # not hashable, perhaps: the uncached path refuses it (BadURL)
        return _normalize_url.__wrapped__(url)
    return _normalize_url(url)


@functools.lru_cache(maxsize=8192)
def _normalize_url(url: str) -> str:
    url = clean_url(url)
    try:
        basic = url_normalize(url) or url
    except (ValueError, UnicodeError):  # url_normalize is tolerant; a host it cannot IDNA-encode is not
        basic = url
    try:
        cleaned = courlan.normalize_url(basic, strict=False, trailing_slash=False)
    except (ValueError, UnicodeError):
        cleaned = basic
    parts = _split(cleaned)
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
    """Deterministic Elasticsearch ``_id``: the first 32 hex digits of sha256(normalize_url(url)).

    Raises :class:`~ingest.errors.BadURL` (reason ``bad_url``) for a URL that cannot be normalised.
    """
    return hashlib.sha256(normalize_url(url).encode("utf-8")).hexdigest()[:32]


def url_host(url: str) -> str:
    """The host of ``url`` as :func:`normalize_url` would fold it (no ``www.``); empty when unparseable."""
    try:
        return _strip_host((urlsplit(url).hostname or "").lower())
    except ValueError:
        return ""


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on the same site: the same host, or the same registrable domain for names."""
    try:
        host_a = (urlsplit(a).hostname or "").lower().rstrip(".")
        host_b = (urlsplit(b).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    if not host_a or not host_b:
        return False
    if host_a == host_b:
        return True
    if _is_ip_literal(host_a) or _is_ip_literal(host_b):
        return False
    return _registrable(host_a) == _registrable(host_b)


_HEAD_END = re.compile(r"</head\s*>|<body[\s>]", re.IGNORECASE)


class _CanonicalParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.canonical: str | None = None
        self.og_url: str | None = None
        self.base_href: str | None = None
        self.refresh: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta" and self.refresh is None and values.get("http-equiv", "").strip().lower() == "refresh":
            self.refresh = values.get("content", "")
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
    """Whether a page's canonical URL may name it: on the page's own site, and not a home page for an article.

    Another site's canonical is refused. It is what a syndicated copy names (the original), but it is also what
    any page can claim, and the document id comes from it: a page on one site would overwrite another site's
    article in the index. Syndicated copies keep their own id and are marked as near-duplicates instead.
    """
    try:
        cand = urlsplit(candidate)
        page = urlsplit(page_url)
        cand_host, page_host = cand.hostname, page.hostname
    except ValueError:
        return False
    if cand.scheme not in ("http", "https") or not cand_host or not page_host:
        return False
    if (cand.path in ("", "/")) and not cand.query and (page.path not in ("", "/")):
        # an article page whose "canonical" is a home page: a broken template, not the article
        return False
    return same_site(candidate, page_url)


def credible_canonical(candidate: str | None, page_url: str) -> str | None:
    """``candidate`` (a canonical URL read elsewhere, e.g. by trafilatura from JSON-LD), cleaned, when
    :func:`canonical_url` would accept it for ``page_url``; else None."""
    if not candidate:
        return None
    url = _resolve(page_url, candidate)
    return url if url is not None and _acceptable(url, page_url) else None


def _registrable(host: str) -> str:
    """Rough registrable domain (last two labels, three for ``co.uk``-style suffixes)."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _head_parser(html: str, page_url: str, limit: int = 500_000) -> _CanonicalParser:
    parser = _CanonicalParser()
    # canonical links, og:url and <base> live in the head: parsing the whole page cost more than extraction
    head_end = _HEAD_END.search(html, 0, limit)
    try:
        parser.feed(html[: head_end.start() if head_end else limit])
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - HTMLParser is tolerant
        logger.debug("canonical: HTML parser gave up on %s", page_url)
    return parser


def _resolve(base: str, raw: str) -> str | None:
    """``raw`` made absolute against ``base`` and cleaned (userinfo stripped), or None when it is bad."""
    try:
        return clean_url(urljoin(base, raw))
    except (BadURL, ValueError):
        return None


def canonical_url(html: str, page_url: str) -> str | None:
    """Absolute canonical URL from ``<link rel=canonical>`` (else ``og:url``), or None.

    None when absent, malformed, not http(s), on another site (:func:`_acceptable`), or pointing at a home page
    while the page itself is an article. Userinfo is stripped.
    """
    parser = _head_parser(html, page_url)
    base = (_resolve(page_url, parser.base_href) if parser.base_href else None) or page_url
    for raw in (parser.canonical, parser.og_url):
        if not raw:
            continue
        candidate = _resolve(base, raw)
        if candidate is not None and _acceptable(candidate, page_url):
            return candidate
    return None


_REFRESH_RE = re.compile(
    r"""^\s*(?P<delay>\d+(?:\.\d*)?|\.\d+)?[^;,]*[;,]?\s*(?:url\s*=\s*)?(?P<url>.*)$""",
    re.IGNORECASE | re.DOTALL,
)


#: An attribute name is never entity-encoded, so a page without it has no meta refresh.
_HTTP_EQUIV = re.compile(r"http-equiv", re.IGNORECASE)


@dataclass(frozen=True)
class Refresh:
    """A ``<meta http-equiv=refresh>`` that sends the reader on: after ``delay`` seconds, to ``url``."""

    delay: float
    url: str


def meta_refresh(html: str, page_url: str) -> Refresh | None:
    """The target of the page's meta refresh (absolute, cleaned), or None when there is none or it reloads
    the page itself (``content="300"``) or names a bad URL. Only the page's first 64 KB are read."""
    head = html[:65_536]
    if _HTTP_EQUIV.search(head) is None:  # no refresh without the attribute: the parser is not run (every page)
        return None
    raw = _head_parser(head, page_url, limit=65_536).refresh
    if not raw:
        return None
    match = _REFRESH_RE.match(raw)
    if match is None:
        return None
    target = match.group("url").strip().strip("\"'").strip()
    if not target:
        return None
    url = _resolve(page_url, target)
    if url is None or urlsplit(url).scheme.lower() not in _WEB_SCHEMES:
        return None
    if url.split("#")[0] == page_url.split("#")[0]:
        return None
    delay = float(match.group("delay") or 0.0)
    return Refresh(delay=delay, url=url)
