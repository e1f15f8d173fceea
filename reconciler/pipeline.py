"""The one chain every front door uses: load -> schema -> model -> rules -> render.

`validate`, `render`, `plan` and (later) `apply`, `watch` and the Argo CD plugin all
call these functions, so they can never disagree about what a spec means. An
invalid spec raises `SpecInvalid` with every error, before anything is rendered.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from . import model, render as rendering
from .errors import SpecError, SpecInvalid
from .loader import SourceMap, load_spec
from .schema import schema_errors
from .validate import validate_and_parse


@dataclass(frozen=True)
class ValidSpec:
    spec: model.NetworkSpec
    sources: SourceMap
    addresses: Mapping[tuple[str, str], model.Addresses]  # parsed by the validator, written out by render


def load_and_validate(path: str | os.PathLike) -> ValidSpec:
    loaded = load_spec(path)
    errors = schema_errors(loaded.data, loaded.sources)
    if errors:
        raise SpecInvalid(errors + _semantic_despite(errors, loaded))
    spec = model.build(loaded.data)
    errors, addresses = validate_and_parse(spec, loaded.sources)
    if errors:
        raise SpecInvalid(errors)
    return ValidSpec(spec, loaded.sources, addresses)


def render_valid(valid: ValidSpec) -> list[dict]:
    return rendering.render(valid.spec, valid.sources, valid.addresses)


def render_path(path: str | os.PathLike) -> list[dict]:
    """The Kubernetes objects a spec stands for; raises SpecInvalid/SpecLoadError."""
    return render_valid(load_and_validate(path))


def _item(path: str) -> str:
    """The spec item an error is about: `spec.ippools[3]` for `spec.ippools[3].gateway`, else the
    first two segments (`spec.cluster`)."""
    head, bracket, _ = path.partition("]")
    if bracket:
        return head + "]"
    return ".".join(path.split(".")[:2])


def _semantic_despite(schema: list[SpecError], loaded) -> list[SpecError]:
    """The semantic errors of a spec with schema errors, where the document is still readable:
    all of them at once, not one kind after the other. Only errors about items the schema found
    nothing wrong with are kept (a broken item's semantic errors would only echo its schema
    error), and none when the document cannot be read as a spec at all."""
    broken = {_item(e.path) for e in schema}
    if any(item in ("$", "spec", "") or not item.startswith("spec.") for item in broken):
        return []
    try:
        spec = model.build(loaded.data)
        semantic, _ = validate_and_parse(spec, loaded.sources)
    except Exception:  # noqa: BLE001 - a document too broken to model: the schema errors say why
        return []
    return [e for e in semantic if _item(e.path) not in broken]



def empty_render_error(valid: ValidSpec, objects: list[dict]) -> SpecError | None:
    """Why a render must not be handed to a GitOps tool as it is, or None.

    An empty render (a spec that declares nothing that becomes an object) lets Argo CD's
    auto-prune or Flux's prune delete everything the spec owned; a spec whose every pool is
    disabled leaves pods no address to get. Both are refused unless the caller says
    `--allow-empty`; the error points at the spec (or at the first pool's `disable`)."""
    spec = valid.spec
    if not objects:
        return valid.sources.error(
            ("spec",), "renders no objects: Argo CD or Flux would prune everything this spec owns; "
                       "declare something, or pass --allow-empty if that is what you want", key=True)
    pools = [p for p in spec.ippools]
    if pools and all(p.disable for p in pools):
        return valid.sources.error(
            pools[0].path + ("disable",),
            f"every pool of the spec is disabled ({len(pools)} of {len(pools)}): no pod could get an address; "
            "enable one, or pass --allow-empty if that is what you want")
    return None
