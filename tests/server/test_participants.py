"""Who is in a session, in one model: admission seats participants, and the guests list,
masks by role (the ``agentrole`` the visitor reads) and permission checks read them, before
and after another process takes the session over. No network."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from coview.domain.agents import Agent, Privilege, Role
from coview.domain.sessions import Kind, Participant, Session
from coview.domain.settings import GroupSettings
from coview.ids import AgentId, GroupId
from coview.protocol.server import Role as PartyRole
from coview.server.live import LiveSession, Party, from_state, new_log, to_state


def agent(agent_id: int, *, privileges: frozenset[Privilege], agent_role: str) -> Agent:
    return Agent(agent_id=AgentId(agent_id), group_id=GroupId(7), username=f"a{agent_id}",
                 display_name=f"Agent {agent_id}", title="Support", agent_role=agent_role,
                 role=Role.AGENT, privileges=privileges, disabled=False,
                 created_at=datetime(2026, 1, 1, tzinfo=UTC), token_generation=0)


def live_session() -> tuple[LiveSession, dict[int, Agent]]:
    agents = {1: agent(1, privileges=frozenset({Privilege.REMOTE_CONTROL}),
                       agent_role="Account Support"),
              2: agent(2, privileges=frozenset(), agent_role="Billing")}
    live = LiveSession(
        session=Session(session_id="s", call_id=1, group_id=GroupId(7), key="k", started_at=0,
                        persist=False, max_guests=0, no_agent_timeout=0),
        settings=GroupSettings(), visitor=Party(resume_token="t", role=PartyRole.VISITOR),
        to_agents=new_log(), to_visitor=new_log())
    for agent_id, who in agents.items():
        seat = live.session.join(Participant.of_agent(who))
        live.agents[seat.num] = Party(resume_token=f"t{agent_id}", role=PartyRole.AGENT,
                                      num=seat.num, agent=who)
    return live, agents


def test_the_guests_list_and_permissions_come_from_the_participants() -> None:
    live, _ = live_session()
    guests = live.guests()["agents"]
    assert [(g["num"], g["name"], g["agentrole"], g["role"]) for g in guests] == [
        (1, "Agent 1", "Account Support", "agent"), (2, "Agent 2", "Billing", "agent")]
    first, second = live.agents[1], live.agents[2]
    assert live.may(first, Privilege.REMOTE_CONTROL)
    assert not live.may(second, Privilege.REMOTE_CONTROL)
    assert not Participant.viewer("Ann").may(Privilege.VIEW)  # a visitor holds none


def test_participants_travel_whole_with_a_session_taken_over() -> None:
    live, agents = live_session()
    state = json.loads(to_state(live, started_wall=0))
    taken = from_state(state, agents, started=0, lost_at=0)
    assert taken.session.seats == live.session.seats
    assert taken.guests()["agents"] == live.guests()["agents"]


def test_states_cross_a_rolling_upgrade_both_ways() -> None:
    """The previous version reads seats as seven fields and knows no ``seat_more``: what it
    wrote keeps masks by role here (the role title from the agent's record, or unknown, which
    a mask by role hides from), and what this version writes it can still unpack."""
    live, agents = live_session()
    live.session.join(Participant.viewer("Ann"))
    state = json.loads(to_state(live, started_wall=0))
    for seat in state["session"]["seats"]:  # the previous version's unpacking works
        _num, _agent_id, _username, _name, _title, _role, privileges = seat
        assert isinstance(privileges, list)
    del state["seat_more"]
    taken = from_state(state, agents, started=0, lost_at=0)
    assert [g["agentrole"] for g in taken.guests()["agents"]] == [
        "Account Support", "Billing", ""]
    assert [seat.kind for seat in taken.session.seats.values()] == [
        Kind.AGENT, Kind.AGENT, Kind.VISITOR]
    gone = from_state(state, {1: agents[1]}, started=0, lost_at=0)  # agent 2's record gone
    assert [g["agentrole"] for g in gone.guests()["agents"]][:2] == ["Account Support", None]


def test_a_client_passed_on_by_another_process_arrives_vouched_for() -> None:
    """Scaled out, the process a client reached authenticates it and looks its key up; the
    process running the session takes the agent it names as checked (an agent's record,
    whole), if the vouch is signed with the key every process shares and covers this very
    connection, session, agent and first frame. A header from an older version, a forged or
    damaged one, vouches for nothing (the client is authenticated there)."""
    from coview.server.live import Vouched
    from coview.server.remote import read_vouch, vouch_mac

    secret, first = "k" * 48, b"first frame"
    one = agent(1, privileges=frozenset({Privilege.REMOTE_CONTROL}), agent_role="Billing")
    record = json.loads(json.dumps(one.record()))  # as it crosses Redis
    assert Agent.from_record(record) == one

    def header(signed: dict[str, object] | None, **changes: object) -> dict[str, object]:
        sent = {"c": "p.1", "sid": "s", "agent": signed,
                "vouch": vouch_mac(secret, "p.1", "s", signed, first)}
        return json.loads(json.dumps({**sent, **changes}))

    assert read_vouch(header(record), first, secret) == Vouched("s", one)
    assert read_vouch(header(None), first, secret) == Vouched("s", None)
    assert read_vouch({"c": "p.1"}, first, secret) is None  # an older process
    # Anyone who can only write to Redis: another secret, another agent, session, connection
    # or first frame, or no signature.
    assert read_vouch(header(record), first, "x" * 48) is None
    assert read_vouch(header(record, agent={**record, "role": "admin"}), first, secret) is None
    assert read_vouch(header(record, sid="t"), first, secret) is None
    assert read_vouch(header(record, c="p.2"), first, secret) is None
    assert read_vouch(header(record), b"another frame", secret) is None
    assert read_vouch(header(record, vouch=None), first, secret) is None
    # A record that does not read (signed, so only a bug would send it) vouches for nothing.
    for damaged in ({**record, "disabled": "false"}, {**record, "agent_id": 1e309},
                    {"agent_id": 1}):
        signed = {"c": "p.1", "sid": "s", "agent": damaged,
                  "vouch": vouch_mac(secret, "p.1", "s", damaged, first)}
        assert read_vouch(signed, first, secret) is None
