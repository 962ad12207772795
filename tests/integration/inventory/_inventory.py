"""Helpers of the inventory tests: write an inventory file for sqlvm.backup.sql_vms, run the real
ansible-inventory (or ansible-playbook) with it, and read the world's request log of that run."""
import json
import subprocess
from pathlib import Path

import yaml

from playbook_runner import AnsibleRunner

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenario.yml"
PRODUCTION = "11111111-1111-4111-8111-111111111111"
DR = "22222222-2222-4222-8222-222222222222"


def _plain(value):
    """ansible-core 2.19's inventory_legacy JSON marks untrusted strings {"__ansible_unsafe": text}: the text."""
    return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else value


class InventoryRun:
    def __init__(self, completed, requests):
        self.rc = completed.returncode
        self.stdout, self.stderr = completed.stdout, completed.stderr
        self.output = completed.stdout + completed.stderr
        self.requests = requests
        self.data = None
        if self.rc == 0 and self.stdout.lstrip().startswith("{"):
            self.data = json.loads(self.stdout, object_hook=_plain)

    @property
    def hostvars(self):
        return self.data["_meta"]["hostvars"]

    def group(self, name):
        return sorted(self.data.get(name, {}).get("hosts", []))

    @property
    def arm(self):
        return [e for e in self.requests if e.get("service") == "arm"]

    def routes(self):
        counts = {}
        for entry in self.arm:
            counts[entry["route"]] = counts.get(entry["route"], 0) + 1
        return counts

    def __repr__(self):
        return "InventoryRun(rc=%s)\n%s" % (self.rc, self.output[-4000:])


class Inventory:
    def __init__(self, world, workdir, cache_dir):
        self.world = world
        self.admin = world.admin
        self.workdir = Path(workdir)
        self.runner = AnsibleRunner(self.workdir, base_env=world.env, cache_dir=cache_dir)
        self._count = 0

    def write(self, config, name="world.sql_vms.yml"):
        self._count += 1
        run_dir = self.workdir / ("inventory-%03d" % self._count)
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / name
        path.write_text(yaml.safe_dump(dict({"plugin": "sqlvm.backup.sql_vms"}, **config), sort_keys=False))
        return path

    def environment(self, env=None):
        environ = self.runner.environment(env)
        environ.pop("ANSIBLE_LIBRARY", None)
        return environ

    def run(self, command, path, env=None):
        self.admin.clear_log()
        completed = subprocess.run(command, env=self.environment(env), cwd=str(Path(path).parent), capture_output=True,
                                   text=True, timeout=600, check=False)
        return InventoryRun(completed, self.admin.requests())

    def list(self, config=None, *args, name="world.sql_vms.yml", env=None, path=None):
        path = path or self.write(config or {}, name)
        return self.run([str(ROOT / ".venv/bin/ansible-inventory"), "-i", str(path), "--list"] + list(args), path, env)

    def world_hostvars(self):
        """The world's own static inventory (what tests/sim writes): sql_port of each SQL Server."""
        with open(self.world.env["SIM_INVENTORY"], encoding="utf-8") as handle:
            return yaml.safe_load(handle)["all"]["children"]["sql_vms"]["hosts"]
