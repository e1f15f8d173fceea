"""What git knows about a spec path: the commit it was read at, if any.

The only module that runs git. A spec in a clean git work tree is applied as
that commit; anywhere else (no git, not a repository, uncommitted edits) the
caller falls back to a digest of the rendered objects.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def clean_commit(path: str | os.PathLike) -> str | None:
    """HEAD's commit id when `path` is in a git work tree with no uncommitted changes under it."""
    target = Path(path).resolve()
    where = target if target.is_dir() else target.parent
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--", str(target)],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if dirty.returncode != 0 or dirty.stdout.strip():
        return None
    return head.stdout.strip() or None
