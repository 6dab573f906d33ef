"""Tagging: cyberattack and geopolitics, English and German, with entities, names and explanations.

Everything the tagger knows lives in two versioned TOML files (``ingest/data/taxonomy.toml``: tags, subtopics,
their definitions and evidence; ``ingest/data/entities.toml``: the gazetteer of canonical, language-independent
entity ids). The package only interprets them, one module per stage:

* :mod:`~ingest.tagging.text`: accent folding, zones (title / lead / body), sentences, language.
* :mod:`~ingest.tagging.patterns`: the term-pattern compiler and the index that runs only plausible terms.
* :mod:`~ingest.tagging.data`: taxonomy and gazetteer loading with validation (a bad file is a
  :class:`~ingest.errors.ConfigurationError`).
* :mod:`~ingest.tagging.names`: open-vocabulary names (capitalised phrases against word-frequency lists), with
  the word lists it reads in :mod:`~ingest.tagging.lexicon`.
* :mod:`~ingest.tagging.scoring`: evidence groups → rule confidences, with the evidence that explains them.
* :mod:`~ingest.tagging.core`: :class:`Tagger`, which chains them, and :class:`TagResult`.

It is pure and deterministic: no network, no Elasticsearch, no randomness; compiled data is cached per path.
"""

from __future__ import annotations

from ingest.tagging.core import Tagger, TagResult, entity_ids
from ingest.tagging.text import fold, guess_language

__all__ = ["TagResult", "Tagger", "entity_ids", "fold", "guess_language"]
