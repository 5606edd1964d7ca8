"""The protocol's field rules are written once (``coview.protocol.rules``): the browser's copy
is generated from them, and no other copy of a rule exists in either language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coview.protocol import rules
from coview.protocol.frames import ProtocolError
from coview.protocol.handshake import parse_hello

ROOT = Path(__file__).resolve().parents[2]


def test_the_browser_copy_is_generated_from_the_python_rules() -> None:
    generated = (ROOT / "web/src/shared/rules.js").read_text()
    assert generated == rules.javascript(), \
        "web/src/shared/rules.js is stale: run python -m coview.protocol.rules"


def test_no_rule_is_written_twice() -> None:
    """The literal key pattern, group ID bound and end-reason strings appear only in the
    rules (and in what is generated from them or built from the sources)."""
    literals = re.compile(r"\{1,50\}|2\*\*31|2147483647|\"SessionEndReason\w+\"")
    sources = [*(ROOT / "src/coview").rglob("*.py"), *(ROOT / "web/src").rglob("*.js")]
    owners = {ROOT / "src/coview/protocol/rules.py", ROOT / "src/coview/protocol/reasons.py",
              ROOT / "web/src/shared/rules.js"}
    copies = sorted(f"{path.relative_to(ROOT)}: {match.group()}" for path in sources
                    if path not in owners
                    for match in literals.finditer(path.read_text()))
    # z-index 2147483647 (the top of the page) is CSS, not the group ID bound
    assert [c for c in copies if not c.startswith("web/src/visitor/ui.js: 2147483647")] == []


def test_input_pattern_escapes_a_class_dash_for_the_v_flag() -> None:
    assert rules.input_pattern(rules.KEY_PATTERN) == r"[A-Za-z0-9_\-]{1,50}"
    assert rules.input_pattern(r"^[a-z.-]{2}$") == r"[a-z.\-]{2}"


@pytest.mark.parametrize(("key", "valid"), [
    ("a" * rules.KEY_MAX_LENGTH, True), ("a" * (rules.KEY_MAX_LENGTH + 1), False),
    ("abc_DEF-1", True), ("", False), ("a b", False), ("ü", False)])
def test_keys_follow_the_one_rule_in_every_check(key: str, valid: bool) -> None:
    assert rules.is_key(key) is valid
    hello = {"t": "join", "v": "1.0", "key": key}
    if valid:
        assert parse_hello(hello).key == key  # type: ignore[union-attr]
    else:
        with pytest.raises(ProtocolError):
            parse_hello(hello)


def test_bounded_properties_cut_to_what_the_server_accepts() -> None:
    cut = rules.bounded_properties({"k" * 80: "v" * 300, "": "dropped", "n": 5}, items=20)
    assert cut == {"k" * rules.PROPERTY_NAME_MAX_LENGTH: "v" * rules.PROPERTY_VALUE_MAX_LENGTH,
                   "n": "5"}
