"""The controllers' pause between passes: until `seconds` pass, `stop` is set, or an event wakes them.

Why it exists: the IP GC and the auto-pool controller both run a pass, then wait for the next
one — at most `seconds`, less when an informer event says something changed. A burst of events
(a Deployment scaled: a ReplicaSet, then pods, then pools) should make one pass, not one per
event, so after the first wake-up the pause lasts `settle` seconds longer.
"""

from __future__ import annotations

import threading
import time


def pause(stop: threading.Event, wake: threading.Event, seconds: float, *, settle: float) -> None:
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        if wake.wait(min(0.5, max(0.0, deadline - time.monotonic()))):
            stop.wait(settle)  # let a burst of events settle into one pass
            return
