"""The fault-injection scenario end to end: misbehaving server, Elasticsearch outage, then recovery."""

from __future__ import annotations

import re

import pytest
from elasticsearch import Elasticsearch

from evaluation import faults

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_fault_scenario_loses_nothing(es: Elasticsearch, capsys: pytest.CaptureFixture[str]) -> None:
    status = faults.main(["--good", "4", "--syndicated", "1", "--es-url", es.transport.node_pool.get().base_url])
    out = capsys.readouterr().out
    final = re.search(r"served=(\d+) faults=(\d+) indexed=(\d+) lost=(\d+) duplicates=(\d+)", out)
    assert final, out
    served, fault_count, indexed, lost, duplicates = map(int, final.groups())
    assert "raised ElasticsearchUnavailable" in out
    assert lost == 0
    assert fault_count == len(faults.FAULTY_PAGES) + len(faults.HOSTILE_FEEDS) + len(faults.SSRF_TARGETS)
    assert indexed == served - fault_count
    assert duplicates == 0
    assert "near-duplicate copies marked is_duplicate: " in out
    assert int(re.search(r"marked is_duplicate: (\d+)", out).group(1)) >= 1  # type: ignore[union-attr]
    # every kind of fault was refused with its own reason
    for reason in (
        "feed:xml_entity_expansion",
        "feed:external_entity",
        "feed:not_a_feed",
        "page:timeout",
        "page:connection_error",
        "page:redirect_loop",
        "page:too_many_redirects",
        "page:too_large",
        "page:decompression_bomb",
        "page:unsupported_content_type",
        "page:robots_disallowed",
        "page:blocked_address",
        "page:blocked_scheme",
        "page:http_404",
        "page:http_410",
        "page:http_500",
        "page:http_503",
    ):
        assert f"'{reason}'" in out, reason
    assert status == 0, out
