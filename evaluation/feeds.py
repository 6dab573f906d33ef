"""``make eval-feeds``: parse every real feed under ``../shared/eval/real-feeds`` and report.

Prints one line per refused file with its reason, the agreement of entry counts with feed-rs's expected parses
(``*.serde.json``; only entries that have a link count, since entries without one cannot be fetched), and ends
with ``feeds_total=N feeds_parsed=N entries=N refused=N dropped=N`` (``dropped``: entries left out of feeds
that were read, for a bad or missing link).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from evaluation import shared_dir
from ingest.errors import FeedParseError
from ingest.feeds import FeedSource, parse_feed

SOURCE = FeedSource(name="eval", url="https://example.org/feed", language="en", country="", publisher="eval")


def default_root() -> Path:
    shared = shared_dir()
    return shared / "eval" / "real-feeds"


def feed_files(root: Path) -> list[Path]:
    return [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in (".xml", ".json", ".rss", ".atom") and not p.name.endswith(".serde.json")
    ]


def expected_entries(path: Path) -> int | None:
    """Entries with a link in feed-rs's expected parse of ``path`` (None when there is none)."""
    expected = path.with_name(f"{path.stem}.serde.json")
    if not expected.exists():
        return None
    data = json.loads(expected.read_text(encoding="utf-8"))
    return sum(1 for e in data.get("entries", []) if any(link.get("href") for link in e.get("links", [])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("root", nargs="?", type=Path, default=None, help="folder of feed files")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list malformed-but-read files")
    args = parser.parse_args(argv)
    root: Path = args.root or default_root()
    if not root.exists():
        print(f"real feeds not found at {root} (set NEWS_SHARED_DIR)", file=sys.stderr)
        return 2
    files = feed_files(root)
    parsed = entries = refused = bozo = 0
    reasons: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    compared = agree = 0
    disagreements: list[str] = []
    for path in files:
        rel = path.relative_to(root)
        want = expected_entries(path)
        try:
            result = parse_feed(path.read_bytes(), source=SOURCE, base_url=f"https://example.org/{rel}")
        except FeedParseError as exc:
            refused += 1
            reasons[exc.reason] += 1
            print(f"refused {rel}: {exc.reason}: {exc.args[0] if exc.args else ''}")
            got = 0
        else:
            parsed += 1
            entries += len(result.entries)
            got = len(result.entries)
            dropped.update(result.dropped)
            if result.bozo:
                bozo += 1
                if args.verbose:
                    print(f"malformed-but-read {rel}: {got} entries ({result.bozo_reason})")
        if want is not None:
            compared += 1
            if got == want:
                agree += 1
            else:
                disagreements.append(f"{rel}: ours {got}, feed-rs {want}")
    for line in disagreements:
        print(f"count differs {line}")
    print(f"refusal reasons: {dict(sorted(reasons.items()))}; malformed but read: {bozo}")
    print(f"entries dropped from feeds that were read: {dict(sorted(dropped.items()))}")
    print(f"feed-rs entry-count agreement: {agree}/{compared} files")
    print(
        f"feeds_total={len(files)} feeds_parsed={parsed} entries={entries} refused={refused} "
        f"dropped={sum(dropped.values())}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
