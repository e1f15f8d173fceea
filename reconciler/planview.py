"""How a plan reads: terraform-like text for people, a stable JSON shape for machines.

Returns strings; the CLI decides where they go and whether they are coloured.
"""

from __future__ import annotations

import json
from typing import Any

from .plan import DIGEST_ANNOTATION, MISSING, Change, FieldChange, Plan

SYMBOLS = {"create": "+", "update": "~", "drift": "~", "delete": "-", "unchanged": "=", "conflict": "!", "rejected": "!",
           "refused": "!", "orphan": "?"}
COLORS = {"create": "32", "update": "33", "drift": "35", "delete": "31", "unchanged": "2", "conflict": "1;31", "rejected": "1;31",
          "refused": "1;31", "orphan": "35"}
VERBS = {"create": "will be created", "update": "will be updated in place", "drift": "has DRIFTED",
         "delete": "will be deleted",
         "unchanged": "unchanged", "conflict": "CONFLICT", "rejected": "REJECTED by the API server",
         "refused": "REFUSED", "orphan": "not in the spec any more"}


def _paint(text: str, action: str, color: bool) -> str:
    return f"\x1b[{COLORS[action]}m{text}\x1b[0m" if color else text


def _value(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    return json.dumps(value, separators=(", ", ": "))


def _field_line(change: FieldChange, color: bool) -> str:
    if change.before is MISSING:
        return _paint(f"      + {change.path}: {_value(change.after)}", "create", color)
    if change.after is MISSING:
        return _paint(f"      - {change.path}: {_value(change.before)}", "delete", color)
    return _paint(f"      ~ {change.path}: {_value(change.before)} -> {_value(change.after)}", "update", color)


def _shown(fields) -> list[FieldChange]:
    """The fields a person should see: not the digest apply keeps for itself (plan.DIGEST_ANNOTATION)."""
    return [f for f in fields if DIGEST_ANNOTATION not in f.path]


def _verb(change: Change) -> str:
    return "will be DRAINED, then deleted" if change.drain else VERBS[change.action]


def render_text(plan: Plan, *, against: str, color: bool = False) -> str:
    lines = [f"NetworkSpec {plan.spec_name!r}: plan against {against}", ""]
    for change in plan.changes:
        head = f"  {SYMBOLS[change.action]} {change.ref} {_verb(change)}"
        if change.reason:
            head += f": {change.reason}"
        lines.append(_paint(head, change.action, color))
        lines += [_field_line(f, color) for f in _shown(change.fields)]
    if plan.changes:
        lines.append("")
    lines.append(summary_line(plan))
    conflicts = plan.conflicts
    if conflicts:
        lines.append(_paint(f"{len(conflicts)} conflict(s): apply would not touch these objects "
                            "(an object not owned by this spec is adopted only with --adopt).", "conflict", color))
    return "\n".join(lines) + "\n"


def summary_line(plan: Plan) -> str:
    blocked = len(plan.conflicts) + plan.count("rejected") + plan.count("refused")
    if not plan.has_changes and not blocked:
        return "No changes. The cluster matches the spec."
    drains = sum(1 for c in plan.changes if c.drain)
    line = (f"Plan: {plan.count('create')} to add, {plan.count('update')} to change, "
            f"{plan.count('delete')} to destroy" + (f" ({drains} drained first)." if drains else "."))
    if blocked:
        line += f" Blocked: {blocked} object(s) marked ! above would stop apply."
    if plan.count("drift"):
        line += f" {plan.count('drift')} drifted (reverted only with self-heal)."
    return line


def render_json(plan: Plan, *, against: str) -> str:
    def field(f: FieldChange) -> dict[str, Any]:
        out: dict[str, Any] = {"path": f.path}
        if f.before is not MISSING:
            out["before"] = f.before
        if f.after is not MISSING:
            out["after"] = f.after
        return out

    def change(c: Change) -> dict[str, Any]:
        out = {"action": c.action, "apiVersion": c.api_version, "kind": c.kind, "name": c.name}
        if c.namespace:
            out["namespace"] = c.namespace
        if c.reason:
            out["reason"] = c.reason
        if c.drain:
            out["drain"] = True
        out["fields"] = [field(f) for f in _shown(c.fields)]
        return out

    body = {
        "spec": plan.spec_name,
        "against": against,
        "summary": {"add": plan.count("create"), "change": plan.count("update"), "destroy": plan.count("delete"),
                    "drift": plan.count("drift"), "unchanged": plan.count("unchanged"), "conflict": plan.count("conflict"), "rejected": plan.count("rejected"),
                    "refused": plan.count("refused"), "orphan": plan.count("orphan")},
        "changes": [change(c) for c in plan.changes],
    }
    return json.dumps(body, indent=2) + "\n"
