"""Put the CNI plugin executables where a container runtime looks for them.

Why it exists: the runtime execs plugins by file name from its plugin dir
(e.g. /opt/cni/bin), with no virtualenv and no PYTHONPATH. Each plugin module is
therefore written there as a standalone script whose shebang runs the base
interpreter (not the venv's link to it) with `-IS`: isolated (no PYTHON* env,
no user site) and no `site` import at all, which is both faster to start and
independent of this project's install.

Python compiles a script on every run (only imported modules get cached
bytecode), which is ~4 ms of each pod's ADD for the plugin. So the script
carries the module twice: SOURCE, readable (verbatim, with `cni/pluginwire.py`
inlined where the module marks its import), and CODE, the same
compiled for this interpreter and marshalled; it runs CODE when the interpreter
matches and compiles SOURCE otherwise. Writes are atomic (temp file + rename)
and idempotent (an identical file is left untouched).
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# executable name -> the module whose file becomes it. A second plugin is one more line.
PLUGINS: dict[str, str] = {
    "spiderpool": "cni.plugin",
    "coordinator": "coordinator.plugin",
    "ifacer": "cni.ifacer",
}
DEFAULT_DEST = "/opt/cni/bin"
INTERPRETER_FLAGS = "-IS"  # one word: the kernel passes everything after the interpreter as one argument
SHEBANG_MAX = 255
MODE = 0o755


class InstallError(Exception):
    """The plugins cannot be written as asked (bad interpreter path, unwritable dir)."""


@dataclass(frozen=True)
class Installed:
    path: Path
    changed: bool  # False: an identical executable was already there


def default_interpreter() -> str:
    """The real file of the interpreter running us, outside any virtualenv."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base)


def shebang(interpreter: str) -> str:
    line = f"#!{interpreter} {INTERPRETER_FLAGS}"
    if not os.path.isabs(interpreter) or any(c.isspace() for c in interpreter):
        raise InstallError(f"the interpreter path {interpreter!r} must be absolute and contain no whitespace")
    if len(line) > SHEBANG_MAX:
        raise InstallError(f"the shebang line for {interpreter!r} is longer than the kernel reads ({SHEBANG_MAX})")
    return line


SCRIPT = """{shebang}
# The `{name}` CNI plugin, written by `spiderpool install-cni` from {module}; do not edit.
# SOURCE is {module} verbatim; CODE is it compiled for {tag} (used when this interpreter matches).
import sys

SOURCE = r'''{source}'''
CODE = {code}


def _code():
    if sys.implementation.cache_tag == {tag!r}:
        import marshal
        try:
            return marshal.loads(CODE)
        except (EOFError, ValueError, TypeError):
            pass
    return compile(SOURCE, {filename!r}, "exec")


exec(_code(), {{"__name__": "__main__", "__file__": __file__}})
"""


INLINE_MARKER = "# install-cni: inline"
INLINE_LINE = re.compile(r"^from ([\w.]+) import (?:[\w, ]+|\([\w,\s]+\))  " + re.escape(INLINE_MARKER) + "$",
                         re.MULTILINE)


def _source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise InstallError(f"cannot find the source of {module}")
    return Path(spec.origin).read_text(encoding="utf-8")


def bundled_source(module: str) -> str:
    """`module`'s source with each `from X import ...  # install-cni: inline` line replaced by X's source."""

    def inline(match: re.Match) -> str:
        part = _source(match.group(1))
        if INLINE_LINE.search(part) or re.search(r"^from __future__ ", part, re.MULTILINE):
            raise InstallError(f"{match.group(1)} cannot be inlined (it has inline imports or a __future__ import)")
        return f"# ---- {match.group(1)}, inlined by install-cni\n{part}# ---- end of {match.group(1)}"

    return INLINE_LINE.sub(inline, _source(module))


def executable_text(name: str, module: str, interpreter: str) -> str:
    """The standalone script for `module`: shebang, its bundled source, and the precompiled code."""
    source = bundled_source(module)
    if "'''" in source or source.endswith("\\"):
        raise InstallError(f"{module} cannot be embedded in a raw '''-string")
    filename = module.replace(".", "/") + ".py"
    code = marshal.dumps(compile(source, filename, "exec"))
    return SCRIPT.format(shebang=shebang(interpreter), name=name, module=module, tag=sys.implementation.cache_tag,
                         source=source, code=repr(code), filename=filename)


def install(dest: str | os.PathLike = DEFAULT_DEST, *, interpreter: str | None = None,
            plugins: dict[str, str] | None = None) -> list[Installed]:
    """Write every plugin into `dest` (created if missing) -> what was written or already current."""
    interpreter = interpreter or default_interpreter()
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        return [_write(dest / name, executable_text(name, module, interpreter))
                for name, module in (plugins or PLUGINS).items()]
    except OSError as exc:
        raise InstallError(f"cannot install into {dest}: {exc.strerror or exc}") from exc


def _without_code(text: str) -> str:
    """The script minus its CODE line: marshal output may differ between equal compilations."""
    head, _, tail = text.rpartition("\nCODE = ")  # the last one: SOURCE comes before it
    return head + tail.partition("\n")[2]


def _write(path: Path, text: str) -> Installed:
    data = text.encode("utf-8")
    try:
        current = path.read_bytes().decode("utf-8", "replace")
        if _without_code(current) == _without_code(text) and (path.stat().st_mode & 0o7777) == MODE:
            return Installed(path, changed=False)
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), MODE)
            os.fsync(out.fileno())
        os.replace(tmp, path)  # atomic: a runtime execs the old file or the new one, never half of one
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return Installed(path, changed=True)
