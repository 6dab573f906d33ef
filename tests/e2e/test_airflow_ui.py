"""What ops see in the Airflow UI, in a real browser: headless Chromium (Debian's ``chromium``) over the DevTools
protocol, against the session's ``airflow standalone`` (see ``conftest.py``). Screenshots go to ``var/ui/``.

* the trigger forms of ``news_poll`` and ``news_process``: the feeds offered as a multi-select of the feed
  file's real names, params in sections with their descriptions, nothing marked required; ``news_poll`` offers
  no backfill;
* the backfill dialog of ``news_process`` in the UI's own words (Missing Runs / Missing and Errored Runs /
  All Runs, "Unpause news_process on trigger" ticked by default for a paused DAG);
* Browse → News ingest (the plugin page) with stories and feed health, and Admin → Plugins listing it;
* a task instance's Details tab: the Extra Links to Kibana.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import ROOT
from tests.e2e.browser import CDPError, Page, chromium, chromium_binary
from tests.e2e.conftest import KIBANA_URL, Chain, Env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHOTS = ROOT / "var" / "ui"
#: the trigger / backfill modal (its title changes between "Trigger Dag" and "Run Backfill")
MODAL = "[...document.querySelectorAll('[role=dialog]')].find(d => d.innerText.includes('Single Run'))"
REQUIRED = "[data-required], .chakra-field__requiredIndicator, [aria-required=true], [required]"


@pytest.fixture(scope="module")
def browser(standalone: Env, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    if chromium_binary() is None:  # CI installs it (.ci/run): a missing browser fails, it does not skip
        pytest.fail("chromium is not installed: apt-get install -y chromium")
    with chromium(tmp_path_factory.mktemp("chromium-profile"), height=1300) as page:
        # the UI's session is the JWT in the _token cookie (what its login form sets)
        page.send(
            "Network.setCookie",
            {"name": "_token", "value": standalone.server.token, "url": standalone.server.base_url + "/"},
        )
        yield page


def _open_trigger(page: Page, base_url: str, dag_id: str) -> None:
    page.goto(f"{base_url}/dags/{dag_id}")
    page.wait_for("document.body.innerText.includes('Trigger')", what=f"the {dag_id} page", timeout=60)
    page.click_text("button", "Trigger")
    page.wait_for(f"!!({MODAL})", what="the trigger dialog")


def _modal_text(page: Page) -> str:
    return str(page.evaluate(f"({MODAL}).innerText"))


def _open_section(page: Page, title: str) -> str:
    """Open one accordion section of the params (one is open at a time); returns the modal's text. A section
    the form already shows open is left alone (a click would close it)."""
    is_open = f"!!({MODAL}).querySelector(\"[id*='content:{title}'][data-state=open]\")"
    time.sleep(0.5)  # the form renders its sections, then may open one by itself
    if not page.evaluate(is_open):
        page.click_text(f"[role=dialog] button[id*='trigger:{title}']", title)
    page.wait_for(is_open, what=f"section {title!r} open")
    time.sleep(0.3)  # the expand animation
    return _modal_text(page)


def _required_markers(page: Page) -> int:
    return int(page.evaluate(f"({MODAL}).querySelectorAll({json.dumps(REQUIRED)}).length"))


def _feed_options(page: Page) -> list[str]:
    """Open the feeds multi-select and read its options."""
    page.click_text("[role=dialog] div", "Select one or multiple values")
    options = page.wait_for(
        "(() => { const o = [...document.querySelectorAll('[role=option]')].map(e => e.innerText.trim())"
        ".filter(t => t.includes(' · ')); return o.length ? o : null; })()",
        what="the feeds options",
    )
    return [str(o) for o in options]


def _shot(page: Page, name: str) -> None:
    path = page.screenshot(SHOTS / name)
    assert path.stat().st_size > 10_000, f"{path} looks empty"


def _set_paused(standalone: Env, dag_id: str, paused: bool) -> bool:
    """Pause or unpause; returns the previous state."""
    before = bool(standalone.server.call("GET", f"/api/v2/dags/{dag_id}")["is_paused"])
    standalone.server.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})
    return before


def _click_until(
    page: Page,
    clicks: list[tuple[str, str]],
    expression: str,
    *,
    what: str,
    again: Callable[[], None] | None = None,
    total: float = 120.0,
    each: float = 30.0,
) -> Any:
    """Click through ``clicks`` (selector, visible text) until ``expression`` holds, as a user clicks again when
    a click did nothing; ``again`` first restores the starting page. Clicks CI saw do nothing, once in a run of
    the suite: the Details tab of a task instance, the Browse menu's News ingest entry."""
    deadline = time.monotonic() + total
    while True:
        try:
            for selector, text in clicks:
                page.click_text(selector, text, timeout=each)
            return page.wait_for(expression, timeout=each, what=what)
        except CDPError:
            if time.monotonic() + each > deadline:
                raise
            if again is not None:
                again()


def test_trigger_forms_offer_the_feeds_and_mark_nothing_required(standalone: Env, browser: Page) -> None:
    started = time.monotonic()
    page, base_url = browser, standalone.server.base_url
    expected = [f"{name} (" for name in standalone.corpus.feed_names]

    _open_trigger(page, base_url, "news_poll")
    text = _open_section(page, "What to poll")
    assert "Poll only these feeds of the feed file. Leave empty to poll every feed." in text
    assert _required_markers(page) == 0
    options = _feed_options(page)
    assert [o.split(" (")[0] + " (" for o in options] == expected, options
    _shot(page, "news_poll-trigger-feeds.png")
    # news_poll captures the present: its Backfill choice does not switch the dialog to a backfill
    page.click_text("[role=dialog] h2, [role=dialog] header, [role=dialog] div", "Trigger Dag - news_poll")
    page.click_text("[role=dialog] span", "Backfill")
    time.sleep(0.5)
    assert "Reprocess Behavior" not in _modal_text(page)

    _open_trigger(page, base_url, "news_process")
    sections = {
        "What to derive": ["What to derive", "Window by", "Which clock the backfill's date range refers to."],
        "Stages": ["The stages to redo: remove one with its ×. All four re-derive everything."],
        "Feeds": ["Re-derive only the articles of these feeds (backfills). Leave empty for all feeds."],
    }
    for title, lines in sections.items():
        text = _open_section(page, title)
        for line in lines:
            assert line in text, (title, line, text)
        assert _required_markers(page) == 0, f"section {title!r} marks a field required"
    options = _feed_options(page)
    assert [o.split(" (")[0] + " (" for o in options] == expected, options
    _shot(page, "news_process-trigger-feeds.png")
    standalone.server.timings["browser_trigger_forms_s"] = round(time.monotonic() - started, 1)


def test_backfill_dialog_speaks_the_uis_words(standalone: Env, browser: Page) -> None:
    started = time.monotonic()
    page = browser
    was_paused = _set_paused(standalone, "news_process", True)  # the Unpause box shows for a paused DAG
    try:
        _open_trigger(page, standalone.server.base_url, "news_process")
        page.click_text("[role=dialog] span", "Backfill")
        page.wait_for(f"({MODAL}).innerText.includes('Reprocess Behavior')", what="the backfill form")
        text = _modal_text(page)
        assert text.startswith("Run Backfill - news_process"), text[:200]
        for label in ("Date Range", "Missing Runs", "Missing and Errored Runs", "All Runs", "Run Backfill"):
            assert label in text, label
        unpause = page.evaluate(
            f"(() => {{ const l = [...({MODAL}).querySelectorAll('label')]"
            ".find(e => e.innerText.trim() === 'Unpause news_process on trigger');"
            " const i = l && l.querySelector('input[type=checkbox]'); return i ? i.checked : null; })()"
        )
        assert unpause is True, "'Unpause news_process on trigger' should be there and ticked by default"
        _shot(page, "news_process-backfill.png")
    finally:
        _set_paused(standalone, "news_process", was_paused)
    standalone.server.timings["browser_backfill_dialog_s"] = round(time.monotonic() - started, 1)


def test_plugin_page_shows_stories_and_feed_health(standalone: Env, chain: Chain, browser: Page) -> None:
    started = time.monotonic()
    page, base_url = browser, standalone.server.base_url
    page.goto(f"{base_url}/plugins")
    page.wait_for("document.body.innerText.includes('news_ingest')", what="Admin → Plugins to list the plugin")
    _shot(page, "admin-plugins.png")

    page.goto(base_url + "/")
    frame = "document.querySelector('iframe[src$=\"/news-ingest/\"]')"
    _click_until(
        page,
        [("button, a", "Browse"), ("a, button, [role=menuitem]", "News ingest")],
        f"(() => {{ const f = {frame}; return f && f.contentDocument && "
        "f.contentDocument.querySelector('#feeds-table') !== null; })()",
        what="the News ingest page in its frame",
        again=lambda: page.goto(base_url + "/"),
    )
    stories = page.evaluate(f"{frame}.contentDocument.querySelectorAll('#stories-table tbody tr').length")
    feeds = page.evaluate(
        f"[...{frame}.contentDocument.querySelectorAll('#feeds-table tbody tr td:first-child strong')]"
        ".map(e => e.innerText)"
    )
    errors = page.evaluate(f"{frame}.contentDocument.querySelectorAll('.error').length")
    assert stories >= 1 and errors == 0, (stories, errors)
    assert sorted(feeds) == standalone.corpus.feed_names
    _shot(page, "plugin-news-ingest.png")
    standalone.server.timings["browser_plugin_page_s"] = round(time.monotonic() - started, 1)


def test_task_instance_details_show_the_kibana_links(standalone: Env, chain: Chain, browser: Page) -> None:
    """A mapped ``process`` task instance → Details: Extra Links, both pointing at the configured Kibana."""
    started = time.monotonic()
    page, base_url = browser, standalone.server.base_url
    run_id = quote(chain.process_run["dag_run_id"], safe="")
    page.goto(f"{base_url}/dags/news_process/runs/{run_id}/tasks/process/mapped/0")
    links = _click_until(
        page,
        [("button, a, [role=tab]", "Details")],
        "(() => { const a = [...document.querySelectorAll('a')].filter(e => e.innerText.startsWith('Kibana: '));"
        " return a.length ? a.map(e => [e.innerText.trim(), e.href]) : null; })()",
        what="the Extra Links of the task instance",
    )
    assert "Extra Links" in page.evaluate("document.body.innerText")
    assert sorted(name for name, _ in links) == ["Kibana: articles", "Kibana: stories"]
    for _, href in links:
        assert href.startswith(f"{KIBANA_URL}/app/discover#/?_g="), href
    _shot(page, "news_process-task-instance-links.png")
    standalone.server.timings["browser_extra_links_s"] = round(time.monotonic() - started, 1)


def test_schedules_and_mapped_tasks_read_as_words(standalone: Env, chain: Chain, browser: Page) -> None:
    """The Dags list shows each schedule as ops know it (no ``0:15:00``), and a mapped task's instances are
    listed by what they do (their batch of feeds, their window), not as ``[0]``, ``[1]``."""
    started = time.monotonic()
    page, base_url = browser, standalone.server.base_url
    page.goto(f"{base_url}/dags")
    listing = page.wait_for(
        "(() => { const t = document.body.innerText; return t.includes('news_stories') ? t : null; })()",
        what="the Dags list",
        timeout=60,
    )
    _shot(page, "dags-list.png")
    # the asset-scheduled DAGs read "news_captures" / "Asset" (with a popover) depending on their events
    # (a timedelta shown as "0:15:00" on its own; "Next Run 2026-12-04 20:15:00" holds those characters too: a CI
    # run at 20:04 failed on that)
    assert "*/15 * * * *" in listing and not re.search(r"(?<![\d:])0:15:00", listing), listing

    for dag_id, run, task, words in (
        ("news_poll", chain.poll_run, "capture", standalone.corpus.feed_names),  # "a … z (8 feeds)" or "a, b"
        ("news_process", chain.process_run, "process", ["capture 20", "publish 20"]),  # "capture <start> → <end>"
    ):
        page.goto(f"{base_url}/dags/{dag_id}/runs/{quote(run['dag_run_id'], safe='')}/tasks/{task}/mapped")
        text = page.wait_for(
            "(() => { const t = document.body.innerText; return t.includes('Task Instances') && "
            f"{json.dumps(list(words))}.some(w => t.includes(w)) ? t : null; }})()",
            what=f"the mapped instances of {dag_id}.{task} with their labels",
            timeout=60,
        )
        assert "Map Index" in text
    _shot(page, "news_process-mapped-windows.png")
    standalone.server.timings["browser_schedules_mapped_s"] = round(time.monotonic() - started, 1)
