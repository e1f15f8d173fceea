"""How NodeReports read: a table of nodes with a line per finding, and JSON (`spiderpool drift`).

Each node agent keeps a NodeReport of what its node sees that differs from the spec; this
module turns them into strings and plain dicts, in the style of `statusview`. The CLI prints.
"""

from __future__ import annotations

from . import tables
from .model import Object
from .tables import age
SEVERITY_ORDER = {"Error": 0, "Warning": 1, "Info": 2}


def _findings(report: Object) -> list[Object]:
    findings = (report.get("status") or {}).get("findings") or []
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.get("severity", ""), 3), f.get("type", ""),
                                           _where(f)))


def _where(finding: Object) -> str:
    obj = finding.get("object") or {}
    namespace = obj.get("namespace")
    return f"{obj.get('kind', '?')} {namespace + '/' if namespace else ''}{obj.get('name', '?')}"


def summary(report: Object) -> Object:
    status = report.get("status") or {}
    findings = _findings(report)
    return {"node": status.get("node") or report["metadata"]["name"], "findingCount": len(findings),
            "observedAt": status.get("observedAt"), "findings": findings}


def has_errors(reports: list[Object]) -> bool:
    return any(f.get("severity") == "Error" for r in reports for f in _findings(r))


def table(reports: list[Object]) -> str:
    if not reports:
        return "No NodeReport found: no node agent has reported yet.\n"
    lines = []
    rows = [["NODE", "FINDINGS", "TYPES", "OBSERVED"]]
    ordered = sorted(reports, key=lambda r: summary(r)["node"])
    for report in ordered:
        s = summary(report)
        types = ",".join(sorted({f.get("type", "?") for f in s["findings"]})) or "-"
        rows.append([s["node"], str(s["findingCount"]), types, age(s["observedAt"])])
    lines.append(tables.table(rows[0], rows[1:]))
    details = [["", "NODE", "SEVERITY", "TYPE", "OBJECT", "SINCE", "MESSAGE"]]
    for report in ordered:
        s = summary(report)
        for f in s["findings"]:
            details.append(["", s["node"], f.get("severity", "?"), f.get("type", "?"), _where(f),
                            age(f.get("since")), f.get("message", "")])
    if len(details) > 1:
        lines.append("\nFindings:\n" + tables.table(details[0], details[1:]))
    return "".join(lines)
