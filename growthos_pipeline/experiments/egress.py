"""Where the server may send a request of its own (webhooks): a guard against SSRF.

A URL is refused unless it is ``http`` or ``https`` with a host, and every address its host
resolves to is a public unicast address: loopback, private, link-local, shared (CGNAT),
multicast, unspecified, reserved, documentation and cloud metadata addresses are refused
(``400 webhook_url_forbidden``), unless ``allow_private`` (development and tests) lets all but
the metadata addresses through. The check runs at registration and again before every
delivery, and :func:`pin` sends the request to the address just checked (the name stays in
the ``Host`` header and the TLS server name), so a name that resolves elsewhere later (DNS
rebinding) cannot redirect a delivery.

Examples
--------
>>> check_url("http://127.0.0.1:8080/hook", allow_private=True)
'127.0.0.1'
>>> pin("https://hooks.example.com:8443/in?x=1", "93.184.215.14")
('https://93.184.215.14:8443/in?x=1', 'hooks.example.com:8443', 'hooks.example.com')
>>> try:
...     check_url("http://169.254.169.254/latest/meta-data", allow_private=True)
... except BadRequest as err:
...     err.code
'webhook_url_forbidden'
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from growthos_pipeline.errors import BadRequest

MAX_URL_LENGTH = 2000

#: Cloud instance metadata services: refused even when private addresses are allowed.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _kind(address: IPAddress) -> str | None:
    """Why ``address`` is refused as a destination, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        return "a cloud metadata address"
    for kind, flag in (
        ("a loopback address", address.is_loopback),
        ("an unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
    ):
        if flag:
            return kind
    if not address.is_global:
        return "a non-public address"
    return None


def _parse_host(url: str) -> tuple[str, int]:
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest(
            "invalid_webhook_url", f"the URL is longer than {MAX_URL_LENGTH} characters"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise BadRequest("invalid_webhook_url", f"not a valid URL: {err}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(
            "invalid_webhook_url",
            f"expected an http or https URL with a host, found '{url[:100]}'",
        )
    if parts.username is not None or parts.password is not None:
        raise BadRequest("invalid_webhook_url", "credentials in the URL are not accepted")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]").split("%", 1)[0])]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise BadRequest(
            "webhook_url_unresolvable", f"the host '{host[:100]}' does not resolve: {err}"
        ) from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url(url: str, *, allow_private: bool) -> str:
    """The first address of ``url``'s host, once every address it resolves to is allowed;
    ``400 invalid_webhook_url``, ``webhook_url_unresolvable`` or ``webhook_url_forbidden``."""
    host, port = _parse_host(url)
    addresses = resolve(host, port)
    if not addresses:
        raise BadRequest("webhook_url_unresolvable", f"the host '{host[:100]}' has no address")
    literal = len(addresses) == 1 and str(addresses[0]) == host.strip("[]")
    for address in addresses:
        kind = _kind(address)
        if kind is None or (allow_private and kind != "a cloud metadata address"):
            continue
        # A name's internal address is not echoed: the answer must not map a private network.
        where = f"is {kind}" if literal else f"resolves to {kind}"
        raise BadRequest(
            "webhook_url_forbidden",
            f"the host '{host[:100]}' {where}; webhooks go to public addresses only "
            "(GROWTHOS_WEBHOOKS_ALLOW_PRIVATE=true allows private ones in development)",
            details=[{"field": "url", "reason": kind.split(" ", 1)[1]}],
        )
    return str(addresses[0])


def pin(url: str, address: str) -> tuple[str, str | None, str | None]:
    """``url`` aimed at ``address`` (an address :func:`check_url` allowed for its host), the
    ``Host`` header and the TLS server name that keep the original name; for a URL whose host
    is already an IP literal, ``url`` itself and two Nones."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return url, None, None
    netloc = f"[{address}]" if ":" in address else address
    if parts.port is not None:
        netloc += f":{parts.port}"
    sni = host if parts.scheme == "https" else None
    return urlunsplit(parts._replace(netloc=netloc)), parts.netloc, sni
