#!/usr/bin/env bash
# Installs everything the project needs on a Debian 12 machine: Debian packages (bindep.txt),
# Node.js for Azurite, the Python virtual environment (tests/requirements.txt) and the npm
# packages of the test world (tests/sim/package-lock.json). Safe to run again: each step skips
# what is already in place.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in $(awk '/^[^#]/ && /platform:dpkg/ && !/compile/ {print $1}' bindep.txt) unixodbc-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v "$PYTHON" >/dev/null 2>&1 || missing+=(python3 python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

stamp="$VENV/.requirements.sha256"
want=$(cat requirements.txt tests/requirements.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "deps: installing Python packages into $VENV"
  "$VENV/bin/python" -m pip install -q -r tests/requirements.txt
  echo "$want" > "$stamp"
fi

if [ -f tests/sim/package-lock.json ]; then
  lock=$(sha256sum tests/sim/package-lock.json | cut -d' ' -f1)
  if [ "$(cat tests/sim/node_modules/.lock.sha256 2>/dev/null)" != "$lock" ]; then
    echo "deps: installing npm packages of the test world"
    (cd tests/sim && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock" > tests/sim/node_modules/.lock.sha256
  fi
fi

# The collection must sit at ansible_collections/sqlvm/backup for ansible-playbook to find it.
mkdir -p build/collections/ansible_collections/sqlvm
ln -sfn "$(pwd)" build/collections/ansible_collections/sqlvm/backup
echo "deps: ready"
