"""Find the spec files under a path and merge their NetworkSpec documents into one.

A spec is a file or a directory (searched recursively for `*.yaml`/`*.yml`, hidden
directories skipped). Documents of `kind: NetworkSpec` with the same
`metadata.name` are merged: named lists (zones, subnets, ippools, reservedIPs,
networks) are concatenated, mappings (cluster, calico, coordinator, sync) are
combined key by key. Anything defined twice is an error that names both places.
Documents of other API groups (an Argo CD Application beside the spec, say) are
left alone; one path holds exactly one spec.

The result is the merged data plus a `SourceMap` that answers "where was this
value written?" for any path into the merged data, in the terms of the file the
user edits (file, line, column, and the path as it reads in that document).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from .errors import Location, SpecError, SpecInvalid, SpecLoadError
from .model import DEFAULT_NETWORK_NAMESPACE
from .yamlsource import Document, Path, format_path, load_documents

API_GROUP = "gitops.spidernet.io"
# Bounds on what one spec may make us read. The largest spec we know of (2,000 pools) is 0.4 MB and a
# 20,000-pool one 3.2 MB (2.6 s to validate); past these a spec is a mistake or an attack, and time and
# memory grow with it (50 MB: minutes and gigabytes).
MAX_FILE_BYTES = 4 * 1024 * 1024  # one file
MAX_SPEC_BYTES = 16 * 1024 * 1024  # all the files of one spec together
NAMED_LISTS = ("zones", "subnets", "ippools", "reservedIPs", "networks")
MERGED_MAPS = ("cluster", "calico", "coordinator", "sync")


@dataclass
class SourceMap:
    """Maps paths of the merged spec back to the document that wrote them."""

    documents: list[Document] = field(default_factory=list)
    # merged path prefix -> (document, the same prefix in that document)
    origins: dict[Path, tuple[Document, Path]] = field(default_factory=dict)
    source_root: FsPath | None = None  # annotation paths are relative to this
    _relative_paths: dict[str, str] = field(default_factory=dict, repr=False)

    def _resolve(self, path: Path) -> tuple[Document, Path]:
        for cut in range(len(path), -1, -1):
            hit = self.origins.get(path[:cut])
            if hit:
                doc, local = hit
                return doc, local + path[cut:]
        return self.documents[0], path

    def where(self, path: Path, *, key: bool = False) -> tuple[Location, str]:
        """Location and display path (as written in its document) of a merged path."""
        doc, local = self._resolve(path)
        return doc.location(local, key=key), format_path(local)

    def error(self, path: Path, message: str, *, key: bool = False) -> SpecError:
        location, shown = self.where(path, key=key)
        return SpecError(location, shown, message)

    def annotation(self, path: Path) -> str:
        """`<file>:<line>` for the source annotation, stable across machines."""
        location, _ = self.where(path)
        return f"{self._relative(location.file)}:{location.line}"

    def _relative(self, file: str) -> str:
        cache = self._relative_paths
        if file not in cache:
            resolved = FsPath(file).resolve()
            if self.source_root is not None and resolved.is_relative_to(self.source_root):
                resolved = resolved.relative_to(self.source_root)
            cache[file] = resolved.as_posix()
        return cache[file]


@dataclass
class LoadedSpec:
    data: dict[str, Any]
    sources: SourceMap


def spec_files(path: str | os.PathLike) -> list[FsPath]:
    """The files a spec is read from; a directory entry must stay inside the directory."""
    root = FsPath(path)
    if not root.exists():
        raise SpecLoadError(f"{path}: no such file or directory")
    if not root.is_dir():
        return [root]  # _read refuses anything but a regular file
    inside = os.path.realpath(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [FsPath(dirpath, f) for f in filenames if f.endswith((".yaml", ".yml"))]
    if not found:
        raise SpecLoadError(f"{path}: no *.yaml or *.yml files in this directory")
    for file in found:
        if file.is_symlink():
            target = os.path.realpath(file)
            if os.path.commonpath([target, inside]) != inside:
                raise SpecLoadError(f"{file}: a symbolic link to {target}, outside {path}; "
                                    "a spec directory is read only from files inside it")
    return sorted(found)


def _read(file: FsPath, *, limit: int) -> tuple[str, int]:
    """The text and size of a regular file of at most `limit` bytes; refuses FIFOs and devices without blocking."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SpecLoadError(f"{file}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as stream:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise SpecLoadError(f"{file}: not a regular file ({_file_kind(mode)}); a spec is read from regular files only")
        try:
            data = stream.read(limit + 1)
        except OSError as exc:
            raise SpecLoadError(f"{file}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _TooLarge(file)
    try:
        return data.decode("utf-8"), len(data)
    except UnicodeDecodeError as exc:
        raise SpecLoadError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


class _TooLarge(Exception):
    def __init__(self, file: FsPath):
        self.file = file


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((word for test, word in kinds if test(mode)), "not a file")


def _read_all(path: str | os.PathLike, files: list[FsPath]) -> list[tuple[FsPath, str]]:
    """Every file's text, within MAX_FILE_BYTES each and MAX_SPEC_BYTES together."""
    texts, total = [], 0
    for file in files:
        try:
            text, size = _read(file, limit=min(MAX_FILE_BYTES, MAX_SPEC_BYTES - total))
        except _TooLarge:
            if MAX_FILE_BYTES <= MAX_SPEC_BYTES - total:
                raise SpecLoadError(f"{file}: larger than {_mib(MAX_FILE_BYTES)}, the limit for one spec file; "
                                    "split the spec into several files") from None
            raise SpecLoadError(f"{path}: the spec files add up to more than {_mib(MAX_SPEC_BYTES)} "
                                f"(the limit for one spec), reached at {file}") from None
        total += size
        texts.append((file, text))
    return texts


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def _is_ours(doc: Document) -> bool:
    if not isinstance(doc.data, dict):
        return doc.data is not None  # a scalar or list document is reported, not skipped
    api = doc.data.get("apiVersion")
    return not isinstance(api, str) or api.split("/")[0] == API_GROUP or doc.data.get("kind") == "NetworkSpec"


def load_spec(path: str | os.PathLike) -> LoadedSpec:
    """Load and merge the spec under `path`; raises SpecInvalid or SpecLoadError."""
    documents: list[Document] = []
    errors: list[SpecError] = []
    for file, text in _read_all(path, spec_files(path)):
        docs, errs = load_documents(text, str(file))
        errors += errs
        documents += [d for d in docs if _is_ours(d)]
    if len(documents) > 1:  # one non-mapping document among several: say so, not "a second NetworkSpec None"
        errors += [SpecError(d.location(()), "$", f"expected a mapping (a NetworkSpec), got {_kind_of(d.data)}")
                   for d in documents if not isinstance(d.data, dict)]
    if errors:
        raise SpecInvalid(errors)
    if not documents:
        raise SpecLoadError(f"{path}: no NetworkSpec documents (apiVersion {API_GROUP}/v1alpha1, kind NetworkSpec)")
    sources = SourceMap(documents=documents, source_root=_source_root(FsPath(path)))
    data = _merge(documents, sources, errors)
    if errors:
        raise SpecInvalid(errors)
    return LoadedSpec(data, sources)


def _kind_of(data: Any) -> str:
    return "a list" if isinstance(data, list) else "a string" if isinstance(data, str) else f"the value {data!r}"


def _source_root(path: FsPath) -> FsPath:
    """The git work tree holding the spec, else the spec directory itself."""
    start = path.resolve()
    base = start if start.is_dir() else start.parent
    for candidate in (base, *base.parents):
        if (candidate / ".git").exists():
            return candidate
    return base


def _name_of(doc: Document) -> str | None:
    meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def _merge(documents: list[Document], sources: SourceMap, errors: list[SpecError]) -> dict[str, Any]:
    first = documents[0]
    names = {}
    for doc in documents:
        names.setdefault(_name_of(doc), doc)
    if len(names) > 1:
        (a, da), (b, db) = list(names.items())[:2]
        errors.append(SpecError(db.location(("metadata", "name")), "metadata.name",
                                f"a second NetworkSpec {b!r} (the first is {a!r} at {da.location(('metadata', 'name'))}); "
                                "one path holds one spec: split them into separate directories"))
        return {}
    if not all(isinstance(d.data, dict) for d in documents):
        # the schema check reports a non-mapping document precisely; keep the first only
        sources.origins[()] = (first, ())
        return first.data
    merged: dict[str, Any] = {}
    sources.origins[()] = (first, ())
    for doc in documents:
        _merge_document(doc, merged, sources, errors)
    return merged


def _merge_document(doc: Document, merged: dict, sources: SourceMap, errors: list[SpecError]) -> None:
    for key, value in doc.data.items():
        if key != "spec" or not isinstance(value, dict):
            if key == "metadata" and isinstance(value, dict) and isinstance(merged.get(key), dict):
                _merge_map(doc, ("metadata",), value, merged[key], sources, errors, depth=1)
            elif key not in merged:
                merged[key] = value
                sources.origins[(key,)] = (doc, (key,))
            continue
        spec = merged.setdefault("spec", {})
        sources.origins.setdefault(("spec",), (doc, ("spec",)))
        for section, content in value.items():
            path = ("spec", section)
            if section in NAMED_LISTS and isinstance(content, list):
                _merge_named(doc, path, content, spec.setdefault(section, []), sources, errors)
            elif section in MERGED_MAPS and isinstance(content, dict) and isinstance(spec.get(section, {}), dict):
                if section not in spec:
                    sources.origins[path] = (doc, path)
                _merge_map(doc, path, content, spec.setdefault(section, {}), sources, errors, depth=1)
            elif section in spec:
                errors.append(_twice(doc, path, sources))
            else:
                spec[section] = content
                sources.origins[path] = (doc, path)


def _merge_map(doc, path, content: dict, target: dict, sources, errors, *, depth: int) -> None:
    for key, value in content.items():
        child = path + (key,)
        if key in target:
            if isinstance(value, dict) and isinstance(target[key], dict) and depth < 2:
                _merge_map(doc, child, value, target[key], sources, errors, depth=depth + 1)
            elif target[key] != value or child[:1] != ("metadata",):
                errors.append(_twice(doc, child, sources))
            continue
        target[key] = value
        sources.origins[child] = (doc, child)


def _merge_named(doc, path, items: list, target: list, sources, errors) -> None:
    seen = {_item_key(path[1], item): i for i, item in enumerate(target)}
    for local_index, item in enumerate(items):
        key = _item_key(path[1], item)
        if key is not None and key in seen:
            errors.append(_twice(doc, path + (local_index, "name"), sources, other=path + (seen[key], "name"),
                                 what=f"{path[1]} entry {key!r}"))
            continue
        merged_index = len(target)
        target.append(item)
        sources.origins[path + (merged_index,)] = (doc, path + (local_index,))
        if key is not None:
            seen[key] = merged_index


def _item_key(section: str, item: Any) -> str | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    if section == "networks":
        return f"{item.get('namespace', DEFAULT_NETWORK_NAMESPACE)}/{item['name']}"
    return item["name"]


def _twice(doc: Document, local: Path, sources: SourceMap, *, other: Path | None = None,
           what: str | None = None) -> SpecError:
    first_location, _ = sources.where(other or local, key=other is None)
    here = doc.location(local, key=other is None)
    subject = f"{what} is defined" if what else "defined"
    return SpecError(here, format_path(local), f"{subject} twice (first at {first_location})")
