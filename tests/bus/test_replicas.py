"""One process's session replicas: nothing kept elsewhere, everything durable at once, and
what it is asked answered from the process's own sessions."""

from __future__ import annotations

import asyncio

from coview.bus.replicas import LocalReplicas


def test_one_process_answers_from_its_own_sessions_and_waits_for_nothing() -> None:
    replicas = LocalReplicas()
    called: list[str] = []
    replicas.when_durable(lambda: called.append("now"))
    assert called == ["now"]  # a single process has nothing to wait for

    async def ask() -> tuple[object, ...]:
        await replicas.register("s1", call_id=1, group_id=7, started=0.0, counted=True,
                                state=lambda: b"{}")
        return (await replicas.running(7, here=["s0", "s1"]),
                await replicas.seated(["s0", "s1"], here=lambda sid: sid == "s1"),
                await replicas.owner("s1"), await replicas.ended_reason("gone"),
                await replicas.procs())

    assert asyncio.run(ask()) == (["s0", "s1"], [False, True], None, None, [replicas.proc])
