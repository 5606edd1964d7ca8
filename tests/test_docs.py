"""The code in the docs works: visitor-token snippets mint tokens that Coview accepts, and the
webhook check accepts what the server signs."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from coview.domain.tokens import read_visitor_token
from coview.ids import GroupId
from coview.server.webhooks import sign

DOCS = Path(__file__).resolve().parents[1] / "docs"
SECRET = "group-secret-" + "q" * 32


def _block(language: str) -> str:
    text = (DOCS / "visitor-tokens.md").read_text()
    match = re.search(rf"```{language}\n(.*?)```", text, re.S)
    assert match, f"no {language} block"
    return match.group(1)


def test_python_snippet_mints_a_valid_token() -> None:
    """The ten lines of Python in docs/visitor-tokens.md mint a token Coview accepts."""
    python_block = _block("python")
    assert len(python_block.strip().splitlines()) <= 10
    namespace: dict[str, object] = {}
    exec(python_block, namespace)  # noqa: S102 (our own documentation)
    mint = namespace["mint_visitor_token"]
    assert callable(mint)
    token = mint(SECRET, 12345, "cust-42", 600)
    claims = read_visitor_token(SECRET, token, group_id=GroupId(12345), now=int(time.time()))
    assert claims.visitor_id == "cust-42"


def test_javascript_snippet_mints_a_valid_token() -> None:
    """The ten lines of JavaScript in docs/visitor-tokens.md mint a token Coview accepts."""
    js_block = _block("javascript")
    assert len(js_block.strip().splitlines()) <= 10
    node = shutil.which("node")
    assert node, "Node.js is needed to check the JavaScript snippet"
    script = js_block + f'\nprocess.stdout.write(mintVisitorToken("{SECRET}", 12345, "cust-42"));'
    token = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True,
                           timeout=30).stdout
    claims = read_visitor_token(SECRET, token, group_id=GroupId(12345), now=int(time.time()))
    assert claims.visitor_id == "cust-42"


def test_webhook_check_in_the_api_docs_accepts_only_fresh_signed_bodies() -> None:
    """The receiver's check in docs/api.md accepts what the server signs, and nothing else."""
    text = (DOCS / "api.md").read_text()
    code = text.split("## Webhooks", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(code, namespace)  # noqa: S102 (our own docs, run on purpose)
    verified = namespace["verified"]
    assert callable(verified)
    body, now = b'{"type":"visitor.online"}', int(time.time())
    header = sign("s3cret", now, body)
    assert verified("s3cret", header, body)
    assert not verified("s3cret", header, body + b" ")
    assert not verified("other", header, body)
    assert not verified("s3cret", sign("s3cret", now - 1000, body), body)
