#!/usr/bin/env bash
# The virtual environment `make test-lowest` runs in: the collection's requirements (requirements.txt) at their
# LOWER bounds, pinned (azure-core, azure-mgmt-core, azure-identity, pyodbc), so a use of azure-core internals
# that an older release lacks fails a test; the test tools at tests/requirements.txt's pins; azure-storage-blob
# (the SQL test world's backups to URL) at the newest release that accepts those lower bounds.
# Safe to run again: does nothing while the list is unchanged.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${1:-build/venv-lowest}
PYTHON=${PYTHON:-python3}

lowest=$(sed -nE 's/^([A-Za-z0-9_.-]+)[[:space:]]*>=[[:space:]]*([^ ,;#]+).*/\1==\2/p' requirements.txt)
tools=$(grep -E '^(ansible-core|pytest|pytest-xdist|pyyaml)==' tests/requirements.txt)
# The requirement lists are split into one requirement per word on purpose.
# shellcheck disable=SC2086
want=$(printf '%s\n' $lowest $tools azure-storage-blob)
stamp="$VENV/.requirements"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
# shellcheck disable=SC2086
echo "deps-lowest: installing into $VENV:" $want
"$PYTHON" -m venv "$VENV"
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q --disable-pip-version-check $want
echo "$want" > "$stamp"
