"""spiderpool-gitops reconciler: spec loading, validation, rendering, planning and the CLI."""

__version__ = "0.1.0"
