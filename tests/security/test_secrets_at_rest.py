"""Secrets at rest end to end (SQLite and PostgreSQL): visitor-token, webhook and agent-token
signing secrets are stored sealed with the server's secret key (or the data directory's key
file), older plaintext is sealed at start, and the key rotates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import stat
import time
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from coview.domain.tokens import mint_visitor_token
from coview.ids import GroupId
from coview.storage.sealing import SealingKey
from tests.conftest import SECRET_KEY, Server, free_port, run_async, run_coview, start_server
from tests.helpers import DEMO_GROUP, bearer, login
from tests.storage_support import at_revision

pytestmark = pytest.mark.e2e

KEY_A = "rotation-key-a-" + "a" * 32
KEY_B = "rotation-key-b-" + "b" * 32
KEY_WRONG = "rotation-key-c-" + "c" * 32
NO_KEY = {"COVIEW_SECRET_KEY": ""}  # an empty variable counts as unset


# -- reading the database as an attacker with a copy of it would -------------------------------

def data_dir(database_args: list[str]) -> Path:
    return Path(database_args[database_args.index("--data-dir") + 1])


def postgres_url(database_args: list[str]) -> str | None:
    if "--database-url" not in database_args:
        return None
    return database_args[database_args.index("--database-url") + 1]


def stored_values(database_args: list[str]) -> list[str]:
    """Every value of every column of every table, as text."""
    url = postgres_url(database_args)
    if url is None:
        connection = sqlite3.connect(data_dir(database_args) / "coview.db")
        try:
            tables = [r[0] for r in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            return [str(value) for table in tables
                    for row in connection.execute(f'SELECT * FROM "{table}"')  # noqa: S608
                    for value in row]
        finally:
            connection.close()

    async def read() -> list[str]:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://",
                                                       "postgresql://"))
        try:
            tables = [r["tablename"] for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            return [str(value) for table in tables
                    for row in await connection.fetch(f'SELECT * FROM "{table}"')  # noqa: S608
                    for value in row.values()]
        finally:
            await connection.close()

    return run_async(read())


def stored(database_args: list[str], query: str) -> str:
    """One value, by a query that names it."""
    url = postgres_url(database_args)
    if url is None:
        connection = sqlite3.connect(data_dir(database_args) / "coview.db")
        try:
            return str(connection.execute(query).fetchone()[0])
        finally:
            connection.close()

    async def read() -> str:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://",
                                                       "postgresql://"))
        try:
            return str(await connection.fetchval(query))
        finally:
            await connection.close()

    return run_async(read())


def group_secret_row(database_args: list[str], group_id: int) -> str:
    # An int, formatted: nothing to inject.
    query = f"SELECT visitor_token_secret FROM groups WHERE group_id = {int(group_id)}"  # noqa: S608
    return stored(database_args, query)


def assert_nowhere(database_args: list[str], *secrets: str) -> None:
    """None of ``secrets`` is in any column, nor (SQLite) anywhere in the database's files."""
    values = stored_values(database_args)
    assert values
    hits = [(s, v) for s in secrets for v in values if s in v]
    assert hits == []
    if postgres_url(database_args) is None:
        for path in data_dir(database_args).glob("coview.db*"):
            content = path.read_bytes()
            assert not [s for s in secrets if s.encode() in content], path


def signed_by(token: str, key: str) -> bool:
    """Whether the HS256 JWT ``token`` is signed with ``key``."""
    head, claims, signature = token.split(".")
    digest = hmac.new(key.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
                               signature)


def key_id(secret_key: str) -> str:
    return SealingKey.derive(secret_key, source="").key_id


# -- the command line and the server ------------------------------------------------------------

def create_group(database_args: list[str], group_id: int, env: dict[str, str]) -> dict[str, str]:
    made = run_coview("admin", "create-group", "--group-id", str(group_id), "--name", "Acme",
                      "--json", *database_args, env=env)
    assert made.returncode == 0, made.stderr
    group: dict[str, str] = json.loads(made.stdout)
    return group


def cli_visitor_token(database_args: list[str], group_id: int, env: dict[str, str]) -> str:
    minted = run_coview("admin", "visitor-token", "--group-id", str(group_id), "--visitor-id",
                        "cust-1", *database_args, env=env)
    assert minted.returncode == 0, minted.stderr
    return minted.stdout.strip()


def check_token(server: Server, group_id: int, token: str) -> int:
    """The server's answer to POST /visitor-tokens/check for ``token``."""
    with server.client() as client:
        return client.post("/api/v1/visitor-tokens/check", json={
            "group_id": group_id, "token": token, "visitor_id": "cust-1"}).status_code


def hand_minted(secret: str, group_id: int) -> str:
    return mint_visitor_token(secret, GroupId(group_id), "cust-1", now=int(time.time()),
                              ttl=600)


# -- the tests -----------------------------------------------------------------------------------

def test_stored_secrets_are_sealed(tmp_path: Path, database_args: list[str]) -> None:
    """A group's visitor-token secret, webhook secret and API key appear in no column of any
    table (nor in SQLite's files), and the CLI's visitor tokens are accepted by the server."""
    env = {"COVIEW_SECRET_KEY": SECRET_KEY}
    server = start_server(tmp_path, database_args)
    try:
        group = create_group(database_args, 777, env)
        token = cli_visitor_token(database_args, 777, env)
        assert check_token(server, 777, token) == 200
        assert check_token(server, 777, hand_minted(group["visitor_token_secret"],
                                                           777)) == 200
        with server.client() as client:
            webhook = client.get("/api/v1/webhooks/secret",
                                 headers=bearer(group["api_key"])).json()["secret"]
        assert group_secret_row(database_args, 777).startswith(f"enc:v1:{key_id(SECRET_KEY)}:")
        assert_nowhere(database_args, group["visitor_token_secret"], webhook,
                       group["api_key"], SECRET_KEY)
    finally:
        assert server.stop() == 0
    assert_nowhere(database_args, group["visitor_token_secret"], webhook, group["api_key"])


def test_without_a_secret_key_the_data_directory_holds_the_key(
        tmp_path: Path, database_args: list[str]) -> None:
    """Without COVIEW_SECRET_KEY, server and CLI seal with secret.key (mode 0600) in the data
    directory, and the stored agent-token signing key signs no token in plaintext."""
    server = start_server(tmp_path, database_args, env=NO_KEY)
    try:
        key_file = data_dir(database_args) / "secret.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        group = create_group(database_args, 778, NO_KEY)
        token = cli_visitor_token(database_args, 778, NO_KEY)
        assert check_token(server, 778, token) == 200
        with server.client() as client:
            agent_token = login(client, server.demo_password)
            assert client.get("/api/v1/me", headers=bearer(agent_token)).status_code == 200
    finally:
        assert server.stop() == 0
    file_key = key_file.read_text().strip()
    signing = stored(database_args,
                     "SELECT value FROM server_secrets WHERE name = 'agent_token_signing'")
    assert signing.startswith(f"enc:v1:{key_id(file_key)}:")
    assert not [v for v in stored_values(database_args) if signed_by(agent_token, v)]
    assert_nowhere(database_args, group["visitor_token_secret"], file_key)


def test_plaintext_from_an_older_version_is_sealed_at_start(
        tmp_path: Path, database_args: list[str]) -> None:
    """A database written in plaintext by an older version is sealed at the next start, and
    its visitor-token secret and agent-token signing key go on working."""
    old_secret = "old-visitor-token-secret-" + "v" * 20
    old_signing = "old-agent-token-signing-key-" + "s" * 36

    def write_old_rows(connection: Connection) -> None:
        connection.execute(sa.text(
            "INSERT INTO groups (group_id, name, api_key_hash, visitor_token_secret, "
            "created_at) VALUES (900, 'Old', 'x', :secret, CURRENT_TIMESTAMP)"),
            {"secret": old_secret})
        connection.execute(sa.text(
            "INSERT INTO server_secrets (name, value) VALUES ('agent_token_signing', :key)"),
            {"key": old_signing})

    async def prepare() -> None:
        url = postgres_url(database_args)
        if url is None:
            data_dir(database_args).mkdir(parents=True)
            url = f"sqlite+aiosqlite:///{data_dir(database_args) / 'coview.db'}"
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(at_revision("0003", write_old_rows))
        finally:
            await engine.dispose()

    run_async(prepare())
    assert old_secret in stored_values(database_args)
    server = start_server(tmp_path, database_args, env=NO_KEY)
    try:
        assert check_token(server, 900, hand_minted(old_secret, 900)) == 200
        with server.client() as client:
            agent_token = login(client, server.demo_password)
        assert signed_by(agent_token, old_signing)  # nobody was signed out by the upgrade
    finally:
        assert server.stop() == 0
    values = stored_values(database_args)
    assert [v for v in values if old_secret in v or old_signing in v] == []
    file_key = (data_dir(database_args) / "secret.key").read_text().strip()
    assert group_secret_row(database_args, 900).startswith(f"enc:v1:{key_id(file_key)}:")


def test_the_secret_key_rotates(tmp_path: Path, database_args: list[str]) -> None:
    """Sealed under key A, secrets open and are resealed under B when B starts with A as the
    old key, then open with B alone; a wrong key stops serve and the CLI with one line."""
    group = create_group(database_args, 779, {"COVIEW_SECRET_KEY": KEY_A})
    secret = group["visitor_token_secret"]
    assert group_secret_row(database_args, 779).startswith(f"enc:v1:{key_id(KEY_A)}:")
    for env, sealed_with in [
        ({"COVIEW_SECRET_KEY": KEY_A}, KEY_A),
        ({"COVIEW_SECRET_KEY": KEY_B, "COVIEW_SECRET_KEY_OLD": KEY_A}, KEY_B),
        ({"COVIEW_SECRET_KEY": KEY_B}, KEY_B),
    ]:
        server = start_server(tmp_path, database_args, env=env)
        try:
            assert check_token(server, 779, hand_minted(secret, 779)) == 200
            assert check_token(server, 779, cli_visitor_token(
                database_args, 779, env)) == 200
            with server.client() as client:
                agent_token = login(client, server.demo_password)
            assert signed_by(agent_token, env["COVIEW_SECRET_KEY"])
        finally:
            assert server.stop() == 0
        for place in (group_secret_row(database_args, 779),
                      group_secret_row(database_args, DEMO_GROUP)):
            assert place.startswith(f"enc:v1:{key_id(sealed_with)}:")
        assert_nowhere(database_args, secret)

    wrong = {"COVIEW_SECRET_KEY": KEY_WRONG}
    for args in (["serve", "--port", str(free_port()), *database_args],
                 ["admin", "visitor-token", "--group-id", "779", "--visitor-id", "cust-1",
                  *database_args]):
        refused = run_coview(*args, env=wrong)
        assert refused.returncode == 2, (refused.stdout, refused.stderr)
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert lines[0].startswith("coview: error:")
        assert f"sealed with key {key_id(KEY_B)}" in lines[0]
        assert "COVIEW_SECRET_KEY" in lines[0]
        assert "Traceback" not in refused.stderr
    assert group_secret_row(database_args, 779).startswith(f"enc:v1:{key_id(KEY_B)}:")
