"""The fault-injection scenario end to end: misbehaving and hostile servers, an Elasticsearch outage, recovery."""

from __future__ import annotations

import contextlib
import io
import re

import pytest
from elasticsearch import Elasticsearch

from evaluation import faults

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FINAL = re.compile(
    r"served=(?P<served>\d+) faults=(?P<faults>\d+) indexed=(?P<indexed>\d+) lost=(?P<lost>\d+) "
    r"duplicates=(?P<duplicates>\d+) crashes=(?P<crashes>\d+) hangs=(?P<hangs>\d+) leaks=(?P<leaks>\d+) "
    r"ssrf=(?P<ssrf>\d+) unretried=(?P<unretried>\d+)"
)


@pytest.fixture(scope="module")
def scenario(es: Elasticsearch) -> tuple[int, str, dict[str, int]]:
    out = io.StringIO()  # module-scoped: one run of the scenario for both tests (capsys is per test)
    with contextlib.redirect_stdout(out):
        status = faults.main(["--good", "4", "--syndicated", "1", "--es-url", es.transport.node_pool.get().base_url])
    text = out.getvalue()
    final = FINAL.search(text)
    assert final, text
    return status, text, {k: int(v) for k, v in final.groupdict().items()}


def test_fault_scenario_loses_nothing_crashes_never_leaks_nothing(scenario: tuple[int, str, dict[str, int]]) -> None:
    _status, out, n = scenario
    assert "raised ElasticsearchUnavailable" in out or "raised IndexingError" in out
    assert n["crashes"] == 0, out
    assert n["hangs"] == 0, out
    assert n["leaks"] == 0, out
    assert n["ssrf"] == 0, out
    assert n["lost"] == 0, out
    assert n["duplicates"] == 0, out
    assert "UNEXPECTED" not in out, out
    assert n["faults"] == (
        len(faults.FAULTY_PAGES) + len(faults.HOSTILE_PAGES) + len(faults.HOSTILE_FEEDS) + len(faults.SSRF_TARGETS)
    )
    assert int(re.search(r"marked is_duplicate: (\d+)", out).group(1)) >= 1  # type: ignore[union-attr]
    assert "run 4 created 0 documents" in out
    charset = re.search(r"charset pages decoded right: (\d+)/(\d+)", out)
    assert charset and charset.group(1) == charset.group(2), out
    # every kind of fault was refused with its own reason
    for reason in (
        "feed:xml_entity_expansion",
        "feed:external_entity",
        "feed:not_a_feed",
        "feed:empty_feed",
        "page:timeout",
        "page:connection_error",
        "page:protocol_error",
        "extract:consent_wall",
        "extract:soft_404",
        "page:redirect_loop",
        "page:too_many_redirects",
        "page:bad_redirect",
        "page:too_large",
        "page:decompression_bomb",
        "page:incomplete_body",
        "page:unsupported_content_type",
        "page:robots_disallowed",
        "page:blocked_address",
        "page:blocked_scheme",
        "page:http_304",
        "page:http_404",
        "page:http_410",
        "page:http_500",
        "page:http_503",
    ):
        assert f"'{reason}'" in out, reason


def test_transient_failures_are_retried_and_the_feed_charset_is_used(
    scenario: tuple[int, str, dict[str, int]],
) -> None:
    status, out, n = scenario
    assert n["unretried"] == 0, out
    assert "feed_charset=ok" in out, out
    assert status == 0, out
