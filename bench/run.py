"""make bench: per-task wall time and HTTP requests of each module's no-op task under ansible-playbook.

Every case in bench/cases/*.yml runs its task N times in one playbook (each task is its own Python
process, as always with Ansible); the tests-only callback times each task from start to result and
the world's request log gives requests per task. Prints medians against the budgets.

    .venv/bin/python bench/run.py [--runs 7] [--case NAME-SUBSTRING]
"""
import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lib"))

import world as world_lib  # noqa: E402  pylint: disable=wrong-import-position
from playbook_runner import AnsibleRunner  # noqa: E402  pylint: disable=wrong-import-position

BUDGETS = {"azure": (0.5, 4), "sql": (0.35, None), "floor": (None, None)}


def load_cases(selected=None):
    cases = []
    for path in sorted((ROOT / "bench" / "cases").glob("*.yml")):
        for case in yaml.safe_load(path.read_text()) or []:
            case.setdefault("kind", "azure")
            case["source"] = path.name
            if not selected or selected.lower() in case["name"].lower():
                cases.append(case)
    return cases


def run_case(case, runs, world, workdir, pipelining=True):
    uses_world = world is not None and case.get("world")
    env = dict(world.env) if uses_world else {}
    env["ANSIBLE_PIPELINING"] = "true" if pipelining else "false"
    runner = AnsibleRunner(workdir, base_env=env, cache_dir=workdir / "cache")
    extra_vars = {"world_env": env, "world_state": world.admin.state() if uses_world else {}}
    if case.get("setup"):
        prepared = runner(case["setup"], extra_vars=extra_vars)
        if prepared.rc != 0:
            return dict(error="setup failed: %s" % prepared.output[-300:])
    cpu_before = _children_cpu()
    warm = runner([case["task"]], extra_vars=extra_vars)  # fills caches (cloud metadata), as on a controller
    cpu_one = _children_cpu() - cpu_before
    if warm.rc != 0:
        return dict(error="task failed: %s" % warm.output[-300:])
    if world is not None and case.get("world"):
        world.admin.clear_log()
    cpu_before = _children_cpu()
    result = runner([case["task"]] * runs, extra_vars=extra_vars)
    cpu_many = _children_cpu() - cpu_before
    if result.rc != 0 or len(result.tasks) != runs:
        return dict(error="timed run failed: %s" % result.output[-300:])
    # CPU seconds of ansible-playbook and everything it ran, per extra task: robust against other load.
    cpu = (cpu_many - cpu_one) / (runs - 1) if runs > 1 else None
    row = dict(median=statistics.median(task.seconds for task in result.tasks), cpu=cpu,
               changed=any(task.get("changed") for task in result.tasks), requests=None)
    if world is not None and case.get("world"):
        row["requests"] = len(world.http_requests()) / runs
    return row


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def verdict(value, budget):
    if budget is None or value is None:
        return ""
    return "ok" if value <= budget else "OVER"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--case")
    parser.add_argument("--no-pipelining", action="store_true",
                        help="run modules the default way (temporary directory per task) instead of piped")
    args = parser.parse_args(argv)
    cases = load_cases(args.case)
    workdir = Path(tempfile.mkdtemp(prefix="sqlvm-bench-", dir=str(ROOT / "build") if (ROOT / "build").is_dir() else None))
    world = None
    if any(case.get("world") for case in cases):
        if world_lib.available():
            world = world_lib.World(workdir / "world").start()
        else:
            print("note: the test world (tests/sim) is not available; cases that need it are skipped")
    failures = 0
    try:
        print("ansible-playbook, connection local, pipelining %s; median of %d runs per case; 'floor+' is the "
              "median minus the ping floor;\n'cpu s' is CPU seconds per task of ansible-playbook and all it runs (least "
              "sensitive to other load)" % ("off" if args.no_pipelining else "on", args.runs))
        print("load average at start: %.2f %.2f %.2f on %d CPUs (other work on the machine inflates every figure)"
              % (os.getloadavg() + (os.cpu_count(),)))
        header = ("case", "kind", "median s", "floor+", "cpu s", "budget s", "", "http/task", "budget", "")
        print("%-48s %-5s %9s %7s %6s %9s %5s %9s %7s %5s" % header)
        floor = None
        for index, case in enumerate(cases):
            time_budget, request_budget = BUDGETS.get(case["kind"], (None, None))
            if case.get("world") and world is None:
                print("%-48s %-5s %9s" % (case["name"], case["kind"], "skipped"))
                continue
            row = run_case(case, args.runs, world, workdir / ("case-%02d" % index), not args.no_pipelining)
            if "error" in row:
                failures += 1
                print("%-48s %-5s ERROR %s" % (case["name"], case["kind"], row["error"].replace("\n", " ")[:200]))
                continue
            requests = "%.1f" % row["requests"] if row["requests"] is not None else "-"
            if case["kind"] == "floor" and floor is None:
                floor = row["median"]
            above = "%+.3f" % (row["median"] - floor) if floor is not None and case["kind"] != "floor" else "-"
            cpu = "%.3f" % row["cpu"] if row["cpu"] is not None else "-"
            print("%-48s %-5s %9.3f %7s %6s %9s %5s %9s %7s %5s%s" % (
                case["name"], case["kind"], row["median"], above, cpu, time_budget if time_budget else "-",
                verdict(row["median"], time_budget), requests,
                request_budget if request_budget else "-", verdict(row["requests"], request_budget),
                "  (changed: not a no-op!)" if row["changed"] else ""))
        print("load average at end: %.2f %.2f %.2f" % os.getloadavg())
    finally:
        if world is not None:
            world.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
