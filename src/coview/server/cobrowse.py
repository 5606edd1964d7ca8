"""What cobrowse needs from the server besides the session socket.

- ``GET /api/v1/cobrowse/{group_id}/config``: the group's public cobrowse settings (masking
  rules, trusted origins, features). ``visitor.js`` reads it on every page before it records
  anything. Browsers get it only on the server's own pages and the group's trusted origins.
- ``GET /viewer/cobrowse?group_id=N``: the page in which the agent console replays a visitor's
  page. Its Content-Security-Policy runs only Coview's own script and loads styles, images,
  fonts and media only from the group's trusted origins; the replay frame inside it inherits
  the policy and is sandboxed without scripts besides.
- ``GET /viewer/child?group_id=N``: the page that shows an agent's video or screen (a child
  session) inside the visitor's page. Only the group's trusted origins may frame it; it runs
  only Coview's own script and connects only to this server.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from coview.domain.records import PRODUCTION
from coview.errors import NotFound, PermissionDenied
from coview.ids import GroupId
from coview.protocol.rules import GROUP_ID_MAX
from coview.server.services import Services

router = APIRouter(tags=["cobrowse"])
viewer_router = APIRouter(include_in_schema=False)

GroupIdPath = Annotated[int, Path(ge=1, le=GROUP_ID_MAX, description="the group ID")]


class CobrowseConfigOut(BaseModel):
    group_id: int
    trusted_origins: list[str]
    masking_selectors: list[str]
    mask_all_inputs: bool
    remote_control: bool
    gestures: bool
    agent_video: bool
    showback: bool
    reconnect_window: int


async def _settings(request: Request, group_id: int) -> CobrowseConfigOut:
    # Read at each session start and page of a session (not at every page view): a publish
    # must reach the next page at once, as it reaches the next session start.
    svc: Services = request.app.state.services
    if await svc.database.get_group(GroupId(group_id)) is None:
        raise NotFound(f"there is no group {group_id}")
    s, _, _ = await svc.database.get_settings(GroupId(group_id), PRODUCTION)
    return CobrowseConfigOut(
        group_id=group_id, trusted_origins=s.trusted_origins,
        masking_selectors=s.masking_selectors, mask_all_inputs=s.mask_all_inputs,
        remote_control=s.remote_control_enabled, gestures=s.gestures_enabled,
        agent_video=s.agent_video_enabled, showback=s.showback_enabled,
        reconnect_window=s.reconnect_window_seconds,
    )


@router.get("/cobrowse/{group_id}/config", summary="Read a group's public cobrowse settings")
async def get_config(group_id: GroupIdPath, request: Request,
                     response: Response) -> CobrowseConfigOut:
    """What the visitor library must know before it records a page: masking rules, trusted
    origins (for ``coview_invoke``) and features. No secret is in it; browsers may read it
    only from the server's own pages and the group's trusted origins."""
    config = await _settings(request, group_id)
    origin = request.headers.get("origin")
    response.headers["vary"] = "Origin"
    if origin is not None:
        svc: Services = request.app.state.services
        if not svc.origins.allows(origin, config.trusted_origins):
            raise PermissionDenied(f"{origin} is not a trusted origin of group {group_id}")
        response.headers["access-control-allow-origin"] = origin
    response.headers["cache-control"] = "no-store"
    return config


def _page(title: str, asset: str, body: str) -> str:
    """A page of ours: its stylesheet and script are ``/coview/<asset>.css`` and ``.js``."""
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="/coview/{asset}.css">
</head>
<body>
  {body}
  <script src="/coview/{asset}.js"></script>
</body>
</html>
"""


VIEWER_PAGE = _page("Coview page viewer", "viewer",
                    '<div id="stage" data-testid="viewer-stage"></div>')
CHILD_VIEWER_PAGE = _page(
    "Coview agent view", "childview",
    '<canvas id="picture" data-testid="child-picture" data-frames="0"></canvas>\n  '
    '<p id="status" data-testid="child-status" role="status">Connecting…</p>')
GroupIdQuery = Annotated[int, Query(ge=1, le=GROUP_ID_MAX)]


def viewer_csp(trusted_origins: list[str]) -> str:
    """The viewer's policy: our script only; page resources only from the allowed hosts."""
    hosts = "".join(f" {origin}" for origin in trusted_origins)
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src 'self' 'unsafe-inline'{hosts}; img-src 'self' data: blob:{hosts}; "
        f"font-src 'self' data:{hosts}; media-src 'self'{hosts}; "
        "connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'self'"
    )


def child_viewer_csp(trusted_origins: list[str]) -> str:
    """The child viewer's policy: our script and styles, pictures from blobs, sockets to this
    server only; framed by the server's own pages and the group's trusted origins."""
    hosts = "".join(f" {origin}" for origin in trusted_origins)
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        f"frame-ancestors 'self'{hosts}"
    )


@viewer_router.get("/viewer/cobrowse")
async def viewer_page(request: Request, group_id: GroupIdQuery) -> HTMLResponse:
    config = await _settings(request, group_id)
    return HTMLResponse(VIEWER_PAGE, headers={
        "content-security-policy": viewer_csp(config.trusted_origins),
        "x-frame-options": "SAMEORIGIN", "cache-control": "no-store",
    })


@viewer_router.get("/viewer/child")
async def child_viewer_page(request: Request, group_id: GroupIdQuery) -> HTMLResponse:
    config = await _settings(request, group_id)
    return HTMLResponse(CHILD_VIEWER_PAGE, headers={
        "content-security-policy": child_viewer_csp(config.trusted_origins),
        "cache-control": "no-store",
    })
