"""Per-task wall time of no-op runs of the SQL modules under ansible-playbook, against the test
world's SQL Server (TDS on loopback, TLS on, FreeTDS and ODBC Driver 18), and statements per task.

    .venv/bin/python bench/bench_sql.py [repeats]

Each module's no-op task is repeated in one play; the figure is the median of the per-task times the
results callback records (what a user waits for per host), plus TDS statements and writes per task.
Budget (issue 5): <= 0.35 s per no-op task.
"""
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests" / "lib", ROOT / "tests" / "integration" / "sql", ROOT / "build" / "collections"):
    sys.path.insert(0, str(extra))

import _sqlworld as W  # noqa: E402
from tests.sim.sqlserver.service import start_sql_service, stop_sql_service  # noqa: E402
from playbook_runner import AnsibleRunner  # noqa: E402

BUDGET = 0.35


def main(repeats=7):
    backend = W._scenario()
    handle = start_sql_service(backend)
    world = W.SqlWorld(backend, handle)
    runner = AnsibleRunner(tempfile.mkdtemp(prefix="bench-sql-"))
    failures = 0
    try:
        print("%-14s %-8s %9s %9s %12s %8s" % ("module", "driver", "median_s", "max_s", "statements", "writes"))
        # Floor: what any Python module task costs on this controller right now (load varies).
        floor = runner([{"ansible.builtin.ping": {}} for _run in range(repeats)])
        print("%-14s %-8s %9.3f %9.3f %12s %8s" % ("(ping floor)", "-", statistics.median(
            [t.seconds for t in floor.tasks[1:]]), max(t.seconds for t in floor.tasks[1:]), "-", "-"))
        for driver in ("freetds", "msodbc"):
            conn = world.connection(driver=driver)
            world.reset()
            setup = runner([
                W.task("sql_credential", dict(conn, url=W.CONTAINER)),
                W.task("sql_login", dict(conn, name="ops@contoso.com", server_roles=["sysadmin"])),
                W.task("sql_backup", dict(conn, container_url=W.CONTAINER, databases=["app"]), register="backup"),
            ])
            assert not setup[2].failed, setup[2]["msg"]
            urls = setup[2]["backups"][0]["urls"]
            cases = [
                ("sql_login", dict(conn, name="ops@contoso.com", server_roles=["sysadmin"])),
                ("sql_credential", dict(conn, url=W.CONTAINER)),
                ("sql_backup", dict(conn, container_url=W.CONTAINER, databases=["app"], skip_if_backed_up_within=600)),
                ("sql_restore", dict(conn, urls=urls, mode="header_only")),
                ("sql_info", dict(conn, container_url=W.CONTAINER)),
            ]
            for module, options in cases:
                world.clear_log()
                result = runner([W.task(module, options) for _run in range(repeats)])
                assert all(not t.failed and not t.get("changed") for t in result.tasks), result
                times = [t.seconds for t in result.tasks[1:]]  # the first pays the cold page cache
                statements = len(world.statements()) / float(repeats)
                writes = len(world.writes())
                median = statistics.median(times)
                failures += median > BUDGET or writes > 0
                print("%-14s %-8s %9.3f %9.3f %12.1f %8d" % (module, driver, median, max(times), statements, writes))
    finally:
        stop_sql_service(handle)
    print("budget %.2f s per no-op task: %s" % (BUDGET, "met" if not failures else "NOT met"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
