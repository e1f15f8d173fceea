"""The one table writer of every view (`plan`, `status`, `drift`, `ipam`): columns as kubectl prints them.

Why it exists: each view printed its own kubectl-style table and age; one writer keeps
them alike. Pure: strings in, a string out.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable


def table(columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """Columns padded to their widest cell and 3 spaces apart, as kubectl's tabwriter prints them; None is blank."""
    columns = list(columns)
    cells = [columns] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def age(stamp: str | None, *, now: datetime | None = None) -> str:
    """An RFC 3339 timestamp as kubectl's AGE column shows it (`3d`, `5h`, `12m`, `40s`); `-` when unknown."""
    if not stamp:
        return "-"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    seconds = max(0, int(((now or datetime.now(timezone.utc)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
