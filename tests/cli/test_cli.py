"""The command line end to end: admin commands on SQLite and PostgreSQL, mistakes, a server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from coview import __version__
from tests.conftest import run_coview, start_server
from tests.helpers import bearer, error_code, login

pytestmark = pytest.mark.e2e


def mint_like_a_customer_backend(secret: str, group_id: int, visitor_id: str,
                                 ttl: int, now: float | None = None) -> str:
    """The ten lines of docs/visitor-tokens.md, standard library only."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    issued = int(now if now is not None else time.time())
    claims = b64(json.dumps({"sub": visitor_id, "gid": group_id, "iat": issued,
                             "exp": issued + ttl}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256)
    return f"{header}.{claims}.{b64(signature.digest())}"


def test_version() -> None:
    """``coview --version`` prints the version."""
    result = run_coview("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"coview {__version__}"


def test_admin_commands_then_serve(tmp_path: Path, database_args: list[str]) -> None:
    """Groups, agents and visitor tokens made by the CLI work against a served database."""
    migrated = run_coview("migrate", *database_args)
    assert migrated.returncode == 0, migrated.stderr
    assert "schema upgraded from empty to revision" in migrated.stdout
    again = run_coview("migrate", *database_args)
    assert "up to date" in again.stdout

    made = run_coview("admin", "create-group", "--group-id", "777", "--name", "Acme Support",
                      "--json", *database_args)
    assert made.returncode == 0, made.stderr
    group = json.loads(made.stdout)
    assert group["api_key"].startswith("cvk_777_")
    human = run_coview("admin", "create-group", "--group-id", "778", "--name", "Other",
                       *database_args)
    assert "shown only once" in human.stdout
    assert "cvk_778_" in human.stdout

    admin = run_coview("admin", "create-agent", "--group-id", "777", "--username", "boss",
                       "--password", "boss-password", "--role", "admin", *database_args)
    assert admin.returncode == 0, admin.stderr
    agent = run_coview("admin", "create-agent", "--group-id", "777", "--username", "rep",
                       "--privileges", "view", "show", "--json", *database_args)
    rep = json.loads(agent.stdout)
    assert rep["privileges"] == ["show", "view"]
    assert len(rep["password"]) >= 12

    token = run_coview("admin", "visitor-token", "--group-id", "777", "--visitor-id",
                       "cust-1", "--ttl", "600", *database_args)
    assert token.returncode == 0, token.stderr

    server = start_server(tmp_path, database_args, demo=False)
    try:
        with server.client() as client:
            boss = bearer(login(client, "boss-password", username="boss", group_id=777))
            assert client.get("/api/v1/me", headers=boss).json()["agent"]["role"] == "admin"
            login(client, rep["password"], username="rep", group_id=777)
            assert client.get("/api/v1/me", headers=bearer(group["api_key"])).json()[
                "group_id"] == 777

            def check(tok: str) -> tuple[int, str]:
                response = client.post("/api/v1/visitor-tokens/check", json={
                    "group_id": 777, "token": tok, "visitor_id": "cust-1"})
                return response.status_code, (
                    "ok" if response.status_code == 200 else error_code(response))

            secret = group["visitor_token_secret"]
            assert check(token.stdout.strip()) == (200, "ok")
            assert check(mint_like_a_customer_backend(secret, 777, "cust-1", 600)) == (200, "ok")
            expired = mint_like_a_customer_backend(secret, 777, "cust-1", 60,
                                                   now=time.time() - 3600)
            assert check(expired) == (401, "token_expired")
            forged = mint_like_a_customer_backend(secret + "x", 777, "cust-1", 600)
            assert check(forged) == (401, "invalid_token")
            audit = client.get("/api/v1/audit", headers=boss).json()["entries"]
        assert {"group_created", "agent_created", "login"} <= {e["action"] for e in audit}
    finally:
        server.stop()


MISTAKES = [
    ([], "name a command"),
    (["serve", "--port", "notaport"], "invalid int value"),
    (["serve", "--port", "70000"], "out of range"),
    (["serve", "--database-url", "mysql://x"], "database URL must start with"),
    (["serve", "--redis-url", "http://x"], "Redis URL must start with"),
    (["serve", "--redis-url", "redis://127.0.0.1:6379/0"], "give a PostgreSQL database URL"),
    (["serve", "--redis-url", "redis://127.0.0.1:1/0", "--database-url",
      "postgresql+asyncpg://postgres@127.0.0.1/test"], "Redis is unreachable"),
    (["frobnicate"], "invalid choice"),
    (["admin", "create-group", "--group-id", "0", "--name", "x"], "group ID"),
    (["admin", "create-group", "--group-id", "5", "--name", " "], "group name"),
    (["admin", "create-group", "--name", "x"], "required"),
    (["admin", "create-agent", "--group-id", "404", "--username", "a"], "no group 404"),
    (["admin", "create-agent", "--group-id", "1", "--username", "bad name!"], "username"),
    (["admin", "create-agent", "--group-id", "1", "--username", "a", "--password", "short"],
     "password"),
    (["admin", "create-agent", "--group-id", "1", "--username", "a", "--privileges", "fly"],
     "unknown privilege"),
    (["admin", "create-agent", "--group-id", "1", "--username", "a", "--role", "god"],
     "invalid choice"),
    (["admin", "visitor-token", "--group-id", "404", "--visitor-id", "v"], "no group 404"),
    (["admin", "visitor-token", "--group-id", "1", "--visitor-id", "bad id"], "visitor_id"),
    (["admin", "visitor-token", "--group-id", "1", "--visitor-id", "v", "--ttl", "0"], "ttl"),
    (["share", "--group-id", "12345", "--key", "not a key"], "--key"),
    (["share", "--group-id", "12345", "--server", "ftp://x"], "--server"),
    (["share"], "required"),
]


@pytest.mark.parametrize(("args", "reason"), MISTAKES)
def test_mistakes_exit_2_with_one_line(tmp_path: Path, args: list[str], reason: str) -> None:
    """Each mistake exits 2 with a one-line reason and no traceback."""
    data = ["--data-dir", str(tmp_path / "data")]
    if args[:1] == ["admin"] and args[2:4] == ["--group-id", "1"]:
        made = run_coview("admin", "create-group", "--group-id", "1", "--name", "one", *data)
        assert made.returncode == 0, made.stderr
    full = [*args, *data] if args and args[0] in ("admin",) and len(args) > 1 else args
    result = run_coview(*full, env={"COVIEW_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("coview: error:")
    assert reason in lines[0]
    assert "Traceback" not in result.stderr


def test_duplicate_group_is_a_mistake(tmp_path: Path) -> None:
    """Creating a group ID twice exits 2 and keeps the first group's secrets."""
    data = ["--data-dir", str(tmp_path / "data")]
    first = run_coview("admin", "create-group", "--group-id", "9", "--name", "a", "--json", *data)
    second = run_coview("admin", "create-group", "--group-id", "9", "--name", "b", *data)
    assert first.returncode == 0
    assert second.returncode == 2
    assert "already exists" in second.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    """A database that cannot be reached exits 1 with one line, not a traceback."""
    result = run_coview("migrate", "--database-url",
                        "postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "database is unavailable" in result.stderr


def test_a_first_start_migrates_in_a_child_that_keeps_secrets_off_its_command_line(
        tmp_path: Path, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that is behind is upgraded by a child process (so the server never loads
    Alembic): the database URL reaches it through the environment, never the command line
    (which every user of the machine can read), and its failure is the server's, in the
    child's one line and with its exit code."""
    import subprocess

    from coview.cli.serve import _migrate_apart
    from coview.server.config import load_config

    commands: list[list[str]] = []
    run = subprocess.run

    def recorded(command: list[str], **kwargs: object) -> object:
        commands.append(command)
        return run(command, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", recorded)
    url = "postgresql+asyncpg://coview:hunter2-password@127.0.0.1:1/nowhere"
    config = load_config({"data_dir": str(tmp_path / "data"), "database_url": url})
    with pytest.raises(SystemExit) as stopped:
        _migrate_apart(config)
    assert stopped.value.code != 0
    errors = [line for line in capfd.readouterr().err.splitlines()
              if line.startswith("coview: error:")]
    assert len(errors) == 1, errors
    assert "hunter2" not in errors[0]
    assert len(commands) == 1
    assert not any("hunter2" in part for part in commands[0])

    config = load_config({"data_dir": str(tmp_path / "data")})
    (tmp_path / "data").mkdir()
    _migrate_apart(config)  # SQLite in the data directory: created at the newest revision
    assert (tmp_path / "data" / "coview.db").is_file()
    assert "made the key file" not in capfd.readouterr().err  # nothing sealed: no key made
