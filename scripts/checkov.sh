#!/usr/bin/env bash
# Run checkov (the security scanner of tests/k8s/test_security.py) from a virtual environment
# of its own: checkov pins old releases of networkx and boto3 that gossipsim cannot share.
#
#   scripts/checkov.sh [checkov arguments …]
#   e.g.  kubectl kustomize k8s > /tmp/gossipsim.yaml
#         scripts/checkov.sh --config-file k8s/.checkov.yaml -f /tmp/gossipsim.yaml
#
# The environment is made on first use (about a minute and a half) under
# GOSSIPSIM_CHECKOV_VENV (default: ~/.cache/gossipsim/checkov-<version>) and reused after.
set -euo pipefail

CHECKOV_VERSION=3.3.30
PYTHON="${PYTHON:-python3}"
venv="${GOSSIPSIM_CHECKOV_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gossipsim/checkov-$CHECKOV_VERSION}"

# .installed marks a finished install: an interrupted one is started again from scratch
if [ ! -e "$venv/.installed" ]; then
    mkdir -p "$(dirname "$venv")"
    # one installer at a time when several test processes start together
    exec 9>"$venv.lock"
    flock 9
    if [ ! -e "$venv/.installed" ]; then
        rm -rf "$venv"
        "$PYTHON" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "checkov==$CHECKOV_VERSION" >&2
        touch "$venv/.installed"
    fi
    flock -u 9
fi
exec "$venv/bin/checkov" "$@"
