"""make bench (fleet part): playbooks/backup_ready.yml on a fresh and on an already converged world of
N SQL VMs (forks 10), then playbooks/compliance.yml --check on it - through the playbooks' fleet path (two
run_once fleet reads, then one run_once backup_ready_fleet task for every host's missing writes; docs/design.md
"Fleet path").

    .venv/bin/python bench/fleet.py [--vms 100] [--forks 10]
    .venv/bin/python bench/fleet.py --vms 1000          # the fleet-scale run (docs/development.md figures)
    .venv/bin/python bench/fleet.py --vms 1000 --runs compliance-fresh   # the read-only run alone
    .venv/bin/python bench/fleet.py --per-host          # the per-host path (compliance_fleet/backup_ready_fleet false)
    .venv/bin/python bench/fleet.py --per-host-writes   # fleet reads, but the role writes host by host

Per run: wall seconds, the CPU seconds it used (ansible-playbook and every process it started: the
RUSAGE_CHILDREN difference), the load average when it ended, and the world's requests - ARM, Microsoft Graph
and TDS reads/writes and how many were answered 429 (throttled). Printed first: the floor of this machine, the wall
and CPU seconds of `ansible localhost -m ping` (one Ansible start and one module process), and the load average -
the machine may be shared, so read the figures with these. The world runs in its own process; its CPU is
printed at the end.

The world is tests/sim's generated fleet (--generate N: nine eligible VMs in ten, one SQL Server 2022
CU16), with an sa login and a small database on every SQL Server so the SQL steps run too. It models ARM's
per-principal token buckets (reads 250 burst, 25/s; writes 200 burst, 10/s), so a fresh 1000-VM converge meets
throttling; no task may fail on it.
"""
import argparse
import os
import resource
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


def _environment(world, workdir):
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("AZURE_", "SIM_", "ANSIBLE_", "IDENTITY_", "MSI_"))}
    environ.update(world.env)
    environ.update({"ANSIBLE_COLLECTIONS_PATH": str(ROOT / "build" / "collections"), "ANSIBLE_PIPELINING": "true",
                    "ANSIBLE_NOCOLOR": "1", "XDG_CACHE_HOME": str(workdir / "cache"),
                    "PATH": "%s:%s" % (ROOT / ".venv" / "bin", os.environ.get("PATH", ""))})
    return environ


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command, environ, cwd):
    """(completed process, wall seconds, CPU seconds of the command and every process it started)."""
    cpu, started = _children_cpu(), time.monotonic()
    completed = subprocess.run(command, env=environ, cwd=str(cwd), capture_output=True, text=True, check=False)
    return completed, time.monotonic() - started, _children_cpu() - cpu


def ping_floor(world, workdir):
    command = [str(ROOT / ".venv" / "bin" / "ansible"), "localhost", "-m", "ansible.builtin.ping"]
    completed, seconds, cpu = timed(command, _environment(world, workdir), workdir)
    return completed.returncode, seconds, cpu


def run_playbook(world, workdir, playbook, forks, check=False, per_host=False, per_host_writes=False):
    command = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", world.env["SIM_INVENTORY"],
               "-e", "@%s" % WORLD_VARS, "-e", "compliance_report_dir=%s" % (workdir / "report"),
               "-f", str(forks), str(ROOT / "playbooks" / playbook)] + (["--check"] if check else [])
    if per_host_writes:
        command += ["-e", "backup_ready_batch_writes=false"]
    if per_host:
        command += ["-e", "compliance_fleet=false", "-e", "backup_ready_fleet=false"]
    environ = _environment(world, workdir)
    # The tests' results callback records each task's wall time: where a run spends it (slowest_tasks).
    results = workdir / ("%s-%d.jsonl" % (playbook, time.time()))
    environ.update({"ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "tests" / "lib" / "callback_plugins"),
                    "ANSIBLE_CALLBACKS_ENABLED": "sqlvm_results", "SQLVM_RESULTS_FILE": str(results)})
    world.admin.clear_log()
    completed, seconds, cpu = timed(command, environ, workdir)
    requests = world.admin.requests()
    if completed.returncode != 0:
        print(completed.stdout[-3000:], completed.stderr[-2000:])
    return completed.returncode, seconds, cpu, requests, results


def slowest_tasks(results, count=3):
    """'task (host) seconds' of the slowest task results of a run, and how many task results (workers) it had."""
    import json
    records = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    records.sort(key=lambda r: -(r.get("seconds") or 0))
    return len(records), ["%s %.1f s" % (r["task"].split(" : ")[-1][:48], r.get("seconds") or 0) for r in records[:count]]


def request_counts(requests):
    """Reads/writes per service (arm, graph, tds), token requests, and answers 429."""
    counts = {"tokens": 0, "throttled": 0}
    for entry in requests:
        service = entry.get("service")
        if service in ("arm", "graph", "tds"):
            kind = entry.get("kind") or "read"
            counts.setdefault(service, {"read": 0, "write": 0})
            counts[service][kind] = counts[service].get(kind, 0) + 1
        elif service == "login":
            counts["tokens"] += 1
        if entry.get("status") == 429:
            counts["throttled"] += 1
    return counts


def _pair(counts, service):
    found = counts.get(service, {})
    return "%d/%d" % (found.get("read", 0), found.get("write", 0))


def _process_cpu(pid):
    """User + system CPU seconds of a running process (Linux /proc), or None."""
    try:
        fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


RUNS = {
    "compliance-fresh": ("compliance.yml --check, fresh world", "compliance.yml", True),
    "fresh": ("backup_ready.yml, fresh world", "backup_ready.yml", False),
    "converged": ("backup_ready.yml, converged world", "backup_ready.yml", False),
    "compliance": ("compliance.yml --check", "compliance.yml", True),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--per-host", action="store_true", help="the playbooks' per-host path instead of the fleet path")
    parser.add_argument("--per-host-writes", action="store_true",
                        help="backup_ready.yml reads the fleet at once but writes host by host (backup_ready_batch_writes=false)")
    parser.add_argument("--runs", default="fresh,converged,compliance",
                        help="which runs, in order, comma-separated: compliance-fresh (compliance.yml --check on the "
                             "fresh world), fresh, converged, compliance (default: fresh,converged,compliance)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sqlvm-bench-fleet-",
                                    dir=str(ROOT / "build") if (ROOT / "build").is_dir() else None))
    scenario = fleet_scenario(args.vms, workdir / "scenario.yml")
    whole_cpu, whole_started = _children_cpu(), time.monotonic()
    world = world_lib.World(workdir / "world", scenario=scenario).start()
    pid_file = workdir / "world" / "sim.pid"
    world_pid = pid_file.read_text().strip() if pid_file.exists() else None
    failures = 0
    try:
        rc, seconds, cpu = ping_floor(world, workdir)
        print("fleet bench: %d SQL VMs, forks %d, %s path, pipelining on; %d CPUs, load average %.2f %.2f %.2f"
              % ((args.vms, args.forks, "per-host" if args.per_host else
                  "fleet (per-host writes)" if args.per_host_writes else "fleet", os.cpu_count())
                 + os.getloadavg()))
        print("ping floor (ansible localhost -m ping): rc %d, %.1f s wall, %.1f s CPU" % (rc, seconds, cpu), flush=True)
        header = ("run", "rc", "wall s", "cpu s", "load 1m", "arm r/w", "graph r/w", "tds r/w", "tokens", "429")
        print("%-36s %3s %8s %8s %7s %11s %10s %11s %7s %6s" % header, flush=True)
        for run in args.runs.split(","):
            label, playbook, check = RUNS[run.strip()]
            rc, seconds, cpu, requests, results = run_playbook(world, workdir, playbook, args.forks, check,
                                                               args.per_host, args.per_host_writes)
            failures += rc != 0
            counts = request_counts(requests)
            print("%-36s %3d %8.1f %8.1f %7.2f %11s %10s %11s %7d %6d" % (
                label, rc, seconds, cpu, os.getloadavg()[0], _pair(counts, "arm"), _pair(counts, "graph"),
                _pair(counts, "tds"), counts["tokens"], counts["throttled"]), flush=True)
            workers, slowest = slowest_tasks(results)
            print("    %d task results (one forked worker each); slowest: %s" % (workers, "; ".join(slowest)),
                  flush=True)
        print("(r/w: reads/writes; tokens: sign-in requests; 429: requests answered 'throttled', each retried)")
        world_cpu = _process_cpu(int(world_pid)) if world_pid else None
    finally:
        world.stop()
    print("whole bench: %.1f s wall, %.1f s CPU in processes it waited for%s" % (
        time.monotonic() - whole_started, _children_cpu() - whole_cpu,
        "; the world's own process %.1f s CPU" % world_cpu if world_cpu is not None else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
