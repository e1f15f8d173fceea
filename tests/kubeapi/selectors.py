"""Label and field selectors, parsed with the apiserver's grammar and matched against objects.

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, `k>1`, `k<1`,
comma-separated and ANDed. Field selectors: `path=v`, `path==v`, `path!=v` with `\\,` `\\=`
`\\\\` escapes, restricted to the fields a resource declares (metadata.name and
metadata.namespace always) -- like the real server, other fields answer 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|<|>|[^\s!=(),<>]+)")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        limit = int(self.values[0])
        return number > limit if self.op == "gt" else number < limit


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"unable to parse requirement: {text[pos:]!r}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse a selector string; raise ValueError with the apiserver-like message when invalid."""
    if not text or not text.strip():
        return []
    tokens, out, i = _tokens(text), [], 0

    def take() -> str:
        nonlocal i
        if i >= len(tokens):
            raise ValueError(f"unable to parse requirement: found '', expected: identifier in {text!r}")
        i += 1
        return tokens[i - 1]

    while i < len(tokens):
        if tokens[i] == "!":
            take()
            out.append(Requirement(take(), "!"))
        else:
            key = take()
            if key in ("=", "==", "!=", "(", ")", ",", "<", ">"):
                raise ValueError(f"unable to parse requirement: found '{key}', expected: identifier")
            op = tokens[i] if i < len(tokens) else ","
            if op == ",":
                out.append(Requirement(key, "exists"))
            elif op in ("=", "==", "!="):
                take()
                value = tokens[i] if i < len(tokens) and tokens[i] != "," else ""
                if value:
                    take()
                out.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
            elif op in ("in", "notin"):
                take()
                if take() != "(":
                    raise ValueError(f"unable to parse requirement: found '{tokens[i - 1]}', expected: '('")
                values = []
                while (token := take()) != ")":
                    if token != ",":
                        values.append(token)
                out.append(Requirement(key, op, tuple(values)))
            elif op in ("<", ">"):
                take()
                value = take()
                if not value.lstrip("-").isdigit():
                    raise ValueError("unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer")
                out.append(Requirement(key, "gt" if op == ">" else "lt", (value,)))
            else:
                raise ValueError(f"unable to parse requirement: found '{op}', expected: "
                                 "'=', '!=', '==', 'in', notin'")
        if i < len(tokens):
            if tokens[i] != ",":
                raise ValueError(f"unable to parse requirement: found '{tokens[i]}', expected: ','")
            i += 1
    return out


def labels_match(requirements: list[Requirement], labels: dict | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in requirements)


def selector_from_label_selector(selector: dict | None) -> list[Requirement]:
    """A metav1.LabelSelector (matchLabels/matchExpressions) as requirements."""
    selector = selector or {}
    out = [Requirement(k, "=", (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        out.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return out


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    negate: bool
    value: str

    def matches(self, obj: dict) -> bool:
        return (field_value(obj, self.path) == self.value) != self.negate


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_field_selector(text: str | None, allowed: set[str], *,
                         default_conversion: bool = False) -> list[FieldRequirement]:
    """Parse a field selector over the `allowed` fields. Types with their own field-label
    conversion (pods, nodes, secrets, custom resources, ...) refuse others as
    "field label not supported"; types with the default one (configmaps, deployments, ...)
    name the two they do support, as kube-apiserver does."""
    if not text or not text.strip():
        return []
    out = []
    for term in _split_unescaped(text, ","):
        match = re.match(r"^((?:[^\\!=]|\\.)*)(!=|==|=)(.*)$", term)
        if not match:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = _unescape(match.group(1).strip()), match.group(2), _unescape(match.group(3))
        if path not in allowed:
            if default_conversion:
                raise ValueError(f'"{path}" is not a known field selector: only "metadata.name", "metadata.namespace"')
            raise ValueError(f'field label not supported: {path}')
        out.append(FieldRequirement(path, op == "!=", value))
    return out


def field_value(obj: dict, path: str) -> str:
    """The string a field selector compares with (missing fields read as the empty string)."""
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def fields_match(requirements: list[FieldRequirement], obj: dict) -> bool:
    return all(r.matches(obj) for r in requirements)
