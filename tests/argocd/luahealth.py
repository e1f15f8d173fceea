"""Argo CD's Lua health checks, run the way Argo CD runs them, and the argocd-cm that ships them.

`health(script, obj)` mirrors Argo CD v3.6 `util/lua/lua.go` (VM.ExecuteHealthLua) on a Lua 5.1
VM (`lupa.lua51`; Argo CD embeds gopher-lua, a Lua 5.1): the live object is the global `obj`,
only the libraries Argo CD opens when `useOpenLibs` is off are there (base, table, package and a
safe os; no string, no math, no io), and the returned table becomes {status, message, deletionMessage}; a status
outside Healthy/Progressing/Degraded/Suspended/Missing/Unknown becomes Unknown with Argo CD's
message. `cases()` reads every `health_test.yaml` (`tests: [{healthStatus: {status, message},
inputPath}]`, inputPath relative to it) as Argo CD's util/lua/health_test.go does.

`python -m tests.argocd.luahealth` rewrites examples/argocd/argocd-cm-health.yaml (the argocd-cm
patch carrying the scripts as `resource.customizations.health.<group>_<Kind>`) from the
health.lua files.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2] / "examples" / "argocd"
CUSTOMIZATIONS = ROOT / "resource_customizations"
ARGOCD_CM = ROOT / "argocd-cm-health.yaml"
VALID = ("Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown")
INVALID_HEALTH_STATUS = "Lua returned an invalid health status"  # util/lua/lua.go invalidHealthStatus

_SANDBOX = """
local script = ...
local env = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  select = select, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
  xpcall = xpcall, rawequal = rawequal, rawget = rawget, rawset = rawset, setmetatable = setmetatable,
  getmetatable = getmetatable, print = print, _VERSION = _VERSION,
  table = table, os = {time = os.time, date = os.date, clock = os.clock, difftime = os.difftime},
}
env._G = env
return function(object)
  env.obj = object
  local chunk, err = loadstring(script, "health.lua")
  if chunk == nil then error(err) end
  setfenv(chunk, env)
  return chunk()
end
"""


@dataclass(frozen=True)
class Case:
    kind_dir: Path
    input_path: str
    expected: dict

    @property
    def id(self) -> str:
        return f"{self.kind_dir.relative_to(CUSTOMIZATIONS)}/{self.input_path}"


def _to_lua(lua, value):
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


def _from_lua(value):
    if hasattr(value, "items"):
        return {k: _from_lua(v) for k, v in value.items()}
    return value


def health(script: str, obj: dict) -> dict | None:
    """{status, message} as Argo CD reports it (message left out when empty), None for a nil return."""
    from lupa.lua51 import LuaRuntime

    lua = LuaRuntime(unpack_returned_tuples=False, register_eval=False)
    run = lua.execute(_SANDBOX, script)
    result = run(_to_lua(lua, obj))
    if result is None:
        return None
    table = _from_lua(result)
    if not isinstance(table, dict):
        raise TypeError(f"expect table output from health.lua, got {type(table).__name__}")
    status = table.get("status", "")
    if status not in VALID:
        return {"status": "Unknown", "message": INVALID_HEALTH_STATUS}
    return {"status": status, **{k: table[k] for k in ("message", "deletionMessage") if table.get(k)}}


def resource_health(result: dict | None, obj: dict) -> dict | None:
    """What Argo CD reports from a script's result (gitops-engine health.GetResourceHealth with
    pendingDeletionHealth): for an object being deleted (not by an Argo CD hook), the script's
    status with its `deletionMessage`, else Progressing "Pending deletion; blocked by finalizers: ..."."""
    meta = obj.get("metadata") or {}
    finalizers = meta.get("finalizers") or []
    if result is None or not meta.get("deletionTimestamp") or "argocd.argoproj.io/hook-finalizer" in finalizers:
        return None if result is None else {k: v for k, v in result.items() if k != "deletionMessage"}
    if result.get("deletionMessage"):
        return {"status": result["status"], "message": result["deletionMessage"]}
    return {"status": "Progressing", "message": "Pending deletion" + (
        "; blocked by finalizers: " + ", ".join(finalizers) if finalizers else "")}


def kind_dirs() -> list[Path]:
    return sorted(p.parent for p in CUSTOMIZATIONS.glob("*/*/health.lua"))


def cases() -> list[Case]:
    out = []
    for directory in kind_dirs():
        spec = yaml.safe_load((directory / "health_test.yaml").read_text())
        for test in spec["tests"]:
            expected = {k: v for k, v in test["healthStatus"].items() if v not in (None, "")}
            out.append(Case(directory, test["inputPath"], expected))
    return out


def config_key(directory: Path) -> str:
    """argocd-cm's `resource.customizations.health.<group>_<Kind>` (util/lua GetConfigMapKey)."""
    return f"resource.customizations.health.{directory.parent.name}_{directory.name}"


def argocd_cm() -> str:
    """The argocd-cm patch that installs every health.lua (a kustomize strategic merge patch)."""

    class Literal(str):
        pass

    yaml.add_representer(Literal, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", data,
                                                                               style="|"))
    data = {config_key(d): Literal((d / "health.lua").read_text()) for d in kind_dirs()}
    body = yaml.dump({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "argocd-cm", "labels": {"app.kubernetes.io/name": "argocd-cm",
                                                                   "app.kubernetes.io/part-of": "argocd"}},
                      "data": data}, sort_keys=False, width=1000)
    return ("# Generated from resource_customizations/*/*/health.lua by `python -m tests.argocd.luahealth`;\n"
            "# do not edit. Merged into Argo CD's argocd-cm by kustomization.yaml.\n" + body)


def main() -> int:
    ARGOCD_CM.write_text(argocd_cm())
    print(ARGOCD_CM)
    return 0


if __name__ == "__main__":
    sys.exit(main())
