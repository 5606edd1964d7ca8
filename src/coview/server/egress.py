"""Where the server may send requests that an admin chose (webhooks): the rule and its guard.

A group admin picks the webhook URLs, and the server posts to them from inside the operator's
network. Without a rule an admin could make it post to the server's own loopback services, the
private network or a cloud metadata endpoint (issue 14, hole 3). The rule:

- the URL is ``https://`` with a host and no user name or password;
- every address the host resolves to is public: none is loopback, private, link-local (where
  cloud metadata lives, 169.254.169.254), carrier-grade NAT, unspecified, multicast, reserved or
  for documentation, nor an IPv6 form of one of those (:func:`refusal`).

It is checked when an admin saves settings (:func:`check_webhook_targets`) and again at each
connection the server opens (``egress_transport.EgressTransport``), since a name may resolve
elsewhere by then. ``ServerConfig.allow_private_webhooks`` (``--allow-private-webhooks``)
lifts the rule, for tests and private networks: ``http://`` and every address are then
allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

from coview.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

RESOLVE_TIMEOUT = 5.0  # seconds a save waits for a name to resolve

_IPV4_REFUSED = tuple((ipaddress.IPv4Network(network), why) for network, why in (
    ("0.0.0.0/8", "an unspecified ('this network') address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),  # also Alibaba's metadata, 100.100.100.200
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address (cloud metadata)"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),  # with the broadcast address 255.255.255.255
))
_IPV6_REFUSED = tuple((ipaddress.IPv6Network(network), why) for network, why in (
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("64:ff9b:1::/48", "a local NAT64 address"),
    ("100::/64", "a discard address"),
    ("2001::/23", "an IETF protocol address (Teredo, benchmarking)"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("fc00::/7", "a unique local (private) address"),  # AWS's metadata fd00:ec2::254 too
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
))
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def refusal(address: IPAddress) -> str | None:
    """Why webhooks may not go to ``address`` (e.g. "a loopback address"), or None if they may.

    IPv6 addresses that carry an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d``, 6to4 ``2002:aabb:ccdd::``) are judged by that IPv4 address; any
    other IPv6 address must be global unicast (2000::/3).
    """
    if isinstance(address, ipaddress.IPv4Address):
        return next((why for network, why in _IPV4_REFUSED if address in network), None)
    address = ipaddress.IPv6Address(int(address))  # without a scope ("%eth0")
    why = next((why for network, why in _IPV6_REFUSED if address in network), None)
    if why is not None:
        return why
    inner = address.ipv4_mapped
    if inner is None:
        inner = address.sixtofour
    if inner is None and address in _NAT64:
        inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if inner is not None:
        inner_why = refusal(inner)
        return None if inner_why is None else f"an IPv6 form of {inner_why}"
    if address not in _IPV6_GLOBAL_UNICAST:
        return "not a global unicast address"
    return None


def url_refusal(url: str, *, allow_private: bool) -> str | None:
    """What is wrong with ``url`` as a webhook target before any lookup, or None.

    https only (http too when private webhooks are allowed), a host, no user name or password,
    a valid port, and a host written as an IP address must pass :func:`refusal`.
    """
    parts = urlsplit(url)
    if parts.scheme not in (("http", "https") if allow_private else ("https",)):
        return "webhooks go to https:// URLs only"
    if parts.username is not None or parts.password is not None:
        return "a webhook URL may not hold a user name or password"
    if not parts.hostname:
        return "a webhook URL needs a host"
    try:
        _ = parts.port
    except ValueError:
        return "a webhook URL's port must be a number from 0 to 65535"
    if allow_private:
        return None
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    why = refusal(literal)
    return None if why is None else f"{literal} is {why}"


async def resolve_allowed(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """The addresses ``host`` resolves to, in the resolver's order, if the rule allows them all.

    Raises InvalidInput (field ``url``) if any one is refused, so that no answer of a resolver
    that mixes public and internal addresses gets through; OSError (``socket.gaierror``) if the
    name does not resolve.
    """
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
    if not allow_private:
        for address in addresses:
            why = refusal(address)
            if why is not None:
                said = (f"{host} is {why}" if host == str(address)
                        else f"{host} resolves to {address}, {why}")
                raise InvalidInput(f"webhook target refused: {said}", fields={"url": said})
    return addresses


async def target_refusal(url: str, *, allow_private: bool) -> str | None:
    """What is wrong with ``url`` as a webhook target now (:func:`url_refusal`, then every
    address its host resolves to), or None.

    A name that does not resolve (yet) passes: it cannot reach anything, and it is checked again
    at each connection.
    """
    why = url_refusal(url, allow_private=allow_private)
    if why is not None or allow_private:
        return why
    parts = urlsplit(url)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            await resolve_allowed(parts.hostname or "", parts.port or 443,  # https only here
                                  allow_private=False)
    except InvalidInput as exc:
        return exc.fields["url"]
    except (OSError, TimeoutError, UnicodeError):
        return None
    return None


async def check_webhook_targets(urls: Mapping[str, str], *, allow_private: bool) -> None:
    """Raise InvalidInput naming each field (``{field: url}``) whose URL :func:`target_refusal`
    refuses; the lookups run at once."""
    fields = list(urls)
    answers = await asyncio.gather(*(target_refusal(urls[field], allow_private=allow_private)
                                      for field in fields))
    refused = {field: why for field, why in zip(fields, answers, strict=True) if why is not None}
    if refused:
        summary = "; ".join(f"{field}: {why}" for field, why in refused.items())
        raise InvalidInput(f"webhook target refused: {summary}", fields=refused)
