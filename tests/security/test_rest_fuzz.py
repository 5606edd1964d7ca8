"""Stateful fuzzing of the REST API against its own OpenAPI document (issue 14, suite item 11).

Schemathesis builds requests from the document the server publishes: valid (positive) and
invalid (negative) ones for each operation, then chains of operations along the document's
links (create an agent, read it, change it; read the staging settings, stage them, publish
them, read production). Every answer is held to the document with schemathesis's own checks:
never a 5xx; a status code, content type, body and headers the operation documents; a request
the schema calls valid is not refused as invalid, and one it calls invalid is not accepted.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Flaky
from schemathesis import BaseSchema, Case, GenerationMode, Response
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.engine.errors import is_inconsistent_replay
from schemathesis.errors import FailureGroup
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Figure, Server, start_server
from tests.helpers import DEMO_GROUP, bearer, login

pytestmark = pytest.mark.fuzz

# Tuned to keep the module near a minute on two cores: each sign-in the fuzzer sends checks a
# 64 MiB password hash, and so does each agent it creates or gives a new password.
EXAMPLES_PER_OPERATION = 40
STATEFUL_SCENARIOS = 200
STATEFUL_STEPS = 8
STATEFUL_RUNS = 20  # at most: a run ends early when Hypothesis finds the server changed

# Sign-ins the fuzzer sends fail (wrong passwords), and after 20 failures in five minutes the
# server throttles every sign-in from their address; the fuzzer's own sign-in comes from
# another loopback address, which no fuzzed request uses.
SIGN_IN_ADDRESS = "127.0.0.2"

OFF_SCHEMA_CHECKS: list[CheckFunction] = [
    status_code_conformance, content_type_conformance, response_schema_conformance,
    response_headers_conformance,
]
DATA_CHECKS: list[CheckFunction] = [positive_data_acceptance, negative_data_rejection]

# Rules the server keeps that JSON Schema cannot state. A request the schema calls valid and
# the server refuses with 422 is not held against the document when every field the answer
# names is one of these (the check is loosened for them only, and only for 422).
_PRINTABLE = ("display texts are trimmed and must then be printable (str.isprintable: no "
              "control, format, private-use or unassigned characters); ECMA regexes in the "
              "document have no Unicode categories to say so")
_SETTINGS_RULES = (
    "settings fields read by urllib and the egress rule (origins, sites, bookmark and webhook "
    "URLs, STUN/TURN URLs: scheme, host, port, no private webhook address), CSS selectors, "
    "texts trimmed before their minimum length, each origin and surface once (after "
    "normalising), and cross-field rules (20 bookmarks and folders together, bookmarks under "
    "the allowed sites; named 'body' or 'settings')")
BEYOND_SCHEMA: dict[str, tuple[re.Pattern[str], str]] = {
    "POST /api/v1/agents": (re.compile(r"display_name|title|agent_role"), _PRINTABLE),
    "PATCH /api/v1/agents/{username}": (re.compile(r"display_name|title|agent_role"),
                                        _PRINTABLE),
    **{label: (re.compile(r"(trusted_origins|masking_selectors|allowed_sites|bookmarks"
                          r"|escalate_to_show\.surfaces|ice_servers\.\d+\.urls"
                          r"|webhooks\.\d+\.url)(\..*)?|body|settings"), _SETTINGS_RULES)
       for label in ("PUT /api/v1/settings", "PATCH /api/v1/settings")},
}

# Operations that a valid request by an admin, with nothing else set up, can get a 2xx from:
# if one of them never does, the fuzzer was blind (signed out, throttled) and proved nothing.
REACHABLE = {
    "POST /api/v1/auth/refresh", "POST /api/v1/auth/logout", "GET /api/v1/me",
    "GET /api/v1/agents", "POST /api/v1/agents", "GET /api/v1/settings",
    "PUT /api/v1/settings", "PATCH /api/v1/settings", "GET /api/v1/settings/production",
    "POST /api/v1/settings/publish", "GET /api/v1/audit", "GET /api/v1/sessions",
    "POST /api/v1/visitor-tokens", "GET /api/v1/presence", "GET /api/v1/presence/{visitor_id}",
    "GET /api/v1/webhooks/secret",
}


@dataclass
class Verdicts:
    """What one fuzzing run found; each finding reads ``operation status: why``."""

    cases: int = 0
    server_errors: list[str] = field(default_factory=list)
    off_schema: list[str] = field(default_factory=list)
    misjudged: list[str] = field(default_factory=list)
    beyond_schema: int = 0
    sign_ins: int = 0
    statuses: dict[str, set[int]] = field(default_factory=dict)

    def of(self, findings: list[str]) -> str:
        return f"{len(findings)} of {self.cases}"


class FuzzerAdmin:
    """An admin of the demo group that only the fuzzer uses, and its current token.

    Not the API key: it may not manage agents or settings, so every chain would stop at a
    403. Not the demo admin either: its name is guessable, and a fuzzed change of the
    fuzzer's own account (a new password, role or ``disabled``) would lock the fuzzer out for
    good. This admin's name is random, and no link of the document leads to it.

    Signing out revokes every token of the agent, and the fuzzer must send sign-outs too: when
    a request with its token answers 401 ``token_revoked``, it signs in again, so that one
    sign-out does not leave the rest of the run answering 401.
    """

    def __init__(self, server: Server) -> None:
        self.base_url = server.base_url
        self.username = f"fuzz-{secrets.token_hex(8)}"
        self.password = secrets.token_urlsafe(24)
        with server.client() as client:
            created = client.post("/api/v1/agents", headers=bearer(
                login(client, server.demo_password)), json={
                "username": self.username, "password": self.password, "role": "admin"})
        assert created.status_code == 201, created.text
        self.token = self.sign_in()

    def sign_in(self) -> str:
        transport = httpx.HTTPTransport(local_address=SIGN_IN_ADDRESS)
        with httpx.Client(base_url=self.base_url, transport=transport, timeout=30) as client:
            return login(client, self.password, username=self.username)


def error_code(response: Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


class Fuzzer:
    """Sends schemathesis cases as the fuzzer's admin and judges each answer."""

    def __init__(self, server: Server, schema: BaseSchema, admin: FuzzerAdmin) -> None:
        self.base_url = server.base_url
        self.schema = schema
        self.admin = admin
        self.verdicts = Verdicts()

    def send(self, case: Case) -> tuple[Response, dict[str, str]]:
        """Send ``case`` with the admin's token (unless the case is about a missing or wrong
        credential); sign in again if the answer says the token was revoked."""
        headers = dict(case.headers or {})
        signed = not self.schema.is_security_param_negated(case)
        if signed:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            headers["Authorization"] = f"Bearer {self.admin.token}"
        response = case.call(base_url=self.base_url, headers=headers)
        if signed and response.status_code == 401 and error_code(response) == "token_revoked":
            self.admin.token = self.admin.sign_in()
            self.verdicts.sign_ins += 1
        return response, headers

    def judge(self, case: Case, response: Response, headers: dict[str, str],
              recorder: Any = None, stateful: list[CheckFunction] | None = None) -> None:
        """Run schemathesis's checks on the answer and file what they find."""
        verdicts = self.verdicts
        verdicts.cases += 1
        verdicts.statuses.setdefault(case.operation.label, set()).add(response.status_code)
        where = f"{case.method} {case.formatted_path} {response.status_code}"
        for checks, findings in (([not_a_server_error], verdicts.server_errors),
                                 (OFF_SCHEMA_CHECKS + (stateful or []), verdicts.off_schema),
                                 (DATA_CHECKS, verdicts.misjudged)):
            try:
                case.validate_response(response, checks=checks, headers=headers,
                                       recorder=recorder)
            except FailureGroup as group:
                for failure in group.exceptions:
                    if isinstance(failure, RejectedPositiveData) and beyond_schema(case,
                                                                                  response):
                        verdicts.beyond_schema += 1
                        continue
                    findings.append(f"{where}: {failure.title}: {failure.message} "
                                    f"(body sent: {case.body!r:.300}; answer: "
                                    f"{response.text[:300]})")

    def run(self, case: Case) -> None:
        response, headers = self.send(case)
        self.judge(case, response, headers)


def beyond_schema(case: Case, response: Response) -> bool:
    """Whether a 422 names only fields whose rules the schema cannot state (BEYOND_SCHEMA)."""
    rule = BEYOND_SCHEMA.get(case.operation.label)
    if rule is None or response.status_code != 422:
        return False
    fields = (response.json()["error"].get("fields") or {}).keys()
    return bool(fields) and all(rule[0].fullmatch(name) for name in fields)


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fuzzer(fuzzed_server: Server) -> Fuzzer:
    # Links only from the document: schemathesis's own guesses (from field names) lead from
    # the caller's own username (``/auth/refresh``, ``/agents``) to PATCH /agents/{username}.
    config = schemathesis.Config.from_dict(
        {"phases": {"stateful": {"inference": {"algorithms": []}}}})
    schema = schemathesis.openapi.from_url(
        f"{fuzzed_server.base_url}/api/v1/openapi.json", config=config)
    return Fuzzer(fuzzed_server, schema, FuzzerAdmin(fuzzed_server))


def record(figure: Figure, what: str, verdicts: Verdicts) -> None:
    figure(f"REST operations fuzzed ({what}): server errors",
           verdicts.of(verdicts.server_errors), "0")
    figure(f"REST operations fuzzed ({what}): responses off the schema",
           verdicts.of(verdicts.off_schema), "0")
    figure(f"REST operations fuzzed ({what}): valid requests refused or invalid ones accepted",
           verdicts.of(verdicts.misjudged), "0")
    if verdicts.beyond_schema:
        figure(f"REST operations fuzzed ({what}): schema-valid requests refused for a rule "
               "the schema cannot state", f"{verdicts.beyond_schema} of {verdicts.cases}",
               "only the rules listed in test_rest_fuzz.BEYOND_SCHEMA")


def assert_clean(verdicts: Verdicts) -> None:
    for findings in (verdicts.server_errors, verdicts.off_schema, verdicts.misjudged):
        assert not findings, f"{len(findings)} findings, the first:\n" + "\n".join(findings[:5])


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
def test_every_operation_answers_as_documented(fuzzer: Fuzzer, mode: GenerationMode,
                                               figure: Figure) -> None:
    """Valid and invalid requests to each operation get answers the document describes, and
    are accepted or refused as the document says they should be."""
    fuzzer.verdicts = verdicts = Verdicts()
    operations = [result.ok() for result in fuzzer.schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                  database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: Case) -> None:
            fuzzer.run(case)

        fuzz()
    record(figure, f"{mode.value} requests", verdicts)
    assert set(verdicts.statuses) == {op.label for op in operations}
    assert_clean(verdicts)
    if mode is GenerationMode.POSITIVE:
        blind = {label for label in REACHABLE
                 if not any(200 <= s < 300 for s in verdicts.statuses[label])}
        assert not blind, f"never answered 2xx: {sorted(blind)}"
        assert verdicts.sign_ins >= 1, "no sign-out happened, or it went unnoticed"


def test_chains_of_operations_answer_as_documented(fuzzer: Fuzzer, figure: Figure) -> None:
    """Chains along the document's links (an agent created, read, changed; settings read,
    staged, published, read in production) get answers the document describes."""
    fuzzer.verdicts = verdicts = Verdicts()
    links: dict[str, int] = {}
    scenarios = 0

    class Chains(fuzzer.schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: Case, **kwargs: Any) -> Response:
            response, self._sent = fuzzer.send(case)
            return response

        def validate_response(self, response: Response, case: Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            fuzzer.judge(case, response, self._sent, recorder=self.recorder,
                         stateful=[ensure_resource_availability])

        def step(self, input: Any) -> Any:
            if input.transition is not None and input.is_applied:
                links[input.transition.id] = links.get(input.transition.id, 0) + 1
            return super().step(input)

        def teardown(self) -> None:
            nonlocal scenarios
            scenarios += 1
            super().teardown()

    for run in range(STATEFUL_RUNS):
        if scenarios >= STATEFUL_SCENARIOS:
            break
        try:
            seed(run)(type("Run", (Chains,), {})).run(settings=settings(
                max_examples=STATEFUL_SCENARIOS - scenarios, stateful_step_count=STATEFUL_STEPS,
                deadline=None, database=None, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck)))
        except (Flaky, AssertionError) as exc:
            # The server keeps what earlier scenarios did (an agent created answers 409 the
            # second time), so Hypothesis replaying a scenario's start may see it go another
            # way; as schemathesis's own runner does, start a new run (with the next seed).
            # (Findings never raise: they are filed in the verdicts.)
            if not isinstance(exc, Flaky) and not is_inconsistent_replay(exc):
                raise
    record(figure, "stateful chains", verdicts)
    document_links = sum(len(response.get("links", {}))
                         for operations in fuzzer.schema.raw_schema["paths"].values()
                         for operation in operations.values()
                         for response in operation["responses"].values())
    followed = {name.split("] ")[1].split(" -> ")[0] for name in links}
    figure("links of the OpenAPI document followed by the stateful fuzzer",
           f"{len(links)} of {document_links}", "the chains of agents, settings and tokens")
    assert_clean(verdicts)
    assert scenarios >= STATEFUL_SCENARIOS
    assert followed >= FOLLOWED, sorted(links)


# Links whose source answers 2xx on a fresh demo server (no sessions, no visitor online).
FOLLOWED = {"GetAgent", "PatchAgent", "Replace", "Change", "Publish", "ReadProduction",
            "GetPresence"}


PATH_VALUES = {"username": "demo", "call_id": "1", "visitor_id": "visitor-1",
               "request_id": "r1", "group_id": str(DEMO_GROUP)}
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Paths outside the document: the agent console's static files, the health probe.
UNDOCUMENTED = {"/agent/": {"GET"}, "/healthz": {"GET"}}


def test_405_lists_every_method_of_the_path(fuzzed_server: Server, figure: Figure) -> None:
    """A method a path does not serve answers 405 with an ``Allow`` naming every method
    the document gives that path (GET and PATCH of /api/v1/agents/{username} alike), and
    HEAD wherever GET; HEAD answers as GET does, without the body."""
    document = httpx.get(f"{fuzzed_server.base_url}/api/v1/openapi.json").json()
    wrong: list[str] = []
    answered = 0
    served = {re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], template):
              {method.upper() for method in operations}
              for template, operations in document["paths"].items()}
    heads = 0
    with fuzzed_server.client() as client:
        for path, documented in {**served, **UNDOCUMENTED}.items():
            if "GET" in documented:
                documented = documented | {"HEAD"}
                got, head = client.get(path), client.head(path)
                heads += 1
                if (head.status_code, head.content) != (got.status_code, b"") or \
                        head.headers.get("content-type") != got.headers.get("content-type"):
                    wrong.append(f"HEAD {path}: {head.status_code} {head.content[:40]!r}, "
                                 f"GET {got.status_code}")
            for method in sorted(set(METHODS) - documented):
                response = client.request(method, path)
                answered += 1
                allow = {m.strip() for m in response.headers.get("allow", "").split(",")}
                if response.status_code != 405 or allow != documented:
                    wrong.append(f"{method} {path}: {response.status_code} Allow: {allow}")
    figure("405 answers whose Allow misses or adds a method, HEAD answers unlike GET's",
           f"{len(wrong)} of {answered + heads}", "0")
    assert not wrong, wrong
    assert answered > 50


# Every integer field of a JSON body: where it goes, the rest of the body, a whole number in
# its bounds, and whether the answer shows the value read (settings do).
SETTINGS_INTEGERS = ("random_key_length", "max_sessions", "starts_per_address_per_minute",
                     "starts_per_minute", "no_agent_timeout_seconds", "reconnect_window_seconds",
                     "presence_grace_seconds")
INTEGER_FIELDS: list[tuple[str, str, str, dict[str, Any], int, bool]] = [
    ("POST", "/api/v1/auth/login", "group_id", {"username": "nobody", "password": "wrong"},
     68736, False),
    ("POST", "/api/v1/visitor-tokens/check", "group_id", {"token": "x"}, 68736, False),
    ("POST", "/api/v1/visitor-tokens", "ttl", {"visitor_id": "v-1"}, 68736, False),
    *[("PATCH", "/api/v1/settings", name, {}, 10, True) for name in SETTINGS_INTEGERS],
]


@pytest.mark.parametrize(("method", "path", "name", "rest", "number", "shown"), INTEGER_FIELDS,
                         ids=[f"{m} {p} {n}" for m, p, n, *_ in INTEGER_FIELDS])
def test_integer_fields_take_whole_numbers_written_as_floats(
        fuzzed_server: Server, fuzzer: Fuzzer, method: str, path: str, name: str,
        rest: dict[str, Any], number: int, shown: bool) -> None:
    """68736.0 is an integer (JSON Schema: a number whose fractional part is zero), read as
    68736; 68736.5, "68736" and true are not, and answer 422 naming the field."""
    auth = bearer(fuzzer.admin.sign_in())

    def send(value: Any) -> httpx.Response:
        with fuzzed_server.client() as client:
            return client.request(method, path, json={**rest, name: value}, headers=auth)

    whole, same = send(float(number)), send(number)
    assert whole.status_code == same.status_code != 422, (whole.text, same.text)
    assert whole.json().keys() == same.json().keys()
    if shown:
        read = whole.json()["settings"][name]
        assert (type(read), read) == (int, number)
    for wrong in (number + 0.5, str(number), True):
        refused = send(wrong)
        assert refused.status_code == 422, (wrong, refused.text)
        assert name in refused.json()["error"]["fields"], refused.text
