"""Helpers of the fleet tests: the playbooks run by real ansible-playbook against the world's own
generated inventory, one small world (scenario.yml) per xdist worker, reset before each test."""
import json
import re
import subprocess
import time
from pathlib import Path

from playbook_runner import AnsibleRunner

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenario.yml"
PLAYBOOKS = ROOT / "playbooks"
WORLD_VARS = PLAYBOOKS / "inventories" / "world.yml"

ELIGIBLE = ("sqlvm-fresh", "sqlvm-noentra", "sqlvm-nodir", "sqlvm-nostorage")
INELIGIBLE = {"sqlvm-2019": "2019", "sqlvm-cu16": "CU17", "sqlvm-linux": "Linux", "sqlvm-fci": "failover cluster"}

# The module each step of backup_ready_fleet runs the code of.
STEP_MODULES = {"identity": "sqlvm_identity", "directory": "entra_directory_reader", "storage": "role_assignment",
                "logins": "sql_login", "credential": "sql_credential"}

_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class FleetRun:
    """One ansible-playbook run: rc, output, per-host recap, task records, the world's requests during it."""

    def __init__(self, completed, records, requests, seconds):
        self.rc = completed.returncode
        self.output = completed.stdout + completed.stderr
        self.records = records
        self.requests = requests
        self.seconds = seconds
        self.recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "unreachable": int(m.group(4)),
                                   "failed": int(m.group(5))} for m in _RECAP.finditer(self.output)}

    @property
    def writes(self):
        return [e for e in self.requests if e.get("kind") == "write"]

    def tasks(self, host=None, action=None, name=None):
        return [r for r in self.records if (host is None or r["host"] == host)
                and (action is None or r["action"].endswith(action)) and (name is None or name in r["task"])]

    def hosts_with_tasks(self):
        """The hosts any task ran for (a run_once task counts for one host only): each is a worker Ansible forked."""
        return sorted({r["host"] for r in self.records})

    def module_actions(self):
        """The collection's modules that ran (skipped tasks aside), in order: each one is a module process."""
        return [r["action"].rsplit(".", 1)[-1] for r in self.records
                if r["status"] != "skipped" and r["action"].startswith("sqlvm.backup.")]

    def changed_actions(self, host):
        return sorted({r["action"].rsplit(".", 1)[-1] for r in self.records
                       if r["host"] == host and r["result"].get("changed") and r["status"] == "ok"})

    def changed_modules(self, host):
        """The collection's modules whose work changed ``host``: its own tasks' (the role's) and its steps in the
        one backup_ready_fleet task (each step is that module's code), sorted."""
        found = {r["action"].rsplit(".", 1)[-1] for r in self.records
                 if r["host"] == host and r["action"].startswith("sqlvm.backup.") and r["result"].get("changed")
                 and r["status"] == "ok"}
        found.discard("backup_ready_fleet")
        for outcome in self.fleet_outcomes(host):
            found |= {STEP_MODULES[step] for step, result in outcome.get("steps", {}).items() if result.get("changed")}
        return sorted(found)

    def fleet_outcomes(self, host):
        """``host``'s entries in the backup_ready_fleet task's result (none when that task did not write it)."""
        return [r["result"]["hosts"][host] for r in self.records if r["action"].endswith("backup_ready_fleet")
                and r["status"] != "skipped" and host in r["result"].get("hosts", {})]

    def __repr__(self):
        return "FleetRun(rc=%s, recap=%s)\n%s" % (self.rc, self.recap, self.output[-6000:])


class Fleet:
    def __init__(self, world, workdir, cache_dir):
        self.world = world
        self.admin = world.admin
        self.workdir = Path(workdir)
        self.runner = AnsibleRunner(self.workdir, base_env=world.env, cache_dir=cache_dir)
        self.inventory = world.env["SIM_INVENTORY"]
        self._count = 0

    def hostvars(self):
        import yaml
        with open(self.inventory) as handle:
            return yaml.safe_load(handle)["all"]["children"]["sql_vms"]["hosts"]

    def inventory_with(self, path, host_overrides):
        """A copy of the world's inventory at ``path`` with world.yml as group variables (so a host variable can
        differ from them) and ``host_overrides`` (host -> variables) applied; pass it with world_vars=False."""
        import yaml
        with open(self.inventory) as handle:
            inventory = yaml.safe_load(handle)
        inventory["all"].setdefault("vars", {}).update(yaml.safe_load(WORLD_VARS.read_text()))
        for host, overrides in host_overrides.items():
            inventory["all"]["children"]["sql_vms"]["hosts"][host].update(overrides)
        Path(path).write_text(yaml.safe_dump(inventory))
        return Path(path)

    def sql_connection(self, vm):
        """The sql_connection options backup_ready uses for ``vm`` (inventory plus world.yml)."""
        import yaml
        host = dict(yaml.safe_load(WORLD_VARS.read_text()))
        host.update(self.hostvars()[vm])
        options = {"sql_host": host["sql_host"], "sql_port": host["sql_port"]}
        for var, option in (("sql_auth", "sql_auth"), ("sql_login_user", "login_user"),
                            ("sql_login_password", "login_password"), ("sql_odbc_driver", "odbc_driver"),
                            ("sql_encrypt", "encrypt"), ("sql_trust_server_certificate", "trust_server_certificate")):
            if host.get(var) not in (None, ""):
                options[option] = host[var]
        return options

    def play(self, playbook, *args, check=False, diff=False, limit=None, extra_vars=None, tags=None, forks=10,
             inventory=None, world_vars=True):
        self._count += 1
        run_dir = self.workdir / ("fleet-%03d" % self._count)
        run_dir.mkdir(parents=True, exist_ok=True)
        results = run_dir / "results.jsonl"
        command = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(inventory or self.inventory)]
        command += ["-e", "@%s" % WORLD_VARS] if world_vars else []
        command += ["-f", str(forks), str(PLAYBOOKS / playbook)]
        command += ["--check"] if check else []
        command += ["--diff"] if diff else []
        command += ["-l", limit] if limit else []
        command += ["--tags", tags] if tags else []
        if extra_vars:
            (run_dir / "extra.json").write_text(json.dumps(extra_vars))
            command += ["-e", "@%s" % (run_dir / "extra.json")]
        command += list(args)
        environ = self.runner.environment()
        environ["SQLVM_RESULTS_FILE"] = str(results)
        environ.pop("ANSIBLE_LIBRARY", None)
        environ["ANSIBLE_PIPELINING"] = "true"
        self.admin.clear_log()
        started = time.monotonic()
        completed = subprocess.run(command, env=environ, cwd=str(run_dir), capture_output=True, text=True,
                                   timeout=900, check=False)
        seconds = time.monotonic() - started
        records = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
        return FleetRun(completed, records, self.admin.requests(), seconds)


def sql_side_running(fleet):
    """The world's SQL Servers are in the inventory (sql_host) once its SQL side runs."""
    return all(fleet.hostvars()[vm].get("sql_host") for vm in ELIGIBLE)


def query(fleet, vm, sql):
    """Rows of ``sql`` on the world's SQL Server of ``vm``, as sa through FreeTDS (an independent client)."""
    import yaml

    from tests.sim.sqlserver.testing import connect

    extra = yaml.safe_load(WORLD_VARS.read_text())
    host = fleet.hostvars()[vm]
    connection = connect("freetds", host["sql_port"], user=extra["sql_login_user"],
                         password=extra["sql_login_password"], encrypt="yes")
    try:
        return [tuple(row) for row in connection.cursor().execute(sql).fetchall()]
    finally:
        connection.close()
