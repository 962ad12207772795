"""make bench (fleet part): playbooks/backup_ready.yml on a fresh and on an already converged world of
N SQL VMs (forks 10), then playbooks/compliance.yml --check on it: wall time and the world's request
counts (ARM, Graph, token, TDS; reads and writes).

    .venv/bin/python bench/fleet.py [--vms 100] [--forks 10]

The world is tests/sim's generated fleet (--generate N: nine eligible VMs in ten, one SQL Server 2022
CU16), with an sa login and a small database on every SQL Server so the SQL steps run too.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lib"))
sys.path.insert(0, str(ROOT / "tests" / "sim"))

import world as world_lib  # noqa: E402  pylint: disable=wrong-import-position

WORLD_VARS = ROOT / "playbooks" / "inventories" / "world.yml"


def fleet_scenario(count, path):
    from azsim import scenario  # tests/sim/azsim: the world's own generator

    sql_login = yaml.safe_load(WORLD_VARS.read_text())
    raw = scenario.generate(count)
    for group in raw["subscriptions"][0]["resource_groups"]:
        for vm in group["vms"]:
            vm["sql"].update(sa_password=sql_login["sql_login_password"],
                             databases=[{"name": "app", "size_mb": 16, "tables": {"orders": {"generate": 50}}}])
    raw.setdefault("automation", {"display_name": "sqlvm-automation",
                                  "roles": [{"role": "Owner", "scope": "subscription"}],
                                  "directory_roles": ["Privileged Role Administrator"]})
    raw["directory"].setdefault("service_principals", [{"display_name": "backup-operator-app"}])
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_playbook(world, workdir, playbook, forks, check=False):
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("AZURE_", "SIM_", "ANSIBLE_", "IDENTITY_", "MSI_"))}
    environ.update(world.env)
    environ.update({"ANSIBLE_COLLECTIONS_PATH": str(ROOT / "build" / "collections"), "ANSIBLE_PIPELINING": "true",
                    "ANSIBLE_NOCOLOR": "1", "XDG_CACHE_HOME": str(workdir / "cache"),
                    "PATH": "%s:%s" % (ROOT / ".venv" / "bin", os.environ.get("PATH", ""))})
    command = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", world.env["SIM_INVENTORY"],
               "-e", "@%s" % WORLD_VARS, "-e", "compliance_report_dir=%s" % (workdir / "report"),
               "-f", str(forks), str(ROOT / "playbooks" / playbook)] + (["--check"] if check else [])
    world.admin.clear_log()
    started = time.monotonic()
    completed = subprocess.run(command, env=environ, cwd=str(workdir), capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    counts = world.admin.counts()
    if completed.returncode != 0:
        print(completed.stdout[-3000:], completed.stderr[-2000:])
    return completed.returncode, seconds, counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--forks", type=int, default=10)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sqlvm-bench-fleet-",
                                    dir=str(ROOT / "build") if (ROOT / "build").is_dir() else None))
    scenario = fleet_scenario(args.vms, workdir / "scenario.yml")
    world = world_lib.World(workdir / "world", scenario=scenario).start()
    failures = 0
    try:
        print("fleet bench: %d SQL VMs, forks %d, pipelining on; load average %.2f %.2f %.2f on %d CPUs"
              % ((args.vms, args.forks) + os.getloadavg() + (os.cpu_count(),)))
        header = ("run", "rc", "wall s", "requests", "writes", "arm", "graph", "tds")
        print("%-40s %4s %9s %8s %8s %8s %8s %8s" % header)
        for label, playbook, check in (("backup_ready.yml, fresh world", "backup_ready.yml", False),
                                       ("backup_ready.yml, converged world", "backup_ready.yml", False),
                                       ("compliance.yml --check", "compliance.yml", True)):
            rc, seconds, counts = run_playbook(world, workdir, playbook, args.forks, check)
            failures += rc != 0
            by = counts.get("by_service", {})
            print("%-40s %4d %9.1f %8d %8d %8s %8s %8s" % (
                label, rc, seconds, counts["total"], counts["write"],
                "%d/%d" % (by.get("arm", {}).get("read", 0), by.get("arm", {}).get("write", 0)),
                "%d/%d" % (by.get("graph", {}).get("read", 0), by.get("graph", {}).get("write", 0)),
                "%d/%d" % (by.get("tds", {}).get("read", 0), by.get("tds", {}).get("write", 0))))
        print("(arm, graph, tds: reads/writes; requests include token requests)")
    finally:
        world.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
