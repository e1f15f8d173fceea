#!/bin/sh
# Install and update hook of the `spiderpool` Helm plugin.
#
# Builds the plugin's own virtualenv (see lib.sh for where) and pip-installs the
# spiderpool-gitops distribution from the repository this plugin directory belongs to:
# the parent of helm-plugin/. `helm plugin install ./helm-plugin` symlinks the directory
# into Helm's plugins dir, so the real path is resolved first (cd -P).
#
# The virtualenv is made with --system-site-packages, so dependencies the system Python
# already has (ruamel.yaml, jsonschema, netaddr) are reused instead of downloaded, and
# --without-pip, so the pip the interpreter already has is used instead of a fresh copy
# bundled by ensurepip (seconds faster; ensurepip remains the fallback).
#
# The package is installed in editable mode: Helm keeps a locally installed plugin as a
# symlink to the checkout ("development mode", `helm plugin update` is a no-op for it),
# so the CLI follows the checkout's code just as plugin.yaml and the shim do, instead of
# silently running whatever was current at install time. Re-running this script (the
# update hook) refreshes the dependencies.
#
# Environment: SPIDERPOOL_PYTHON picks the interpreter (default: the first of python3,
# python3.14 ... python3.11 that is 3.11 or newer). Exit 0 on success, 1 with a one-line
# reason on stderr otherwise.
set -u

script_dir=$(CDPATH='' cd -P -- "$(dirname -- "$0")" && pwd -P) || exit 1
plugin_dir=$(dirname -- "$script_dir")
repo_dir=$(dirname -- "$plugin_dir")
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$script_dir/lib.sh"

min_python=3.11   # keep in step with requires-python in pyproject.toml

python_ok() {  # python_ok INTERPRETER: is it runnable and new enough?
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

find_python() {
    if [ -n "${SPIDERPOOL_PYTHON:-}" ]; then
        command -v -- "$SPIDERPOOL_PYTHON" >/dev/null 2>&1 \
            || die "SPIDERPOOL_PYTHON=$SPIDERPOOL_PYTHON: no such interpreter"
        python_ok "$SPIDERPOOL_PYTHON" \
            || die "SPIDERPOOL_PYTHON=$SPIDERPOOL_PYTHON is not Python $min_python or newer"
        command -v -- "$SPIDERPOOL_PYTHON"
        return
    fi
    for candidate in python3 python3.14 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            command -v "$candidate"
            return
        fi
    done
    if command -v python3 >/dev/null 2>&1; then
        die "python3 is $(python3 -c 'import platform; print(platform.python_version())' 2>/dev/null || echo unusable); spiderpool needs Python $min_python or newer (set SPIDERPOOL_PYTHON to one)"
    fi
    die "python3 not found on PATH; spiderpool needs Python $min_python or newer (set SPIDERPOOL_PYTHON to one)"
}

# ensure_pip VENV: make `VENV/bin/python -m pip` work (pip 21.3+, for editable installs).
ensure_pip() {
    pip_new_enough='import sys; from pip import __version__ as v; sys.exit(tuple(map(int, v.split(".")[:2])) < (21, 3))'
    "$1/bin/python" -c "$pip_new_enough" >/dev/null 2>&1 && return
    say "bootstrapping pip with ensurepip"
    "$1/bin/python" -m ensurepip --upgrade --default-pip >/dev/null 2>&1 \
        || die "no usable pip for $python (pip 21.3 or newer needed; install python3-pip or python3-venv)"
}

grep -qs '^name = "spiderpool-gitops"' "$repo_dir/pyproject.toml" \
    || die "$repo_dir is not a spiderpool-gitops checkout (no pyproject.toml naming it); install the plugin from the repository's helm-plugin/ directory"

python=$(find_python) || exit 1
venv=$(spiderpool_venv_dir "$plugin_dir")
say "using $python ($("$python" -c 'import platform; print(platform.python_version())'))"

if [ -x "$venv/bin/python" ] && python_ok "$venv/bin/python"; then
    say "reusing virtualenv $venv"
else
    say "creating virtualenv $venv"
    rm -rf -- "$venv"
    mkdir -p -- "$(dirname -- "$venv")" || die "cannot create $(dirname -- "$venv")"
    "$python" -m venv --system-site-packages --without-pip "$venv" \
        || die "$python -m venv failed for $venv (on Debian/Ubuntu: apt-get install python3-venv)"
fi
ensure_pip "$venv"

log="$venv/install.log"
say "installing spiderpool-gitops from $repo_dir (pip install --editable; log: $log)"
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input \
        --editable "$repo_dir" >"$log" 2>&1; then
    tail -n 15 -- "$log" >&2
    die "pip install of spiderpool-gitops from $repo_dir failed; full log: $log"
fi
[ -x "$venv/bin/spiderpool" ] || die "pip finished but $venv/bin/spiderpool is missing"
say "installed: $venv/bin/spiderpool"
