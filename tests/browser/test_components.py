"""The web components in headless Chromium, on a page of another origin, against the real
public campaign endpoints on loopback: a signup gets its place, a survey answer lands in the
lake, a referral code and link show, the social proof feed shows and rotates. Each is used
with the keyboard alone, checked with axe-core's rules, and photographed for the docs
(``GROWTHOS_SCREENSHOT_DIR=docs/img`` keeps the pictures).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx2 as httpx
import polars as pl
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page, expect

from tests.adapters.live_server import LiveServer
from tests.browser.conftest import Site, screenshot_path
from tests.conftest import auth


def create_campaign(
    live_api: LiveServer, keys: dict[str, str], key: str, type_: str, config: dict[str, Any]
) -> None:
    response = httpx.post(
        f"{live_api.url}/v1/projects/{keys['project_id']}/campaigns",
        json={
            "key": key,
            "type": type_,
            "name": key.title(),
            "status": "active",
            "config": config,
        },
        headers=auth(keys["secret_key"]),
    )
    assert response.status_code == 201, response.text


def component_page(
    site: Site, live_api: LiveServer, body: str, *, sdk: str = "", path: str = "/c.html"
) -> str:
    """A page of ``site`` that loads the components (and, with ``sdk``, the SDK) from the
    API; the components take the API's origin as their host from the script's address."""
    api = live_api.url
    sdk_tags = (
        f'<script src="{api}/public/growthos.js"></script><script>{sdk}</script>' if sdk else ""
    )
    return site.add(
        path,
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Components</title>
        {sdk_tags}<script src="{api}/public/gos-components.js"></script>
        <style>body {{ font-family: sans-serif; margin: 24px; background: #f6f8fa; }}</style>
        </head><body><main><h1>Our product</h1>{body}</main></body></html>""",
    )


def no_axe_violations(page: Page) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def shadow_focus(page: Page, element: str) -> str:
    """What has the focus inside ``element``'s shadow root, as ``tag.class#id``."""
    value: str = page.evaluate(
        """(selector) => {
            const active = document.querySelector(selector).shadowRoot.activeElement;
            if (!active) return "";
            return active.localName + (active.className ? "." + active.className : "")
                + (active.name ? "[" + active.name + "]" : "");
        }""",
        element,
    )
    return value


def test_waitlist_signup_shows_the_place_and_keeps_it(
    context: BrowserContext,
    page: Page,
    site: Site,
    live_api: LiveServer,
    keys: dict[str, str],
    tmp_path: Path,
) -> None:
    create_campaign(
        live_api,
        keys,
        "launch",
        "waitlist",
        {
            "title": "Join the beta",
            "description": "Be first to try it.",
            "places_per_referral": 5,
            "referral_url": "https://example.com/beta",
        },
    )
    url = component_page(
        site, live_api, f'<gos-waitlist campaign="launch" write-key="{keys["public_key"]}">'
    )
    page.goto(url)
    waitlist = page.locator("gos-waitlist")
    expect(waitlist).to_have_attribute("state", "ready")
    expect(page.get_by_role("heading", name="Join the beta")).to_be_visible()
    no_axe_violations(page)
    waitlist.screenshot(path=screenshot_path("gos-waitlist-form", tmp_path))

    # The keyboard alone: Tab reaches the email field (not the honeypot), Enter submits.
    page.keyboard.press("Tab")
    assert shadow_focus(page, "gos-waitlist") == "input[email]"
    page.keyboard.type("ada@example.com")
    page.keyboard.press("Enter")
    expect(waitlist).to_have_attribute("state", "joined")
    expect(page.get_by_text("You are number 1 of 1 on the waitlist.")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("You joined the waitlist.")
    assert shadow_focus(page, "gos-waitlist") == "p.position"
    code = page.evaluate("document.querySelector('gos-waitlist').signup.referral_code")
    link = page.get_by_label("Share your link")
    expect(link).to_have_value(f"https://example.com/beta?ref={code}")
    no_axe_violations(page)
    page.evaluate("document.querySelector('gos-waitlist').shadowRoot.activeElement.blur()")
    waitlist.screenshot(path=screenshot_path("gos-waitlist", tmp_path))

    # Another person comes with Ada's code in the page's address (?ref=): Bob is second, and
    # Ada's count shows when she comes back.
    bob = context.browser.new_context()  # type: ignore[union-attr]
    try:
        bob_page = bob.new_page()
        bob_page.goto(f"{url}?ref={code}")
        bob_page.get_by_label("Email address").fill("bob@example.com")
        bob_page.get_by_role("button", name="Join the waitlist").click()
        expect(bob_page.get_by_text("You are number 2 of 2 on the waitlist.")).to_be_visible()
    finally:
        bob.close()

    # Ada comes back: the signup id in localStorage shows her current place, no form.
    page.reload()
    expect(waitlist).to_have_attribute("state", "joined")
    expect(page.get_by_text("You are number 1 of 2 on the waitlist.")).to_be_visible()
    expect(page.get_by_text("1 friend has joined with your link.")).to_be_visible()
    expect(page.get_by_label("Email address")).to_be_hidden()


def test_waitlist_errors_are_shown_and_announced(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str]
) -> None:
    create_campaign(live_api, keys, "launch", "waitlist", {})
    page.goto(
        component_page(
            site, live_api, f'<gos-waitlist campaign="launch" write-key="{keys["public_key"]}">'
        )
    )
    expect(page.locator("gos-waitlist")).to_have_attribute("state", "ready")
    email = page.get_by_label("Email address")
    button = page.get_by_role("button", name="Join the waitlist")

    button.click()
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description("Enter your email address.")
    assert shadow_focus(page, "gos-waitlist") == "input[email]"

    # Browser-valid, refused by the server (no dot in the domain): the server's reason,
    # on the field.
    email.fill("ada@example")
    button.click()
    expect(email).to_have_accessible_description(re.compile("'ada@example' is not a valid email"))
    no_axe_violations(page)

    # The honeypot: off screen, out of the tab order, hidden from assistive technology.
    honeypot = page.locator("gos-waitlist input[name=website]")
    assert honeypot.get_attribute("tabindex") == "-1"
    assert honeypot.evaluate("e => e.closest('[aria-hidden=true]') !== null")
    box = honeypot.bounding_box()
    assert box is None or box["x"] < 0
    expect(page.get_by_role("textbox")).to_have_count(1)  # the email field only

    # The same email again (another browser, or storage cleared): the same place, said so.
    email.fill("cy@example.com")
    button.click()
    expect(page.get_by_role("status")).to_have_text("You joined the waitlist.")
    page.evaluate("localStorage.clear()")
    page.reload()
    page.get_by_label("Email address").fill("cy@example.com")
    page.get_by_role("button", name="Join the waitlist").click()
    expect(page.get_by_role("status")).to_have_text("You are already on the waitlist.")
    expect(page.get_by_text("You are number 1 of 1 on the waitlist.")).to_be_visible()

    # A campaign that does not exist: said in the live region.
    page.goto(
        component_page(
            site,
            live_api,
            f'<gos-waitlist campaign="nope" write-key="{keys["public_key"]}">',
            path="/missing.html",
        )
    )
    expect(page.locator("gos-waitlist")).to_have_attribute("state", "error")
    expect(page.get_by_role("status")).to_have_text("This campaign is not available.")


def test_referral_shows_the_code_link_rewards_and_leaderboard(
    context: BrowserContext,
    page: Page,
    site: Site,
    live_api: LiveServer,
    keys: dict[str, str],
    tmp_path: Path,
) -> None:
    create_campaign(
        live_api,
        keys,
        "friends",
        "referral",
        {
            "title": "Invite your team",
            "referral_url": "https://app.example/signup",
            "rewards": [
                {"name": "A month free", "threshold": 1},
                {"name": "Lifetime plan", "threshold": 5},
            ],
        },
    )
    public = {**auth(keys["public_key"]), "content-type": "application/json"}
    base = f"{live_api.url}/v1/campaigns/friends"
    # u-1 already brought one friend in.
    code = httpx.post(
        f"{base}/referrals/code", json={"user_id": "u-1", "display_name": "Ada"}, headers=public
    ).json()["code"]
    attributed = httpx.post(
        f"{base}/referrals/attribute", json={"code": code, "user_id": "u-2"}, headers=public
    )
    assert attributed.status_code == 200, attributed.text

    # The user comes from the SDK (growthos.identify), not from an attribute.
    sdk = (
        f"growthos.init({{writeKey: {json.dumps(keys['public_key'])}, "
        f"host: {json.dumps(live_api.url)}}}); growthos.identify('u-1');"
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page.goto(
        component_page(site, live_api, '<gos-referral campaign="friends" leaderboard="5">', sdk=sdk)
    )
    referral = page.locator("gos-referral")
    expect(referral).to_have_attribute("state", "ready")
    expect(page.locator("gos-referral .code")).to_have_text(code)
    link = page.get_by_label("Your referral link")
    expect(link).to_have_value(f"https://app.example/signup?ref={code}")
    expect(page.get_by_text("A month free (Earned)")).to_be_visible()
    expect(page.get_by_text("4 more friends to unlock Lifetime plan.")).to_be_visible()
    table = page.get_by_role("table", name="Top referrers, by referrals")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table.get_by_role("cell", name="Ada")).to_be_visible()

    # Copy with the keyboard: Tab from the link field to the button, Enter.
    link.focus()
    page.keyboard.press("Tab")
    assert shadow_focus(page, "gos-referral") == "button"
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Link copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == link.input_value()
    no_axe_violations(page)
    referral.screenshot(path=screenshot_path("gos-referral", tmp_path))


def test_survey_answers_by_keyboard_are_stored(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str], tmp_path: Path
) -> None:
    create_campaign(
        live_api,
        keys,
        "nps",
        "survey",
        {
            "title": "Quick question",
            "questions": [
                {
                    "id": "role",
                    "type": "single",
                    "prompt": "What is your role?",
                    "options": ["Engineer", "Designer", "Manager"],
                    "required": True,
                },
                {
                    "id": "uses",
                    "type": "multiple",
                    "prompt": "What do you use it for?",
                    "options": ["Analytics", "Experiments", "Surveys"],
                },
                {
                    "id": "nps",
                    "type": "rating",
                    "prompt": "How likely are you to recommend us?",
                    "min": 0,
                    "max": 10,
                    "required": True,
                },
                {"id": "why", "type": "text", "prompt": "What could be better?"},
            ],
        },
    )
    page.goto(
        component_page(
            site, live_api, f'<gos-survey campaign="nps" write-key="{keys["public_key"]}">'
        )
    )
    survey = page.locator("gos-survey")
    expect(survey).to_have_attribute("state", "ready")
    no_axe_violations(page)
    survey.screenshot(path=screenshot_path("gos-survey", tmp_path))

    # Sent unanswered: each required question says so, the first one gets the focus.
    page.get_by_role("button", name="Send answers").click()
    role = page.get_by_role("group", name="What is your role? (required)")
    expect(role).to_have_accessible_description("Please answer this question.")
    expect(role).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("status")).to_have_text("Some required questions are not answered yet.")
    assert shadow_focus(page, "gos-survey") == "input[role]"

    # The keyboard alone: arrows choose in a radio group, Space ticks a box, Tab moves on.
    page.keyboard.press("ArrowDown")  # Designer
    page.keyboard.press("Tab")  # the first box of "uses"
    page.keyboard.press("Space")  # Analytics
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # Surveys
    page.keyboard.press("Tab")  # the rating group: its first radio (0)
    for _ in range(9):
        page.keyboard.press("ArrowRight")  # 9
    page.keyboard.press("Tab")
    page.keyboard.type("More charts")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(survey).to_have_attribute("state", "done")
    expect(page.get_by_text("Thank you for your answers.")).to_be_focused()

    events = live_api.events(keys["project_id"])
    (response,) = events.filter(pl.col("event_type") == "survey_response").to_dicts()
    assert json.loads(response["event_properties"])["answers"] == {
        "role": "Designer",
        "uses": ["Analytics", "Surveys"],
        "nps": 9,
        "why": "More charts",
    }
    device = page.evaluate("localStorage.getItem('gos_device_id')")
    assert response["device_id"] == device

    # Asked once per person: on the next visit there is nothing to show.
    page.reload()
    expect(survey).to_have_attribute("state", "ineligible")
    expect(page.get_by_role("group")).to_have_count(0)


def test_social_proof_shows_recent_activity_and_rotates(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str], tmp_path: Path
) -> None:
    create_campaign(
        live_api,
        keys,
        "activity",
        "social_proof",
        {
            "event_types": ["signup", "purchase"],
            "labels": {"signup": "signed up", "purchase": "bought a plan"},
            "min_events": 1,
            "min_place_events": 1,
            "cache_seconds": 0,
        },
    )
    sent = httpx.post(
        f"{live_api.url}/v1/track",
        json={
            "events": [
                {"event_type": "signup", "device_id": "d1", "event_properties": {"city": "Berlin"}},
                {"event_type": "purchase", "device_id": "d2"},
            ]
        },
        headers={**auth(keys["public_key"]), "CF-IPCountry": "DE"},
    )
    assert sent.json()["accepted"] == 2
    live_api.app.state.ingestor.flush_now()

    page.goto(
        component_page(
            site,
            live_api,
            f'<gos-social-proof campaign="activity" interval="2" write-key="{keys["public_key"]}">',
        )
    )
    proof = page.locator("gos-social-proof")
    expect(proof).to_have_attribute("state", "ready")
    item = page.locator("gos-social-proof .item")
    texts = {"Someone in Berlin signed up just now", "Someone in Germany bought a plan just now"}
    first = item.inner_text().strip()
    assert first in texts
    expect(item).to_have_attribute("aria-live", "off")  # not announced while it rotates
    no_axe_violations(page)
    proof.screenshot(path=screenshot_path("gos-social-proof", tmp_path))

    # It rotates to the other item...
    expect(item).to_have_text((texts - {first}).pop(), timeout=6000)
    # ...until paused with the keyboard; paused, changes may be announced.
    pause = page.get_by_role("button", name="Pause")
    pause.focus()
    page.keyboard.press("Enter")
    expect(pause).to_have_attribute("aria-pressed", "true")
    expect(item).to_have_attribute("aria-live", "polite")
    shown = item.inner_text()
    page.evaluate("document.querySelector('gos-social-proof').next()")
    assert item.inner_text() == shown


@pytest.mark.parametrize(
    ("style", "expected"),
    [("--gos-accent: rgb(220, 38, 38); --gos-radius: 0px", ("rgb(220, 38, 38)", "0px"))],
)
def test_css_custom_properties_restyle_the_components(
    page: Page,
    site: Site,
    live_api: LiveServer,
    keys: dict[str, str],
    style: str,
    expected: tuple[str, str],
) -> None:
    create_campaign(live_api, keys, "launch", "waitlist", {})
    page.goto(
        component_page(
            site,
            live_api,
            f'<gos-waitlist style="{style}" campaign="launch" write-key="{keys["public_key"]}">',
        )
    )
    button = page.get_by_role("button", name="Join the waitlist")
    expect(button).to_have_css("background-color", expected[0])
    expect(page.locator("gos-waitlist .card")).to_have_css("border-radius", expected[1])
