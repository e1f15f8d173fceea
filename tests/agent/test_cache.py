"""The informer loop: LIST, WATCH from the list's version, bookmarks, relist on 410, reconnect on failures;
versions only move forward."""

from __future__ import annotations

import threading

from agent import kube as k8s
from agent.cache import Cache, Watched


def ns(name: str, rv: int, **labels) -> dict:
    return {"metadata": {"name": name, "resourceVersion": str(rv), "labels": labels}}


class FakeKube:
    """Scripted answers: `lists` in order, `watches` as lists of events or an exception to raise."""

    def __init__(self, lists, watches):
        self.lists, self.watches = list(lists), list(watches)
        self.calls: list[tuple] = []
        self.done = threading.Event()

    def list(self, kind, **_):
        self.calls.append(("list",))
        return self.lists.pop(0)

    def watch(self, kind, *, resource_version, stopped, **_):
        self.calls.append(("watch", resource_version))
        if not self.watches:
            self.done.set()
            while not stopped():
                self.done.wait(0.01)
            return
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        yield from script


NAMESPACES = Watched(k8s.NAMESPACES, lambda o: dict(o["metadata"].get("labels") or {}))


def run(fake: FakeKube) -> Cache:
    cache = Cache(fake, [NAMESPACES]).start()
    assert fake.done.wait(5)
    cache.stop(1)
    return cache


def test_a_410_relists_and_drops_what_the_new_list_lacks():
    fake = FakeKube(lists=[([ns("a", 5), ns("b", 6)], "6"), ([ns("a", 9)], "9")],
                    watches=[[("MODIFIED", ns("a", 7, x="1"))], k8s.Expired("too old", status=410)])
    cache = run(fake)

    assert fake.calls == [("list",), ("watch", "6"), ("watch", "7"), ("list",), ("watch", "9")]
    assert cache.keys(k8s.NAMESPACES) == ["a"]


def test_a_broken_stream_reconnects_from_the_last_version_a_bookmark_moved_it_to():
    fake = FakeKube(lists=[([ns("a", 5)], "5")],
                    watches=[[("BOOKMARK", {"metadata": {"resourceVersion": "40"}})],
                             k8s.Unreachable("connection reset"), [("DELETED", ns("a", 41))]])
    cache = run(fake)

    assert fake.calls == [("list",), ("watch", "5"), ("watch", "40"), ("watch", "40"), ("watch", "41")]
    assert cache.keys(k8s.NAMESPACES) == []


def test_an_event_older_than_what_the_agent_wrote_does_not_roll_the_cache_back():
    fake = FakeKube(lists=[([], "1")], watches=[])
    cache = Cache(fake, [NAMESPACES])
    cache.offer(k8s.NAMESPACES, ns("a", 10, v="written"))
    cache.offer(k8s.NAMESPACES, ns("a", 8, v="late event"))
    cache.forget(k8s.NAMESPACES, "a", version=9)  # a DELETED older than what is held

    assert cache.view(k8s.NAMESPACES, "a") == {"v": "written"}
