"""Per-task wall time of no-op runs of the SQL modules under ansible-playbook, against the test
world's SQL Server (TDS on loopback, TLS on, FreeTDS and ODBC Driver 18), and statements per task.

    .venv/bin/python bench/bench_sql.py [repeats]

The no-op tasks of every module and ansible.builtin.ping (the floor: what any Python module task costs on
this controller right now) run interleaved in one play, repeated; the figure is the median of the per-task
times the results callback records (what a user waits for per host), and its excess over the ping floor.
TDS statements and writes are counted from one separate no-op task per module (statements of a batch are
counted one by one: sql_info sends its report's reads as one batch).
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
        header = ("module", "driver", "median_s", "max_s", "over_ping", "statements", "writes")
        print("%-14s %-8s %9s %9s %10s %12s %8s" % header)
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
            # Statements and writes of one no-op task per module.
            counts = {}
            for module, options in cases:
                world.clear_log()
                result = runner([W.task(module, options)])
                assert not result[0].failed and not result[0].get("changed"), result[0]
                counts[module] = (len(world.statements()), len(world.writes()))
            # Wall time: the ping floor and every module interleaved in one play, so a burst of load from other
            # work on the machine hits all of them alike; the first round pays the cold page cache.
            rounds = [{"ansible.builtin.ping": {}}] + [W.task(module, options) for module, options in cases]
            result = runner(rounds * (repeats + 1))
            assert all(not t.failed and not t.get("changed") for t in result.tasks), result
            times = {}
            for index, record in enumerate(result.tasks[len(rounds):]):
                times.setdefault(index % len(rounds), []).append(record.seconds)
            floor = statistics.median(times[0])
            print("%-14s %-8s %9.3f %9.3f %10s %12s %8s" % ("(ping floor)", driver, floor, max(times[0]), "-", "-", "-"))
            for position, (module, _options) in enumerate(cases, start=1):
                median = statistics.median(times[position])
                statements, writes = counts[module]
                failures += median > BUDGET or writes > 0
                print("%-14s %-8s %9.3f %9.3f %10.3f %12d %8d" % (module, driver, median, max(times[position]),
                                                                  median - floor, statements, writes))
    finally:
        stop_sql_service(handle)
    print("budget %.2f s per no-op task: %s" % (BUDGET, "met" if not failures else "NOT met"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
