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
from .errors import SpecInvalid
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
        raise SpecInvalid(errors)
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
