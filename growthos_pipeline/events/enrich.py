"""Derived columns: user agent -> ``_browser``, ``_os``, ``_device_type``; page URL ->
``_url``, ``_path``, ``_referrer``; a country header -> ``_country``.

User agents are parsed by ``ua-parser`` (with its Rust accelerator when installed) and cached,
since a batch usually repeats one user agent many times.

Examples
--------
>>> ua = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
...       "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
>>> user_agent(ua)
('Mobile Safari', 'iOS', 'mobile')
>>> user_agent("Googlebot/2.1 (+http://www.google.com/bot.html)")[2]
'bot'
>>> page("https://shop.example.com/blog/post?x=1#top", None)
('https://shop.example.com/blog/post?x=1#top', '/blog/post', '')
>>> country("de"), country("XX"), country(None)
('DE', None, None)
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from ua_parser import parse

_TABLET_DEVICES = ("ipad", "tablet", "kindle", "nexus 7", "nexus 9", "nexus 10", "galaxy tab")
_BOT_WORDS = ("bot", "spider", "crawler", "crawl", "slurp", "headless")
_MOBILE_OS = {"ios", "android", "windows phone", "blackberry os", "kaios", "firefox os"}
_NOT_A_COUNTRY = {"XX", "T1", "A1", "A2", "O1", "EU", "AP"}


@functools.lru_cache(maxsize=20_000)
def user_agent(ua: str) -> tuple[str | None, str | None, str | None]:
    """``(browser, os, device type)`` for a user agent; device type is one of
    desktop, mobile, tablet, bot, or None when unknown."""
    if not ua:
        return None, None, None
    result = parse(ua[:1024])
    browser = result.user_agent.family if result.user_agent else None
    os_name = result.os.family if result.os else None
    device = (result.device.family if result.device else "") or ""
    lowered = ua.lower()
    if device == "Spider" or any(word in lowered for word in _BOT_WORDS):
        kind: str | None = "bot"
    elif any(word in device.lower() for word in _TABLET_DEVICES) or (
        "android" in lowered and "mobile" not in lowered
    ):
        kind = "tablet"
    elif (os_name or "").lower() in _MOBILE_OS or "mobile" in lowered:
        kind = "mobile"
    elif os_name and os_name != "Other":
        kind = "desktop"
    else:
        kind = None
    if browser == "Other":
        browser = None
    if os_name == "Other":
        os_name = None
    return browser, os_name, kind


def page(url: str | None, referrer: str | None) -> tuple[str | None, str | None, str | None]:
    """``(url, path, referrer)``. For a page (an event with a URL) a missing referrer is ``""``
    (a direct visit); without a URL all three are None unless a referrer was sent."""
    if not url:
        return None, None, referrer or None
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        path = None
    return url, path, referrer or ""


def country(value: str | None) -> str | None:
    """An ISO 3166 alpha-2 code from a header such as ``CF-IPCountry``, else None."""
    if not value:
        return None
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha() or code in _NOT_A_COUNTRY:
        return None
    return code
