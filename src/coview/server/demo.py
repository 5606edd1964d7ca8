"""``coview serve --demo``: demo group 12345 with an admin ``demo`` whose password is printed."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from coview.domain.agents import DEFAULT_PRIVILEGES, Role
from coview.domain.passwords import hash_password
from coview.domain.store import Store
from coview.ids import GroupId

DEMO_GROUP_ID = GroupId(12345)
DEMO_USERNAME = "demo"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    group_id: GroupId
    username: str
    password: str
    api_key: str | None


async def ensure_demo(database: Store) -> DemoAccount:
    """Make sure the demo group and admin exist; give the admin a fresh password.

    The password is new at every start because only its hash is stored: the one printed is
    always the one that works. The API key is shown only when the group is created.
    """
    api_key = None
    if await database.get_group(DEMO_GROUP_ID) is None:
        api_key = (await database.create_group(DEMO_GROUP_ID, "Coview demo")).api_key
    password = secrets.token_urlsafe(12)
    found = await database.find_agent(DEMO_GROUP_ID, DEMO_USERNAME)
    if found is None:
        await database.create_agent(
            DEMO_GROUP_ID, DEMO_USERNAME, password_hash=hash_password(password),
            display_name="Demo Admin", title="Support Lead", role=Role.ADMIN,
            privileges=DEFAULT_PRIVILEGES,
        )
    else:
        await database.update_agent(found[0].agent_id, password_hash=hash_password(password),
                                    disabled=False)
    return DemoAccount(DEMO_GROUP_ID, DEMO_USERNAME, password, api_key)
