"""``python -m ingest.kibana write|check|import``: regenerate, verify, or import the saved objects.

``import`` is what the compose ``kibana-setup`` service runs: it generates the objects for the configured aliases
(``NEWS_INDEX_*``), validates them and posts them to Kibana's import API, retrying while Kibana is still starting.
Credentials come from ``KIBANA_USERNAME`` / ``KIBANA_PASSWORD`` (no credentials: an unsecured Kibana).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from ingest.config import PipelineOptions
from ingest.errors import ConfigurationError
from ingest.kibana import NDJSON_PATH, generate, load_ndjson, problems, saved_objects

logger = logging.getLogger("ingest.kibana")


def _write(path: Path) -> int:
    path.write_text(generate(), encoding="utf-8")
    print(f"wrote {len(saved_objects())} saved objects to {path}")
    return 0


def _check(path: Path) -> int:
    found = problems(load_ndjson(path))
    if path.read_text(encoding="utf-8") != generate():
        found.append(f"{path} differs from the generator's output: run `make kibana-objects`")
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if not found:
        print(f"{path}: {len(load_ndjson(path))} saved objects, valid for Kibana 9.2.8, up to date")
    return 1 if found else 0


def import_objects(kibana_url: str, ndjson: str, *, auth: tuple[str, str] | None, attempts: int = 60) -> int:
    """POST ``ndjson`` to ``<kibana_url>/api/saved_objects/_import?overwrite=true``; returns the objects imported.

    Retries connection errors and 5xx (Kibana starting) ``attempts`` times, 5 s apart; raises
    :class:`ConfigurationError` with Kibana's per-object errors when the import is refused.
    """
    url = kibana_url.rstrip("/") + "/api/saved_objects/_import"
    files = {"file": ("saved_objects.ndjson", ndjson.encode("utf-8"), "application/ndjson")}
    for attempt in range(1, attempts + 1):
        try:
            resp = httpx.post(
                url,
                params={"overwrite": "true"},
                headers={"kbn-xsrf": "news-ingest"},
                files=files,
                auth=auth,
                timeout=60,
            )
        except httpx.TransportError as exc:
            logger.info("Kibana not reachable yet (%s), attempt %d/%d", exc, attempt, attempts)
        else:
            if resp.status_code < 500:
                body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
                if resp.status_code == 200 and body.get("success"):
                    return int(body.get("successCount", 0))
                raise ConfigurationError(f"Kibana refused the import ({resp.status_code}): {body or resp.text[:500]}")
            logger.info("Kibana answered %d, attempt %d/%d", resp.status_code, attempt, attempts)
        time.sleep(5)
    raise ConfigurationError(f"Kibana at {kibana_url} did not accept the import after {attempts} attempts")


def _import(kibana_url: str) -> int:
    options = PipelineOptions.from_env()
    objects = saved_objects(options.index)
    found = problems(objects, options.index)
    if found:
        raise ConfigurationError("; ".join(found))
    user, password = os.environ.get("KIBANA_USERNAME"), os.environ.get("KIBANA_PASSWORD")
    count = import_objects(kibana_url, generate(options.index), auth=(user, password) if user and password else None)
    print(f"imported {count} saved objects into {kibana_url}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.kibana", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("write", "regenerate the NDJSON"), ("check", "verify the NDJSON is current and valid")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--path", type=Path, default=NDJSON_PATH)
    cmd = sub.add_parser("import", help="import the saved objects into a running Kibana")
    cmd.add_argument("--kibana-url", default=os.environ.get("KIBANA_URL", "http://127.0.0.1:5601"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "write":
            return _write(args.path)
        if args.command == "check":
            return _check(args.path)
        return _import(args.kibana_url)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
