"""Figures for the report: how soon after `simctl start` a generated world answers TDS logins through
both ODBC drivers, and the memory of the world process.

    .venv/bin/python tests/sim/sqlserver/measure.py 10      # logins
    .venv/bin/python tests/sim/sqlserver/measure.py 1000    # memory
"""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)


def main(n):
    from sqlserver.testing import connect
    state = tempfile.mkdtemp(prefix="sim-sql-measure-")
    simctl = os.path.join(HERE, "simctl")
    t0 = time.monotonic()
    subprocess.run([simctl, "start", "--state-dir", state, "--generate", str(n)], check=True,
                   stdout=subprocess.DEVNULL, timeout=600)
    started = time.monotonic() - t0
    try:
        env = json.load(open(os.path.join(state, "env.json")))
        import yaml
        hosts = yaml.safe_load(open(env["SIM_INVENTORY"]))["all"]["children"]["sql_vms"]["hosts"]
        ports = [h["sql_port"] for h in hosts.values() if h.get("sql_port")]
        sample = ports if n <= 20 else ports[:: max(1, len(ports) // 10)]
        for driver in ("freetds", "msodbc18"):
            for port in sample:
                c = connect(driver, port, "sa", "Sim-Passw0rd!", encrypt="yes" if driver == "msodbc18" else "no")
                c.cursor().execute("SELECT 1").fetchone()
                c.close()
        answered = time.monotonic() - t0
        pid = int(open(os.path.join(state, "sim.pid")).read())
        rss = 0
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
        ps = ["ps", "--ppid", str(pid), "-o", "rss="]
        children = subprocess.run(ps, capture_output=True, text=True, check=False).stdout
        child_mb = sum(int(x) for x in children.split()) // 1024
        print(json.dumps({"vms": n, "sql_ports": len(ports), "simctl_start_s": round(started, 2),
                          "logins_both_drivers_done_s": round(answered, 2), "logins": 2 * len(sample),
                          "world_rss_mb": rss, "children_rss_mb": child_mb}))
    finally:
        subprocess.run([simctl, "stop", "--state-dir", state], stdout=subprocess.DEVNULL, check=False)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
