"""The capture-side exception families: whether a later attempt can help is a class attribute."""

from __future__ import annotations

import logging

import pytest

from ingest import errors
from ingest.errors import FetchError, ItemSkipped

pytestmark = pytest.mark.unit

#: class -> (permanent, its default reason)
FAMILIES: dict[type[ItemSkipped], tuple[bool, str]] = {
    errors.BadURL: (True, "bad_url"),
    errors.FetchError: (False, "fetch_error"),
    errors.Timeout: (False, "timeout"),
    errors.ConnectionFailed: (False, "connection_error"),
    errors.ProtocolViolation: (False, "protocol_error"),
    errors.DNSError: (False, "dns_error"),
    errors.IncompleteBody: (False, "incomplete_body"),
    errors.RobotsUnavailable: (False, "robots_unavailable"),
    errors.BlockedURL: (True, "blocked_url"),
    errors.RobotsDisallowed: (True, "robots_disallowed"),
    errors.TooLarge: (True, "too_large"),
    errors.UnsupportedContentType: (True, "unsupported_content_type"),
    errors.RedirectError: (True, "redirect_loop"),
    errors.BadRedirect: (True, "bad_redirect"),
    errors.FeedParseError: (False, "feed_parse_error"),
    errors.UnsafeFeed: (True, "external_entity"),
    errors.ParserError: (False, "parser_error"),
    errors.NotAnArticle: (True, "consent_wall"),
    errors.SoftNotFound: (True, "soft_404"),
    errors.JunkText: (True, "junk_text"),
}


@pytest.mark.parametrize(("cls", "expected"), FAMILIES.items(), ids=lambda v: getattr(v, "__name__", ""))
def test_permanence_is_a_class_attribute(cls: type[ItemSkipped], expected: tuple[bool, str]) -> None:
    permanent, reason = expected
    assert cls.permanent is permanent and cls.reason == reason
    assert not isinstance(vars(cls).get("permanent"), property)
    instance = cls("x") if cls is not errors.RateLimited else cls("x", retry_after=1.0)
    assert instance.permanent is permanent and instance.reason == reason


@pytest.mark.parametrize(
    ("cls", "status", "permanent"),
    [
        (errors.NotFound, 404, True),
        (errors.Gone, 410, True),
        (errors.ServerError, 500, False),
        (errors.ServerError, 304, False),
        (errors.HTTPStatusError, 403, False),
        (errors.HTTPStatusError, 429, False),
    ],
)
def test_http_status_families(cls: type[errors.HTTPStatusError], status: int, permanent: bool) -> None:
    exc = cls("HTTP", status=status, url="http://e.org/")
    assert exc.reason == f"http_{status}" and exc.status == status and exc.permanent is permanent
    assert isinstance(exc, FetchError)


def test_reason_override_keeps_the_family() -> None:
    bomb = errors.TooLarge("inflates", reason="decompression_bomb")
    assert bomb.reason == "decompression_bomb" and bomb.permanent
    corrupt = errors.IncompleteBody("zlib", reason="bad_encoding")
    assert corrupt.reason == "bad_encoding" and not corrupt.permanent
    scheme = errors.BlockedURL("file", reason="blocked_scheme")
    assert scheme.permanent and errors.UnsupportedContentType("br", reason="unsupported_encoding").permanent


def test_rate_limited_lives_in_errors_and_is_re_exported() -> None:
    from ingest.fetching import RateLimited

    assert RateLimited is errors.RateLimited
    limited = RateLimited("slow down", retry_after=60.0)
    assert limited.retry_after == 60.0 and not limited.permanent and limited.reason == "rate_limited"


def test_quiet_families_log_at_info() -> None:
    assert errors.NotFound.log_level == logging.INFO and errors.RobotsDisallowed.log_level == logging.INFO
    assert errors.ParserError.log_level == logging.ERROR


def test_no_transitional_reason_set_is_left() -> None:
    assert not hasattr(errors, "_PERMANENT_FETCH_REASONS")
