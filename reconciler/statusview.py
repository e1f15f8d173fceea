"""How NetworkSync status reads: a kubectl-style table, one spec's details, and JSON.

Returns strings and plain dicts; the CLI prints them.
"""

from __future__ import annotations

from . import tables
from .model import Object
from .tables import age


def _condition(sync: Object, type_: str) -> Object:
    return next((c for c in (sync.get("status") or {}).get("conditions") or [] if c.get("type") == type_), {})


def ready(sync: Object) -> bool:
    return _condition(sync, "Ready").get("status") == "True"


def _short(revision: str | None) -> str:
    if not revision:
        return "-"
    return revision[:19] if revision.startswith("sha256:") else revision[:12]


def last_error(sync: Object) -> str:
    """Why the spec is not where its source is: the Stalled message, else a failed Ready's."""
    stalled, ready_ = _condition(sync, "Stalled"), _condition(sync, "Ready")
    if stalled.get("status") == "True" and stalled.get("message"):
        return stalled["message"]
    return ready_.get("message", "") if ready_.get("status") == "False" else ""


def source_text(sync: Object) -> str:
    source = (sync.get("spec") or {}).get("source") or {}
    if source.get("repo"):
        path = source.get("path") or "."
        return f"{source['repo']} at {source.get('ref') or 'HEAD'}" + ("" if path == "." else f", path {path}")
    return source.get("path") or "-"


def summary(sync: Object, *, live: list[Object] | None = None) -> Object:
    """`live`: the drift in the cluster now, when it could be computed (see sync.live_drift);
    otherwise the drift recorded at the last apply, and `driftAsOf` says when that was."""
    status = sync.get("status") or {}
    condition = _condition(sync, "Ready")
    finished = (status.get("lastApply") or {}).get("finishedAt")
    return {
        "name": sync["metadata"]["name"],
        "source": (sync.get("spec") or {}).get("source") or {},
        "lastAttemptedRevision": status.get("lastAttemptedRevision"),
        "lastError": last_error(sync),
        "ready": condition.get("status", "Unknown"),
        "reason": condition.get("reason", ""),
        "message": condition.get("message", ""),
        "revision": status.get("revision"),
        "objects": status.get("inventoryCount", 0),
        "lastApply": (status.get("lastApply") or {}).get("finishedAt"),
        "drift": live if live is not None else status.get("drift") or [],
        "driftAsOf": "live" if live is not None else finished,
        "history": status.get("history") or [],
    }


def _drift_cell(s: Object) -> str:
    return str(len(s["drift"])) if s["driftAsOf"] == "live" else f"{len(s['drift'])}@apply"


def table(syncs: list[Object], *, live: dict[str, list[Object] | None] | None = None) -> str:
    if not syncs:
        return "No NetworkSync found: no spec has been applied to this cluster yet.\n"
    rows = [["NAME", "READY", "REASON", "REVISION", "OBJECTS", "DRIFT", "LAST-APPLY", "MESSAGE"]]
    summaries = [summary(sync, live=(live or {}).get(sync["metadata"]["name"]))
                 for sync in sorted(syncs, key=lambda s: s["metadata"]["name"])]
    for s in summaries:
        ready_ = "False" if s["driftAsOf"] == "live" and s["drift"] and s["ready"] == "True" else s["ready"]
        reason = "Drifted" if ready_ != s["ready"] else s["reason"] or "-"
        rows.append([s["name"], ready_, reason, _short(s["revision"]), str(s["objects"]),
                     _drift_cell(s), age(s["lastApply"]), (s["message"] or "")[:60]])
    text = tables.table(rows[0], rows[1:])
    if any(s["driftAsOf"] != "live" for s in summaries):
        text += ("DRIFT n@apply: as of that spec's last apply (its source is not readable here); "
                 "`spiderpool plan SPEC` shows the cluster now.\n")
    return text


def details(sync: Object, *, live: list[Object] | None = None) -> str:
    s = summary(sync, live=live)
    status = sync.get("status") or {}
    ready_line = f"{s['ready']} ({s['reason']})" + ("" if s["lastError"] else f" {s['message']}")
    lines = [f"NetworkSpec:  {s['name']}", f"Source:       {source_text(sync)}", f"Ready:        {ready_line}",
             f"Revision:     {s['revision'] or '-'}"]
    if s["lastAttemptedRevision"] and s["lastAttemptedRevision"] != s["revision"]:
        lines.append(f"Attempted:    {s['lastAttemptedRevision']} (not applied)")
    lines += [f"Objects:      {s['objects']}",
              f"Last apply:   {(status.get('lastApply') or {}).get('result', '-')} {age(s['lastApply'])} ago"]
    if s["lastError"]:
        error_lines = s["lastError"].splitlines()
        lines.append(f"Last error:   {error_lines[0]}")
        lines += [f"              {line}" for line in error_lines[1:]]
    if s["driftAsOf"] == "live":
        lines.append(f"Drift:        {len(s['drift'])} field(s) changed in the cluster now (planned just now)")
    else:
        lines.append(f"Drift:        {len(s['drift'])} field(s) as of the last apply ({s['driftAsOf'] or '-'}); "
                     "the source is not readable here, `spiderpool plan SPEC` shows the cluster now")
    if s["drift"]:
        lines += ["", "Drift (changed in the cluster, not in the spec):"]
        for d in s["drift"]:
            where = f"{d['kind']} {d.get('namespace') + '/' if d.get('namespace') else ''}{d['name']}"
            lines.append(f"  ~ {where} {d['field']}: live {d.get('live')!r}, spec {d.get('desired')!r}")
    changed = [o for o in (status.get("lastApply") or {}).get("objects") or [] if o["action"] != "unchanged"]
    if changed:
        lines += ["", "Last apply:"]
        for o in changed:
            where = f"{o.get('namespace') + '/' if o.get('namespace') else ''}{o['name']}"
            lines.append(f"  {o['action']:9} {o['kind']} {where}" + (f": {o['message']}" if o.get("message") else ""))
    if s["history"]:
        lines += ["", "History:"]
        rows = [["REVISION", "RESULT", "FINISHED", "COUNTS"]]
        for h in s["history"]:
            counts = ", ".join(f"{n} {a}" for a, n in sorted((h.get("counts") or {}).items()))
            rows.append([_short(h.get("revision")), h.get("result", "-"), h.get("finishedAt", "-"), counts])
        lines += ["  " + line for line in tables.table(rows[0], rows[1:]).splitlines()]
    return "\n".join(lines) + "\n"
