"""Masks by agent role fail closed: with agents of several roles watching one screen share,
nobody sees a pixel that a mask meant for them hides (issue 14, hole 11)."""

from __future__ import annotations

import numpy as np
import pytest
import simplejpeg

import coview
from tests.apps.board import BLOCK, GEOMETRY, SECRET
from tests.client.conftest import board, display, server, visitors  # noqa: F401 (fixtures)
from tests.conftest import Figure, Server
from tests.helpers import bearer, login
from tests.screen_support import (
    Board,
    TapProxy,
    color_distance,
    make_visitor,
    region,
    started,
)

pytestmark = pytest.mark.e2e

GREEN = np.array([0x00, 0xFF, 0x66])


def green_pixels(jpeg: bytes) -> int:
    pixels = simplejpeg.decode_jpeg(jpeg, colorspace="RGB").astype(int)
    return int((np.abs(pixels - GREEN).max(axis=2) < 40).sum())


def agent_of_role(running: Server, username: str, role: str) -> str:
    """A new agent of the demo group with that role title; its bearer token."""
    with running.client() as client:
        auth = bearer(login(client, running.demo_password))
        made = client.post("/api/v1/agents", headers=auth, json={
            "username": username, "password": "a-long-password-1", "agent_role": role})
        assert made.status_code == 201, made.text
        return login(client, "a-long-password-1", username=username)


def test_a_mask_for_a_role_hides_the_region_from_every_agent_while_one_of_it_watches(
        server: Server, board: Board, visitors: list[coview.Visitor],  # noqa: F811
        figure: Figure) -> None:
    """A mask for "Account Support": a Billing agent alone sees the region; from the moment an
    Account Support agent joins, every picture either agent gets has it black, and none of
    the tiles the Account Support agent ever received holds a pixel of it."""
    billing_token = agent_of_role(server, "billing-1", "Billing")
    support_token = agent_of_role(server, "support-1", "Account Support")
    visitor = make_visitor(visitors, server.base_url)
    gx, gy = GEOMETRY[:2]
    sx0, sy0, sx1, sy1 = SECRET
    visitor.add_mask((gx + sx0, gy + sy0, sx1 - sx0, sy1 - sy0), roles=["Account Support"])
    key = started(visitor, "roles-1")
    billing_tap, support_tap = TapProxy(server.base_url), TapProxy(server.base_url)
    billing = None
    try:
        billing = coview.Agent(billing_tap.url, token=billing_token).join(key)
        billing.wait_until(lambda s: region(np.asarray(s.screen()), SECRET).size > 0
                           and region(np.asarray(s.screen()), SECRET).max() > 200,
                           what="the region shown to an agent the mask is not for")
        support = coview.Agent(support_tap.url, token=support_token).join(key)
        support.wait_until(lambda s: s.tiles_applied > 0
                           and region(np.asarray(s.screen()), SECRET).max() < 30,
                           what="the region black for the agent the mask is for")
        billing.wait_until(lambda s: region(np.asarray(s.screen()), SECRET).max() < 30,
                           what="the region black for every agent meanwhile")
        board.command("color #223344")  # more pictures while both watch
        support.wait_until(lambda s: color_distance(region(np.asarray(s.screen()), BLOCK),
                                                    (0x22, 0x33, 0x44)) < 8,
                           what="the change in the picture")
        support.end()
        billing.wait_until(lambda s: s.ended_reason is not None, what="the end, told to Billing")
    finally:
        if billing is not None:
            billing.close()
        billing_tap.close()
        support_tap.close()
    tiles = [f for f in support_tap.frames_received() if f.type == "tile"]
    leaking = [t for t in tiles if green_pixels(t.payload) > 0]
    figure("tiles holding pixels a role mask hides, received by an agent of that role",
           f"{len(leaking)} of {len(tiles)}", "0")
    assert tiles
    assert leaking == []
