#!/usr/bin/env bash
# The container image's install steps, shared by the Dockerfile and a test that runs them in a
# fresh virtual environment (CI has no Docker engine, so a broken step must fail there too).
#
#   install_image.sh wheels SRC WHEELS   builder stage: wheels of gossipsim (from the source tree
#                                        SRC) and of every dependency, into WHEELS
#   install_image.sh install WHEELS VENV runtime stage: a new virtual environment VENV with
#                                        gossipsim installed from WHEELS alone (no index), checked
#
# PYTHON names the interpreter that builds the wheels and the environment (default: python3).
# Pip's cache is used unless PIP_NO_CACHE_DIR is set (the Dockerfile sets it: smaller layers).
set -euo pipefail

PYTHON="${PYTHON:-python3}"

usage() {
    echo "usage: $0 wheels SRC WHEELS | install WHEELS VENV" >&2
    exit 2
}

build_wheels() {
    local src wheels="$2"
    src="$(cd "$1" && pwd)"  # a path, so pip never reads it as a project name
    mkdir -p "$wheels"
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$wheels" "$src"
}

install_wheels() {
    local wheels="$1" venv="$2"
    "$PYTHON" -m venv "$venv"
    # --no-index: the runtime stage installs exactly what the builder stage resolved
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index \
        --find-links "$wheels" gossipsim
    # Fail the build here, not in a pod: the CLI starts and the compiled kernels' module loads.
    "$venv/bin/gossipsim" --help >/dev/null
    "$venv/bin/python" -c "import gossipsim.node.kernels"
}

[ $# -eq 3 ] || usage
case "$1" in
    wheels) build_wheels "$2" "$3" ;;
    install) install_wheels "$2" "$3" ;;
    *) usage ;;
esac
