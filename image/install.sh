#!/bin/sh
# The image's install step, also run by the tests (tests/chart/test_package.py) in a fresh
# directory, since no container engine runs there:
#
#     image/install.sh PREFIX WHEEL
#
# makes a virtualenv at PREFIX with the wheel and its dependencies, then checks that the CLI
# runs and that the CNI plugins it installs run standalone (python3 -IS, standard library only).
set -eu
prefix=${1:?usage: install.sh PREFIX WHEEL}
wheel=${2:?usage: install.sh PREFIX WHEEL}
python=${PYTHON:-python3}

"$python" -m venv "$prefix"
"$prefix/bin/pip" install --no-cache-dir --disable-pip-version-check -q "$wheel"

# smoke test: the CLI, and the plugins it writes, outside the virtualenv
"$prefix/bin/spiderpool" --help >/dev/null
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
"$prefix/bin/spiderpool" install-cni --dest "$check" >/dev/null
for plugin in spiderpool coordinator ifacer; do
    CNI_COMMAND=VERSION "$check/$plugin" </dev/null | grep -q '"supportedVersions"'
done
echo "installed spiderpool-gitops into $prefix"
