"""Near-duplicate bodies (syndicated wire copy, lightly edited reprints).

Each body gets a MinHash signature (:func:`signature`, 128 permutations over word 3-gram shingles) cut into 16 bands
of 8 rows. Each band becomes one keyword token stored in the ``lsh_bands`` field, so "which stored articles
might be near-duplicates of this one" is a plain ``terms`` query. Two bodies whose shingle Jaccard is 0.8
share at least one band with probability ~0.99 (0.5: ~0.06). Every candidate pair is then verified with the
exact Jaccard similarity of the shingle sets; only verified pairs are linked.

Links are symmetric: both articles list each other in ``near_duplicates``. Within a group of linked
articles the earliest published one (ties: the smallest id) is the original; every other one gets
``is_duplicate: true`` and ``duplicate_of: <original id>``, so Kibana users can filter
``NOT is_duplicate:true`` to hide copies.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import struct
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from elasticsearch import Elasticsearch

from ingest.elastic import call
from ingest.errors import IndexMissing, RequestRejected

logger = logging.getLogger(__name__)

NUM_PERM = 128
BANDS = 16
ROWS = NUM_PERM // BANDS
SHINGLE_WORDS = 3
#: Bodies with fewer words are not compared (boilerplate-sized texts collide for the wrong reasons).
MIN_WORDS = 25
#: Verified near-duplicate: Jaccard similarity of the word-shingle sets at least this.
JACCARD_THRESHOLD = 0.8
_SEED = 1
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_TERMS_PER_QUERY = 1024
_MAX_HITS = 1000


def shingles(text: str) -> set[str]:
    """Lower-cased word 3-grams of ``text`` (empty when the text is shorter than :data:`MIN_WORDS` words)."""
    words = _WORD_RE.findall(text.lower())
    if len(words) < MIN_WORDS:
        return set()
    return {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


@functools.lru_cache(maxsize=1)
def _permutations() -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    gen = np.random.RandomState(_SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def signature(shingles_sorted: Sequence[str]) -> npt.NDArray[np.uint32]:
    """The MinHash signature of a (non-empty) set of shingles: ``NUM_PERM`` minima of ``a_k * h + b_k`` over
    uint32, ``h`` the first 4 bytes of each shingle's SHA-1 (little-endian) after MurmurHash3's 32-bit finalizer,
    ``a_k`` odd and ``b_k`` drawn by NumPy's ``RandomState(1)``.

    That is datasketch's ``MinHash(num_perm=128, seed=1)`` of its 2.0 default scheme ("affine32"), bit for bit
    (``tests/unit/test_dedup.py`` compares them), written out here for two reasons: the bands are stored in the
    index, so they must not move when a library changes its default (datasketch 2.0 changed it from "legacy",
    which every band of 1.x used), and importing datasketch imports scipy, 0.5 s of CPU in every processing task.
    """
    hv = np.fromiter(
        (int.from_bytes(hashlib.sha1(s.encode("utf-8")).digest()[:4], "little") for s in shingles_sorted),
        dtype=np.uint32,
        count=len(shingles_sorted),
    )
    hv ^= hv >> np.uint32(16)  # MurmurHash3's finalizer: a bijection that spreads the input hash
    hv *= np.uint32(0x85EBCA6B)
    hv ^= hv >> np.uint32(13)
    hv *= np.uint32(0xC2B2AE35)
    hv ^= hv >> np.uint32(16)
    a, b = _permutations()
    minima: npt.NDArray[np.uint32] = (hv[:, None] * a + b).min(axis=0)
    return minima


def _bands_of(shingle_set: set[str]) -> list[str]:
    if not shingle_set:
        return []
    values = signature(sorted(shingle_set)).tolist()
    tokens = []
    for band in range(BANDS):
        chunk = values[band * ROWS : (band + 1) * ROWS]
        digest = hashlib.blake2b(struct.pack(f"<{ROWS}Q", *chunk), digest_size=8).hexdigest()
        tokens.append(f"b{band:02d}-{digest}")
    return tokens


def lsh_bands(text: str) -> list[str]:
    """The LSH band tokens of ``text`` (16 keyword strings; empty for very short texts)."""
    return _bands_of(shingles(text))


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _when(value: Any) -> datetime:
    """Sort key for "earliest published"; unknown dates sort last."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return datetime.max.replace(tzinfo=UTC)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.max.replace(tzinfo=UTC)


def _original(ids: Iterable[str], published: Mapping[str, Any]) -> str:
    return min(ids, key=lambda i: (_when(published.get(i)), i))


def _search_candidates(es: Elasticsearch, alias: str, bands: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Stored articles sharing at least one band with ``bands``: id -> _source (body, dates, links)."""
    found: dict[str, dict[str, Any]] = {}
    unique = sorted(set(bands))
    for start in range(0, len(unique), _TERMS_PER_QUERY):
        chunk = unique[start : start + _TERMS_PER_QUERY]
        try:
            resp = call(
                f"near-duplicate search on {alias}",
                es.search,
                index=alias,
                query={"terms": {"lsh_bands": chunk}},
                size=_MAX_HITS,
                source_includes=["body", "published_at", "near_duplicates", "duplicate_of", "is_duplicate"],
                sort=["_doc"],
            )
        except IndexMissing:
            return found  # no index yet: nothing stored to compare with
        hits = resp["hits"]["hits"]
        if len(hits) >= _MAX_HITS:
            logger.warning("near-duplicate search hit the %d candidate cap; some links may be missed", _MAX_HITS)
        for hit in hits:
            found[hit["_id"]] = hit.get("_source") or {}
    return found


def link_near_duplicates(es: Elasticsearch, alias: str, docs: list[dict[str, Any]]) -> int:
    """Set ``lsh_bands``, ``near_duplicates``, ``is_duplicate`` and ``duplicate_of`` on ``docs`` (about to be
    bulk-indexed) and add the reverse links to stored partners with partial updates.

    Candidates come from stored articles sharing a band (terms query) and from the batch itself; each pair is
    verified by shingle Jaccard >= 0.8. Deterministic and idempotent. Returns the number of verified links
    (unordered pairs) that involve a document of the batch. Raises :class:`IndexingError` when
    Elasticsearch fails, so no link is silently dropped.
    """
    if not docs:
        return 0
    batch_ids = {str(d["doc_id"]) for d in docs}
    doc_shingles: dict[str, set[str]] = {}
    for doc in docs:
        shingle_set = shingles(str(doc.get("body") or ""))
        doc_shingles[str(doc["doc_id"])] = shingle_set
        doc["lsh_bands"] = _bands_of(shingle_set)
    all_bands = [band for doc in docs for band in doc["lsh_bands"]]
    stored = _search_candidates(es, alias, all_bands) if all_bands else {}

    published: dict[str, Any] = {str(d["doc_id"]): d.get("published_at") for d in docs}
    for sid, src in stored.items():
        published.setdefault(sid, src.get("published_at"))

    # candidate pairs: shared band tokens, within the batch and with stored articles
    by_band: dict[str, set[str]] = defaultdict(set)
    for doc in docs:
        for band in doc["lsh_bands"]:
            by_band[band].add(str(doc["doc_id"]))
    stored_shingles: dict[str, set[str]] = {}
    for sid, src in stored.items():
        if sid in batch_ids:
            continue
        stored_shingles[sid] = shingles(str(src.get("body") or ""))
        for band in _bands_of(stored_shingles[sid]):
            if band in by_band:
                by_band[band].add(sid)
    pairs: set[tuple[str, str]] = set()
    for members in by_band.values():
        ordered = sorted(members)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                if a in batch_ids or b in batch_ids:
                    pairs.add((a, b))

    def shingles_of(doc_id: str) -> set[str]:
        return doc_shingles[doc_id] if doc_id in doc_shingles else stored_shingles.get(doc_id, set())

    partners: dict[str, set[str]] = defaultdict(set)
    links = 0
    for a, b in sorted(pairs):
        similarity = jaccard(shingles_of(a), shingles_of(b))
        if similarity >= JACCARD_THRESHOLD:
            partners[a].add(b)
            partners[b].add(a)
            links += 1
            logger.debug("near-duplicates %s ~ %s (jaccard %.2f)", a, b, similarity)

    # the batch documents: keep links stored earlier, add the new ones
    for doc in docs:
        doc_id = str(doc["doc_id"])
        previous = set((stored.get(doc_id) or {}).get("near_duplicates") or [])
        mine = (partners.get(doc_id, set()) | previous | set(doc.get("near_duplicates") or [])) - {doc_id}
        doc["near_duplicates"] = sorted(mine)
        _set_original(doc, doc_id, mine, published, stored)

    # stored partners: add the reverse links (partial update, no upsert)
    updates: list[dict[str, Any]] = []
    for sid in sorted(set(partners) - batch_ids):
        src = stored.get(sid, {})
        had = set(src.get("near_duplicates") or [])
        mine = (had | partners[sid]) - {sid}
        fields: dict[str, Any] = {"near_duplicates": sorted(mine)}
        _set_original(fields, sid, mine, published, stored)
        if (
            sorted(had) != fields["near_duplicates"]
            or src.get("duplicate_of") != fields["duplicate_of"]
            or bool(src.get("is_duplicate")) != fields["is_duplicate"]
        ):
            updates.append({"_id": sid, "doc": fields})
    _update_partners(es, alias, updates)
    return links


def _set_original(
    target: dict[str, Any],
    doc_id: str,
    partner_ids: set[str],
    published: Mapping[str, Any],
    stored: Mapping[str, Mapping[str, Any]],
) -> None:
    """``is_duplicate``/``duplicate_of``: the earliest of the document, its partners and their originals."""
    group = {doc_id} | partner_ids
    for pid in partner_ids:
        original_of_partner = (stored.get(pid) or {}).get("duplicate_of")
        if original_of_partner and original_of_partner in published:
            group.add(str(original_of_partner))
    original = _original(sorted(group), published)
    target["is_duplicate"] = original != doc_id
    target["duplicate_of"] = original if original != doc_id else None


def _update_partners(es: Elasticsearch, alias: str, updates: list[dict[str, Any]]) -> None:
    if not updates:
        return
    operations: list[dict[str, Any]] = []
    for update in updates:
        operations.append({"update": {"_index": alias, "_id": update["_id"], "retry_on_conflict": 3}})
        operations.append({"doc": update["doc"]})
    resp = call(f"updating near-duplicate partners in {alias}", es.bulk, operations=operations)
    if resp.get("errors"):
        errors = [item["update"] for item in resp["items"] if item.get("update", {}).get("status", 200) >= 300]
        # a partner deleted meanwhile (404) is not a loss; anything else is
        serious = [e for e in errors if e.get("status") != 404]
        if serious:
            raise RequestRejected(
                f"{len(serious)} near-duplicate partner updates were rejected by {alias}",
                failed=len(serious),
                errors=[{"id": e.get("_id"), "status": e.get("status"), "error": e.get("error")} for e in serious],
            )
    logger.info("near-duplicates: updated %d stored partners in %s", len(updates), alias)
