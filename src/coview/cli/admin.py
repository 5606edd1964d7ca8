"""``coview migrate`` and ``coview admin ...``: work on the database directly."""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from coview.domain.agents import (
    DEFAULT_PRIVILEGES,
    Role,
    parse_privileges,
    validate_display_text,
    validate_password,
    validate_username,
)
from coview.domain.audit import AuditAction, AuditEntry
from coview.domain.groups import validate_group_id, validate_group_name
from coview.domain.keys import validate_key
from coview.domain.passwords import hash_password
from coview.domain.tokens import MAX_VISITOR_TOKEN_TTL, mint_visitor_token
from coview.errors import InvalidInput
from coview.server.config import load_config
from coview.storage.database import Database
from coview.storage.key_file import load_keyring
from coview.storage.rows import describe_url


def _database(args: argparse.Namespace) -> Database:
    """The database that the options and environment name (its folder made if SQLite),
    with the keys of its secrets: ``COVIEW_SECRET_KEY`` (and ``COVIEW_SECRET_KEY_OLD``) as
    the server has them, else the key file in the data directory."""
    config = load_config({"data_dir": args.data_dir, "database_url": args.database_url})
    if not config.database_url:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    keys = load_keyring(secret_key=config.secret_key, old_secret_key=config.old_secret_key,
                        data_dir=config.data_dir)
    return Database(config.effective_database_url, keys=keys)


@asynccontextmanager
async def open_database(args: argparse.Namespace) -> AsyncIterator[Database]:
    """The database that the options and environment name, migrated to the newest schema."""
    database = _database(args)
    try:
        await database.migrate()
        yield database
    finally:
        await database.close()


async def migrate(args: argparse.Namespace) -> int:
    database = _database(args)
    try:
        before, after = await database.migrate()
    finally:
        await database.close()
    where = describe_url(database.url)
    if before == after:
        print(f"{where}: schema is up to date (revision {after})")
    else:
        print(f"{where}: schema upgraded from {before or 'empty'} to revision {after}")
    return 0


async def create_group(args: argparse.Namespace) -> int:
    group_id = validate_group_id(args.group_id)
    name = validate_group_name(args.name)
    async with open_database(args) as database:
        credentials = await database.create_group(group_id, name)
        await database.audit(AuditEntry(group_id, AuditAction.GROUP_CREATED, "cli", "local",
                                        {"name": name}))
    if args.json:
        print(json.dumps({"group_id": group_id, "name": name, "api_key": credentials.api_key,
                          "visitor_token_secret": credentials.visitor_token_secret}))
    else:
        print(f"group {group_id} ({name}) created; these are shown only once:")
        print(f"  API key:              {credentials.api_key}")
        print(f"  visitor-token secret: {credentials.visitor_token_secret}")
    return 0


async def create_agent(args: argparse.Namespace) -> int:
    group_id = validate_group_id(args.group_id)
    username = validate_username(args.username)
    generated = args.password is None
    password = secrets.token_urlsafe(12) if generated else validate_password(args.password)
    names = [p for value in (args.privileges or []) for p in value.split(",") if p]
    privileges = parse_privileges(names) if args.privileges else DEFAULT_PRIVILEGES
    async with open_database(args) as database:
        agent = await database.create_agent(
            group_id, username, password_hash=hash_password(password),
            display_name=validate_display_text(args.display_name or username,
                                               field="display_name"),
            title=validate_display_text(args.title, field="title"),
            agent_role=validate_display_text(args.agent_role, field="agent_role"),
            role=Role(args.role), privileges=privileges,
        )
        await database.audit(AuditEntry(group_id, AuditAction.AGENT_CREATED, "cli", "local",
                                        {"username": username, "role": agent.role.value}))
    shown = {"group_id": group_id, "username": username, "role": agent.role.value,
             "agent_role": agent.agent_role, "privileges": sorted(agent.privileges)}
    if generated:
        shown["password"] = password
    if args.json:
        print(json.dumps(shown))
    else:
        print(f"agent {username} ({agent.role.value}) created in group {group_id}; "
              f"privileges: {', '.join(sorted(agent.privileges)) or 'none'}")
        if generated:
            print(f"  password (shown only once): {password}")
    return 0


async def visitor_token(args: argparse.Namespace) -> int:
    group_id = validate_group_id(args.group_id)
    validate_key(args.visitor_id, what="visitor_id")
    if not 1 <= args.ttl <= MAX_VISITOR_TOKEN_TTL:
        raise InvalidInput(f"--ttl must be 1 to {MAX_VISITOR_TOKEN_TTL} seconds")
    async with open_database(args) as database:
        group = await database.require_group(group_id)
    print(mint_visitor_token(group.visitor_token_secret, group_id, args.visitor_id,
                             now=int(time.time()), ttl=args.ttl))
    return 0
