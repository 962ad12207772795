"""Bench of the inventory plugin sqlvm.backup.sql_vms: `ansible-inventory --list` on a generated world of N SQL VMs.

    .venv/bin/python bench/inventory.py [--vms 1000] [--page-size 100] [--runs 2]

Prints, for each run (the first signs in, the next ones use the token cache as a play would), the wall seconds, the
CPU seconds of the child processes (user + system), the hosts found, and the world's requests per route - list
pages only, none per VM; next to them the ping floor (`ansible localhost -m ping`, the least any ansible command
costs here), the load average and the page size the world answers with.

The page size is the world's `arm_page_size` (default 100, the world's own default): Azure Resource Manager's page
sizes differ per resource provider and are not documented as a contract, and a small page only adds requests,
so the figure is not flattered by it. `measure(vms, page_size, runs)` returns the figures for other callers.
"""
import argparse
import collections
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lib"))

import world as world_lib  # noqa: E402  pylint: disable=wrong-import-position


def _environment(world, workdir):
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("AZURE_", "SIM_", "ANSIBLE_", "IDENTITY_", "MSI_"))}
    environ.update(world.env)
    environ.update({"ANSIBLE_COLLECTIONS_PATH": str(ROOT / "build" / "collections"), "ANSIBLE_NOCOLOR": "1",
                    "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true", "XDG_CACHE_HOME": str(workdir / "cache"),
                    "ANSIBLE_HOME": str(workdir / "ansible-home"),
                    "PATH": "%s:%s" % (ROOT / ".venv" / "bin", os.environ.get("PATH", ""))})
    return environ


def _timed(command, environ, cwd):
    """(completed process, wall seconds, CPU seconds of the children it started)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    completed = subprocess.run(command, env=environ, cwd=str(cwd), capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return completed, wall, cpu


def measure(vms=1000, page_size=100, runs=2, workdir=None):
    """Figures of `runs` inventory runs on a generated world of `vms` SQL VMs (dicts), plus the ping floor."""
    import json

    workdir = Path(workdir or tempfile.mkdtemp(prefix="sqlvm-bench-inventory-",
                                               dir=str(ROOT / "build") if (ROOT / "build").is_dir() else None))
    world = world_lib.World(workdir / "world", generate=vms).start()
    try:
        world.admin.settings(arm_page_size=page_size)
        environ = _environment(world, workdir)
        source = workdir / "bench.sql_vms.yml"
        source.write_text("plugin: sqlvm.backup.sql_vms\n")
        bin_dir = ROOT / ".venv" / "bin"
        _ping, ping_wall, ping_cpu = _timed([str(bin_dir / "ansible"), "localhost", "-m", "ansible.builtin.ping",
                                             "-c", "local", "-i", "localhost,"], environ, workdir)
        results = []
        for index in range(runs):
            world.admin.clear_log()
            completed, wall, cpu = _timed([str(bin_dir / "ansible-inventory"), "-i", str(source), "--list"],
                                          environ, workdir)
            requests = world.admin.requests()
            routes = collections.Counter("%s %s %s" % (e["service"], e["method"], e["route"]) for e in requests)
            hosts = 0
            if completed.returncode == 0:
                hosts = len(json.loads(completed.stdout).get("sql_vms", {}).get("hosts", []))
            results.append({"run": index + 1, "rc": completed.returncode, "wall": wall, "cpu": cpu, "hosts": hosts,
                            "requests": len(requests), "routes": dict(routes),
                            "error": "" if completed.returncode == 0 else completed.stderr[-2000:]})
        return {"vms": vms, "page_size": page_size, "ping_wall": ping_wall, "ping_cpu": ping_cpu,
                "load": os.getloadavg(), "cpus": os.cpu_count(), "runs": results}
    finally:
        world.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    figures = measure(args.vms, args.page_size, args.runs)
    print("inventory bench: %d SQL VMs, ARM page size %d; load average %.2f %.2f %.2f on %d CPUs"
          % ((figures["vms"], figures["page_size"]) + tuple(figures["load"]) + (figures["cpus"],)))
    print("ping floor (ansible localhost -m ping): %.2f s wall, %.2f s CPU" % (figures["ping_wall"], figures["ping_cpu"]))
    for run in figures["runs"]:
        print("run %d (%s): rc %d, %.2f s wall, %.2f s CPU (children), %d hosts, %d requests"
              % (run["run"], "signs in" if run["run"] == 1 else "token cached", run["rc"], run["wall"], run["cpu"],
                 run["hosts"], run["requests"]))
        for route, count in sorted(run["routes"].items()):
            print("    %4d  %s" % (count, route))
        if run["error"]:
            print(run["error"])
    return 1 if any(run["rc"] for run in figures["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
