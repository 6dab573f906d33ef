"""Which bulk item errors are one document's fault (:func:`ingest.elastic.item_error`)."""

from __future__ import annotations

import pytest

from ingest.elastic import item_error

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "error_type", ["document_parsing_exception", "strict_dynamic_mapping_exception", "illegal_argument_exception"]
)
def test_a_document_refused_for_its_content_is_a_permanent_skip(error_type: str) -> None:
    item = {"_id": "d1", "status": 400, "error": {"type": error_type, "reason": "x" * 5_000}}
    skip = item_error(item, url="https://example.org/a")
    assert skip is not None
    assert skip.reason == "document_rejected" and skip.permanent and skip.doc_id == "d1"
    assert skip.url == "https://example.org/a" and len(str(skip)) < 600


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (403, "cluster_block_exception"),  # a write block: the index, not the document
        (404, "index_not_found_exception"),
        (429, "es_rejected_execution_exception"),
        (503, "unavailable_shards_exception"),
        (409, "version_conflict_engine_exception"),
        (400, "index_closed_exception"),
    ],
)
def test_a_refusal_that_is_not_the_documents_fault_stays_a_failure(status: int, error_type: str) -> None:
    assert item_error({"_id": "d1", "status": status, "error": {"type": error_type, "reason": "r"}}) is None


def test_the_most_specific_reason_comes_first() -> None:
    item = {
        "_id": "d1",
        "status": 400,
        "error": {
            "type": "document_parsing_exception",
            "reason": "failed to parse field [authors]. Preview of field's value: 'AAAA...'",
            "caused_by": {
                "type": "illegal_argument_exception",
                "reason": "Document contains at least one immense term",
            },
        },
    }
    skip = item_error(item)
    assert skip is not None
    assert str(skip).index("immense term") < str(skip).index("failed to parse field")
