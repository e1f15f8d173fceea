#!/usr/bin/env bash
# CI step for the Flux flow (examples/flux/kustomization.yaml): render the NetworkSpec of main and
# commit the result to the `rendered` branch that Flux follows. `spiderpool render` exits 1 with
# the reason (file:line) when the spec is invalid, renders nothing or disables every pool, so a
# broken or empty spec never reaches the branch Flux prunes by.
#   usage: render-and-commit.sh SPEC_DIR OUT_PATH   (e.g. clusters/prod/network clusters/prod/network.yaml)
set -euo pipefail
spec_dir=$1 out_path=$2
sha=$(git rev-parse HEAD)
rendered=$(mktemp)
spiderpool render "$spec_dir" > "$rendered"
work=$(mktemp -d)
if git rev-parse -q --verify refs/heads/rendered >/dev/null; then
    git worktree add -q "$work" rendered
else  # the first time: a branch of its own history, holding only rendered objects
    git worktree add -q --detach "$work"
    git -C "$work" checkout -q --orphan rendered
    git -C "$work" rm -rfq .
fi
mkdir -p "$work/$(dirname "$out_path")"
cp "$rendered" "$work/$out_path"
git -C "$work" add "$out_path"
git -C "$work" diff --cached --quiet || git -C "$work" commit -q -m "render $spec_dir at $sha"
git worktree remove "$work"
