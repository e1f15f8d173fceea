# Shared by bin/helm-spiderpool and scripts/install.sh (sourced, POSIX sh): where the
# plugin's virtualenv lives and how the plugin talks.
#
# The virtualenv sits outside the repository, in Helm's data directory, so that a checkout
# stays clean and `helm plugin uninstall` + reinstall from another checkout reuses the spot.
# Without HELM_DATA_HOME (the shim run by hand) it falls back to <plugin dir>/.venv.

# spiderpool_venv_dir PLUGIN_DIR: print the virtualenv directory.
spiderpool_venv_dir() {
    if [ -n "${HELM_DATA_HOME:-}" ]; then
        printf '%s\n' "$HELM_DATA_HOME/spiderpool-gitops/venv"
    else
        printf '%s\n' "${HELM_PLUGIN_DIR:-$1}/.venv"
    fi
}

say() {
    printf 'spiderpool: %s\n' "$*"
}

# die MESSAGE: the one-line reason on stderr, then exit 1.
die() {
    printf 'spiderpool: error: %s\n' "$*" >&2
    exit 1
}
