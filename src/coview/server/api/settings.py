"""Group settings: admins edit staging and publish it to production."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from coview.domain.audit import AuditAction
from coview.domain.records import PRODUCTION, STAGING, Stage
from coview.domain.settings import GroupSettings, merge_settings
from coview.ids import GroupId
from coview.server.api.models import PublishOut, SettingsOut, link
from coview.server.auth import AdminCaller, ServicesDep, client_address
from coview.server.egress import check_webhook_targets
from coview.server.services import Services

router = APIRouter(tags=["settings"])

# The operationIds FastAPI gives the routes below (name, path, method), which links name.
PUT_STAGING = "put_staging_api_v1_settings_put"
PATCH_STAGING = "patch_staging_api_v1_settings_patch"
PUBLISH = "publish_api_v1_settings_publish_post"
GET_PRODUCTION = "get_production_api_v1_settings_production_get"
_STAGE_LINK: dict[int | str, dict[str, Any]] = {200: {"links": {
    "Replace": link(PUT_STAGING, "Stage the settings read (changed, if you will)",
                    request_body="$response.body#/settings"),
    "Change": link(PATCH_STAGING, "Stage some of the settings read",
                   request_body="$response.body#/settings"),
}}}
_PUBLISH_LINK: dict[int | str, dict[str, Any]] = {
    200: {"links": {"Publish": link(PUBLISH, "Publish the staged settings to production")}},
}
_READ_PRODUCTION_LINK: dict[int | str, dict[str, Any]] = {
    200: {"links": {"ReadProduction": link(GET_PRODUCTION, "Read the settings that now run")}},
}


async def _read(svc: Services, group_id: GroupId, stage: Stage) -> SettingsOut:
    settings, updated_at, updated_by = await svc.database.get_settings(group_id, stage)
    return SettingsOut(stage=stage, settings=settings, updated_at=updated_at,
                       updated_by=updated_by)


@router.get("/settings", summary="Read the staging settings", responses=_STAGE_LINK)
async def get_staging(caller: AdminCaller, svc: ServicesDep) -> SettingsOut:
    """The settings being edited; they run only once published."""
    return await _read(svc, caller.group_id, STAGING)


@router.get("/settings/production", summary="Read the production settings")
async def get_production(caller: AdminCaller, svc: ServicesDep) -> SettingsOut:
    """The settings that sessions of the group run with."""
    return await _read(svc, caller.group_id, PRODUCTION)


async def _check_webhooks(svc: Services, settings: GroupSettings) -> None:
    """Refuse (422, naming ``webhooks.<i>.url``) a webhook the egress rule refuses."""
    await check_webhook_targets(
        {f"webhooks.{i}.url": hook.url for i, hook in enumerate(settings.webhooks)},
        allow_private=svc.config.allow_private_webhooks)


async def _stage(svc: Services, caller: AdminCaller, request: Request,
                 settings: GroupSettings) -> SettingsOut:
    await _check_webhooks(svc, settings)
    current, _, _ = await svc.database.get_settings(caller.group_id, STAGING)
    await svc.database.put_staging(caller.group_id, settings, by=caller.actor)
    before, after = current.model_dump(mode="json"), settings.model_dump(mode="json")
    await svc.audit(caller.group_id, AuditAction.SETTINGS_STAGED, actor=caller.actor,
                    address=client_address(request),
                    changed=sorted(k for k in after if before.get(k) != after[k]))
    return await _read(svc, caller.group_id, STAGING)


@router.put("/settings", summary="Replace the staging settings", responses=_PUBLISH_LINK)
async def put_staging(settings: GroupSettings, caller: AdminCaller, svc: ServicesDep,
                      request: Request) -> SettingsOut:
    """Replace staging with the given document; fields left out take their defaults.

    Production does not change until ``POST /api/v1/settings/publish``.
    """
    return await _stage(svc, caller, request, settings)


@router.patch("/settings", summary="Change some staging settings", responses=_PUBLISH_LINK)
async def patch_staging(caller: AdminCaller, svc: ServicesDep, request: Request,
                        changes: Annotated[GroupSettings, Body(
                            description="The fields to change, with their new values (any "
                                        "fields of the settings document)")],
                        ) -> SettingsOut:
    """Change the given fields of staging and keep the others."""
    # Every field of the settings document has a default, so its schema is also the schema of
    # a partial document; the fields the body named are the ones to change.
    given = changes.model_dump(mode="json", include=changes.model_fields_set)
    current, _, _ = await svc.database.get_settings(caller.group_id, STAGING)
    return await _stage(svc, caller, request, merge_settings(current, given))


@router.post("/settings/publish", summary="Publish staging to production",
             responses=_READ_PRODUCTION_LINK)
async def publish(caller: AdminCaller, svc: ServicesDep, request: Request) -> PublishOut:
    """Copy the staging settings to production, where sessions use them."""
    # Staging may hold a webhook saved while the operator allowed private targets.
    staging, _, _ = await svc.database.get_settings(caller.group_id, STAGING)
    await _check_webhooks(svc, staging)
    _, changed = await svc.database.publish(caller.group_id, by=caller.actor)
    await svc.audit(caller.group_id, AuditAction.SETTINGS_PUBLISHED, actor=caller.actor,
                    address=client_address(request), changed=changed)
    current = await _read(svc, caller.group_id, PRODUCTION)
    return PublishOut(**current.model_dump(), changed=changed)
