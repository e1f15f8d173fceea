"""Errors the reconciler raises, and how a spec error points at its source.

Every problem found in a user's spec becomes a `SpecError`: where it is
(`file:line:col`), which value it is about (a JSON path such as
`spec.ippools[0].gateway`) and what is wrong. Loading and validation collect all
of them and raise one `SpecInvalid`, so a user sees every problem at once.

    ReconcilerError
    ├── SpecLoadError      the path is missing or unreadable (one line, nothing to point at)
    ├── SpecInvalid        one or more SpecErrors: YAML syntax, schema, semantic rules
    └── StateError         a --state file that cannot be read as Kubernetes objects
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Location:
    """A place in a spec file; line and column count from 1."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, order=True)
class SpecError:
    location: Location
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.path}: {self.message}"


class ReconcilerError(Exception):
    """Base of every error this package raises on purpose."""


class SpecLoadError(ReconcilerError):
    """The spec path cannot be read at all."""


class SpecInvalid(ReconcilerError):
    def __init__(self, errors: list[SpecError]):
        self.errors = sorted(set(errors))
        super().__init__(f"{len(self.errors)} error(s) in the spec")


class StateError(ReconcilerError):
    """A cluster state file (`plan --offline --state FILE`) that cannot be used."""
