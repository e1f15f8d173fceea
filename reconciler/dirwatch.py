"""A watched local spec directory: file events (watchdog: inotify on Linux) become one debounced kick.

An editor's save is several events (a temp file written, renamed over the old one, its
metadata touched), and `git checkout` is hundreds; the loop should look once, after they
stop. `Debouncer` calls back `delay` seconds after the last event of a burst. Events under
`.git/` and for files that cannot be part of a spec are ignored; the loop's own snapshot
(a hash of the spec files) decides whether anything really changed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

SPEC_SUFFIXES = (".yaml", ".yml")


class Debouncer:
    def __init__(self, delay: float, callback: Callable[[], None]):
        self.delay = delay
        self.callback = callback
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def poke(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self.callback)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


def relevant(path: str, root: Path) -> bool:
    """Whether an event at `path` may change the spec under `root` (a file or a directory)."""
    if root.is_file() or not root.exists():
        return os.path.abspath(path) == str(root)
    parts = Path(os.path.relpath(path, root)).parts
    if any(p.startswith(".") for p in parts):
        return False  # .git/, editor swap files, hidden dirs (the loader skips them too)
    if not parts:
        return True
    return path.endswith(SPEC_SUFFIXES) or "." not in parts[-1]  # a spec file, or a directory moved or removed


class DirectoryWatch:
    """Watch `path` (a spec file or directory) and call `on_change` once per burst of edits."""

    def __init__(self, path: str | os.PathLike, *, on_change: Callable[[], None], debounce: float = 0.3):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        self.root = Path(path).resolve()
        self.debouncer = Debouncer(debounce, on_change)
        root, debouncer = self.root, self.debouncer

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                paths = [event.src_path, getattr(event, "dest_path", "") or ""]
                if any(p and relevant(os.fsdecode(p), root) for p in paths):
                    debouncer.poke()

        self.observer = Observer()
        watched = self.root if self.root.is_dir() else self.root.parent
        self.observer.schedule(Handler(), str(watched), recursive=self.root.is_dir())

    def start(self) -> "DirectoryWatch":
        self.observer.start()
        return self

    def stop(self) -> None:
        self.debouncer.cancel()
        self.observer.stop()
        self.observer.join(timeout=5)
