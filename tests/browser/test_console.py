# ruff: noqa: F811 (the fixtures imported from console_fixtures are test arguments)
"""The query console in headless Chromium: sign in with GitHub, pick a project, run a query,
read the table and the chart; a query error shows its code, its position and a caret; a
pasted key never reaches storage. Screenshots for the docs come from these runs
(``GROWTHOS_SCREENSHOT_DIR=docs/img``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from axe_playwright_python.sync_playwright import Axe

from tests.browser.console_fixtures import (  # noqa: F401 (fixtures)
    ConsoleWorld,
    console_world,
    github_provider,
    new_page,
    screenshot_path,
)

NewPage = Any


def _sign_in(page: Any, world: ConsoleWorld) -> None:
    """From the console, through /login and the provider, back to the console."""
    page.goto(f"{world.url}/console")
    assert page.url == f"{world.url}/login?next=/console"
    page.get_by_role("link", name="Sign in with GitHub").click()
    page.wait_for_url(f"{world.url}/console")
    assert page.get_by_test_id("signed-in-as").inner_text() == "The Octocat"


def _api_answer(world: ConsoleWorld, query: str) -> dict[str, Any]:
    response = httpx2.post(
        f"{world.url}/v1/query",
        json={"q": query, "limit": 1000},
        headers={"X-API-Key": world.secret_key},
        timeout=30.0,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _run(page: Any, query: str) -> None:
    page.locator("#query").fill(query)
    page.get_by_role("button", name="Run query").click()


def _table(page: Any) -> tuple[list[str], list[list[str]]]:
    header = page.locator("#table thead th").all_inner_texts()
    rows = [row.locator("td").all_inner_texts() for row in page.locator("#table tbody tr").all()]
    return header, rows


def _accessibility_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _span(world: ConsoleWorld) -> str:
    """A fixed time range around the demo events (so the console and the API read the same)."""
    stop = world.end.date() + timedelta(days=1)
    return f"from {world.start.date().isoformat()} to {stop.isoformat()}"


def test_sign_in_pick_a_project_and_see_a_table_and_a_line_chart(
    console_world: ConsoleWorld, new_page: NewPage, tmp_path: Path
) -> None:
    world = console_world
    page = new_page()
    _sign_in(page, world)

    projects = page.locator("#project")
    page.locator("#project:enabled").wait_for()
    assert page.locator("#project optgroup").get_attribute("label") == "Boardly"
    assert page.locator("#project option").all_inner_texts() == ["web", "staging"]
    projects.select_option(label="web")

    query = f'event_type = "page_view" | {_span(world)} | count by day, _device_type'
    _run(page, query)
    page.locator("#result").wait_for(state="visible")

    expected = _api_answer(world, query)
    header, rows = _table(page)
    assert header == ["day", "_device_type", "count"]
    assert rows == [[r["day"], r["_device_type"], str(r["count"])] for r in expected["rows"]]
    assert len(rows) >= 10  # several days times several device types
    # A line per device type, a point per row.
    chart = page.locator("#chart svg[data-kind=line]")
    devices = sorted({r["_device_type"] for r in expected["rows"]})
    series = chart.locator("g.series")
    assert sorted(series.evaluate_all("els => els.map(e => e.dataset.series)")) == devices
    assert chart.locator("g.series circle").count() == len(rows)
    assert page.locator("#meta").inner_text().startswith(f"{len(rows)} rows · lake version ")
    # The query and the project are in the address, for a reload or a link.
    assert world.project_id in page.url
    page.screenshot(path=screenshot_path(tmp_path, "console.png"), full_page=True)
    assert _accessibility_violations(page) == []

    # Another shape: bars, one per browser, in the answer's order.
    query = f'event_type = "page_view" | {_span(world)} | count by _browser'
    _run(page, query)
    page.locator("#chart svg[data-kind=bar]").wait_for()
    expected = _api_answer(world, query)
    bars = page.locator("#chart g.bar text:not(.value)").all_text_contents()
    assert bars == [r["_browser"] for r in expected["rows"]]
    values = page.locator("#chart g.bar text.value").all_text_contents()
    assert values == [f"{r['count']:,}" for r in expected["rows"]]

    # The empty project answers no rows, and says so instead of drawing.
    projects.select_option(label="staging")
    _run(page, query)
    page.locator("#meta").filter(has_text="0 rows").wait_for()
    assert page.locator("#chart").inner_text() == "No rows to chart."
    assert page.locator("#table tbody tr").count() == 0


def test_a_query_error_shows_its_code_position_and_caret(
    console_world: ConsoleWorld, new_page: NewPage, tmp_path: Path
) -> None:
    page = new_page()
    _sign_in(page, console_world)
    page.locator("#project:enabled").wait_for()

    query = 'event_type = "page_view" | last 7 | count by _browser'
    _run(page, query)
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert page.locator("#error-code").inner_text() == "query_syntax_error"
    assert page.locator("#error-where").inner_text() == "at line 1, column 33"
    assert page.locator("#error-message").inner_text() == "'last' needs a unit, found '7'"
    caret = page.locator("#error-caret").inner_text().splitlines()
    assert caret[1] == f"1 | {query}"
    assert caret[2] == "  | " + " " * 32 + "^"
    assert "expected: 7d, 24h, 30m, 2w" in page.locator("#error-expected").inner_text()
    # The offending text is selected in the editor.
    selection = page.locator("#query").evaluate("el => [el.selectionStart, el.selectionEnd]")
    assert selection == [32, 33]
    assert page.locator("#result").is_hidden()
    page.screenshot(path=screenshot_path(tmp_path, "console-error.png"))
    assert _accessibility_violations(page) == []

    # An unknown name on the second line: the position counts lines, with a suggestion.
    query = "last 7d\n| count by _brwoser"
    _run(page, query)
    page.locator("#error-where").filter(has_text="line 2").wait_for()
    assert page.locator("#error-code").inner_text() == "query_unknown_column"
    assert page.locator("#error-where").inner_text() == "at line 2, column 12"
    assert "did you mean '_browser'" in page.locator("#error-message").inner_text()
    assert page.locator("#error-caret").inner_text().splitlines()[1] == "2 | | count by _brwoser"


def test_the_console_with_a_pasted_key_keeps_the_key_in_memory_only(
    console_world: ConsoleWorld, new_page: NewPage
) -> None:
    world = console_world
    page = new_page()
    page.goto(f"{world.url}/console/key")
    assert page.locator("#project").is_disabled()
    page.locator("#key").fill(world.secret_key)
    page.get_by_role("button", name="Use this key").click()
    assert page.locator("#key").input_value() == ""  # the field is cleared at once
    assert page.locator("#project option").all_inner_texts() == ["This key's project"]

    query = f"{_span(world)} | count by event_type | top 3 by count"
    _run(page, query)
    page.locator("#result").wait_for(state="visible")
    expected = _api_answer(world, query)
    _, rows = _table(page)
    assert rows == [[r["event_type"], str(r["count"])] for r in expected["rows"]]

    # A funnel: a bar per step, labelled with the step's name, as wide as its users.
    query = f'{_span(world)} | funnel "page_view" -> "signup" -> "purchase_completed" within 7d'
    _run(page, query)
    page.locator("#chart svg[aria-label='Bar chart of users']").wait_for()
    expected = _api_answer(world, query)
    labels = page.locator("#chart g.bar text:not(.value)").all_text_contents()
    assert labels == ["page_view", "signup", "purchase_completed"]
    values = page.locator("#chart g.bar text.value").all_text_contents()
    assert values == [f"{r['users']:,}" for r in expected["rows"]]
    assert page.locator("#measure option").all_inner_texts() == ["users", "conversion"]
    page.locator("#measure").select_option("conversion")
    page.locator("#chart svg[aria-label='Bar chart of conversion']").wait_for()

    # Retention: a line per cohort (named by its day) over the periods, in percent.
    query = f'{_span(world)} | retention "page_view" every day periods 3'
    _run(page, query)
    page.locator("#chart svg[aria-label='Line chart of pct by period']").wait_for()
    expected = _api_answer(world, query)
    cohorts = sorted({r["cohort"][:10] for r in expected["rows"]})
    names = page.locator("#chart g.series").evaluate_all("els => els.map(e => e.dataset.series)")
    assert sorted(names) == cohorts

    stored = page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage),"
        " document.cookie, location.href, history.state])"
    )
    assert world.secret_key not in stored
    assert world.secret_key not in page.content()

    # A public key cannot query: refused before any request.
    page.locator("#key").fill("pk_" + "x" * 30)
    page.get_by_role("button", name="Use this key").click()
    assert page.locator("#error-code").inner_text() == "public_key"


def test_the_landing_page_without_javascript(
    console_world: ConsoleWorld, new_page: NewPage, tmp_path: Path
) -> None:
    page = new_page(java_script_enabled=False)
    page.goto(console_world.url + "/")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Product analytics you run yourself"
    )
    for name, href in [
        ("Query console", "/console"),
        ("API reference", "/docs"),
        ("llms.txt", "/llms.txt"),
        ("Sign in", "/login"),
    ]:
        assert page.get_by_role("link", name=name, exact=True).first.get_attribute("href") == href
    page.screenshot(path=screenshot_path(tmp_path, "landing.png"), full_page=True)
    # axe-core runs as a script: in a second tab that allows scripts.
    checked = new_page()
    checked.goto(console_world.url + "/")
    assert _accessibility_violations(checked) == []
    checked.goto(console_world.url + "/login")
    assert _accessibility_violations(checked) == []
