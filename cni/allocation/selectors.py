"""Kubernetes LabelSelector matching, and the selector written back in words for errors.

An empty selector (`{}`) matches everything, as in Kubernetes; "no selector"
(`None`) is handled by the callers as "no constraint". An unknown operator
matches nothing, so a pool with a selector we do not understand is not used.
"""

from __future__ import annotations

from typing import Any, Mapping


def matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression(e, labels) for e in selector.get("matchExpressions") or ())


def _expression(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator", "")
    values = expression.get("values") or ()
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def describe(selector: Mapping[str, Any]) -> str:
    """`{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}` -> `zone In [a]`."""
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or ():
        values = f" [{', '.join(map(str, e.get('values') or ()))}]" if e.get("values") else ""
        parts.append(f"{e.get('key', '')} {e.get('operator', '')}{values}")
    return ", ".join(parts) or "{}"
