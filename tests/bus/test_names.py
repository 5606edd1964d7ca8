"""The names a scaled-out server gives what it keeps in Redis are part of its contract: two
versions of Coview run side by side during a rolling upgrade, and operators read the keys.
They are built in one place (``coview.bus.names``); this holds them stable."""

from __future__ import annotations

from coview.bus.names import ClusterKeys, key_claim


def test_the_redis_layout_is_stable() -> None:
    keys = ClusterKeys("coview:")
    assert [keys.proc("p1"), keys.procs, keys.owner("s1"), keys.owned("p1"), keys.state("s1"),
            keys.inbox("s1"), keys.log("s1", "a"), keys.log("s1", "v"), keys.call(42),
            keys.live(7), keys.ended("s1"), keys.presence(7), keys.presences("p1"),
            keys.one_click(7, "cust-9"), keys.once("n"), keys.process_channel("p1"),
            keys.session_channel("s1"), keys.full(key_claim(7, "123456"))] == [
        "coview:proc:p1", "coview:procs", "coview:owner:s1", "coview:owned:p1",
        "coview:state:s1", "coview:inbox:s1", "coview:log:s1:a", "coview:log:s1:v",
        "coview:call:42", "coview:live:7", "coview:ended:s1", "coview:presence:7",
        "coview:presences:p1", "coview:oneclick:7:cust-9", "coview:once:n", "coview:to:p1",
        "coview:s:s1", "coview:key:7:123456"]
    assert ClusterKeys("tenant-b:").owner("s1") == "tenant-b:owner:s1"
