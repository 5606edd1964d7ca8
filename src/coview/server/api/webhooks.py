"""The group's webhook signing secret (the URLs are in the group's settings)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from coview.server.auth import AdminOrKeyCaller, ServicesDep
from coview.server.webhooks import webhook_secret

router = APIRouter(tags=["webhooks"])


class WebhookSecretOut(BaseModel):
    secret: str


@router.get("/webhooks/secret", summary="Read the webhook signing secret")
async def get_secret(caller: AdminOrKeyCaller, svc: ServicesDep) -> WebhookSecretOut:
    """The key of the HMAC-SHA256 in each webhook's ``Coview-Signature`` header."""
    group = await svc.database.require_group(caller.group_id)
    return WebhookSecretOut(secret=webhook_secret(group))
