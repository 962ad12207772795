#!/usr/bin/env bash
# make demo: start the test world, converge it, back up and restore a database, print the readiness
# report, stop the world. Everything binds 127.0.0.1 on ports the OS picks.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/build/collections"
export ANSIBLE_PIPELINING=true ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=false ANSIBLE_LOCALHOST_WARNING=false
DEMO_VM="${DEMO_VM:-sqlvm-fresh}"
SCENARIO="${DEMO_SCENARIO:-$ROOT/tests/integration/fleet/scenario.yml}"
DEMO_DB="${DEMO_DB:-app}"
STATE="$(mktemp -d "${TMPDIR:-/tmp}/sqlvm-demo.XXXXXX")"
stop_world() { tests/sim/simctl stop --state-dir "$STATE" >/dev/null 2>&1 || true; rm -rf "$STATE"; }
trap stop_world EXIT

step() { printf '\n=== %s\n' "$*"; }
step "Starting the test world (simulated Azure tenant + SQL Server VMs on 127.0.0.1)"
tests/sim/simctl start --state-dir "$STATE" --scenario "$SCENARIO"
set -a; . "$STATE/env.sh"; set +a
export XDG_CACHE_HOME="$STATE/cache"
play() { ansible-playbook -i "$SIM_INVENTORY" -e @playbooks/inventories/world.yml -f 10 "$@"; }

step "Converging every SQL VM to backup-ready (playbooks/backup_ready.yml)"
play playbooks/backup_ready.yml

step "Backing up database '$DEMO_DB' of $DEMO_VM (playbooks/backup.yml)"
play playbooks/backup.yml -l "$DEMO_VM" -e "{\"backup_databases\": [\"$DEMO_DB\"]}" \
  -e "backup_manifest_dir=$STATE/manifests"

step "Restoring it as '${DEMO_DB}_restored' and verifying (playbooks/restore.yml)"
play playbooks/restore.yml -l "$DEMO_VM" -e "restore_source_database=$DEMO_DB" \
  -e "restore_manifest_dir=$STATE/manifests"

step "Readiness report (playbooks/compliance.yml --check)"
play playbooks/compliance.yml --check -e "compliance_report_dir=$STATE/readiness" >/dev/null
cat "$STATE/readiness/readiness.md"
step "Done; stopping the world"
