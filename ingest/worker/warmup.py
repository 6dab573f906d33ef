"""Imported once by the derivation workers' forkserver (never by anything else): builds the default tagger and
tags an English and a German snippet, so that the compiled taxonomy and the word-frequency lists are already
in memory when a worker is forked from it, and loads the language-identification model (about 0.5 s of CPU
that every worker otherwise paid on its first page). A worker then starts in milliseconds instead of ~1.5 s,
which is paid again at every recycling (``ProcessOptions.max_pages_per_worker``) and at every processing run
(each run has its own pool)."""

from __future__ import annotations

from ingest.config import TaggingOptions
from ingest.extraction import detect_language
from ingest.tagging import Tagger

_tagger = Tagger(TaggingOptions())
_tagger.tag(
    title="Die Regierung in Berlin", body="Die Bundesregierung traf am Montag Vertreter aus Paris.", language="de"
)
_tagger.tag(title="The government in London", body="Ministers met officials from Paris on Monday.", language="en")
detect_language("Ministers met officials from Paris on Monday.")
