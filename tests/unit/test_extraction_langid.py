"""The language identifier built from the disk cache is py3langid's own, model for model.

Language decides the stemmer, the tagger's vocabulary and which stories a piece may join, so the cached model
must classify every text exactly as the packaged one does, probabilities included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from ingest import extraction

pytestmark = pytest.mark.unit

TEXTS = [
    "Ministers met officials from Paris on Monday.",
    "Die Bundesregierung traf am Montag Vertreter aus Paris.",
    "Le gouvernement a annoncé de nouvelles sanctions contre Moscou.",
    "Хакеры атаковали серверы компании в понедельник.",
    "ソニー・ピクチャーズがハッキングされた。",
    "x",
    "1234 5678",
]


def test_the_cached_model_classifies_as_the_packaged_one(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    built = extraction._identifier()  # a miss: decompressed and written
    assert len(list(fresh_cache.glob("langid-model-*.npz"))) == 1
    extraction._identifier.cache_clear()

    def no_decompression(*args: object) -> None:
        raise AssertionError("a hit must not decompress the packaged model")

    monkeypatch.setattr("py3langid.modelio.load_model", no_decompression)
    cached = extraction._identifier()
    for text in TEXTS:
        expected = packaged.classify(text)
        assert built.classify(text) == expected and cached.classify(text) == expected, text
        assert cached.rank(text) == packaged.rank(text)


def test_a_damaged_model_file_is_rebuilt(fresh_cache: Path) -> None:
    extraction._identifier()
    extraction._identifier.cache_clear()
    (path,) = fresh_cache.glob("langid-model-*.npz")
    path.write_bytes(path.read_bytes()[:4096])
    assert extraction.detect_language("Die Bundesregierung traf am Montag Vertreter aus Paris.") == "de"
    assert path.stat().st_size > 1_000_000  # written again, whole
