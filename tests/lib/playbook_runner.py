"""Run tasks or playbooks with the real ansible-playbook from .venv against localhost.

    result = ansible([{"sqlvm.backup.sqlvm_info": {...}}], check=True, diff=True, verbosity=3,
                     env={...}, extra_vars={...})
    result.tasks[0]["changed"]; result.stdout (raw, searchable for secrets); result.rc

Each task's result comes from the tests-only callback tests/lib/callback_plugins/sqlvm_results.py
(JSON lines), so the normal stdout callback stays untouched for -vvv searches.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LIB = Path(__file__).resolve().parent
# The virtual environment ansible-playbook and modules run from: .venv, or SQLVM_TEST_VENV (make test-lowest).
VENV_BIN = Path(os.environ.get("SQLVM_TEST_VENV") or ROOT / ".venv") / "bin"
COLLECTIONS = ROOT / "build" / "collections"
# Variables that would let the host's own Azure sign-in leak into a test.
_SCRUBBED_PREFIXES = ("AZURE_", "IDENTITY_", "MSI_", "ANSIBLE_", "SIM_")


class TaskResult(dict):
    """One task's result dict, plus .status ('ok', 'failed', ...), .seconds and .action."""

    def __init__(self, record):
        super().__init__(record["result"])
        self.status = record["status"]
        self.seconds = record["seconds"]
        self.action = record["action"]
        self.name = record["task"]

    @property
    def failed(self):
        return self.status == "failed"


class PlaybookResult:
    def __init__(self, rc, stdout, stderr, tasks, seconds):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.tasks = tasks
        self.seconds = seconds

    def __getitem__(self, index):
        return self.tasks[index]

    def __len__(self):
        return len(self.tasks)

    @property
    def output(self):
        return self.stdout + self.stderr

    def __repr__(self):
        return "PlaybookResult(rc=%s, tasks=%s)" % (self.rc, [(t.name, t.status) for t in self.tasks])


def _python():
    candidate = VENV_BIN / "python"
    return str(candidate if candidate.exists() else Path(sys.executable))


class AnsibleRunner:
    """Callable fixture object. `base_env` (e.g. the world's env.sh values) applies to every run."""

    def __init__(self, workdir, base_env=None, cache_dir=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.base_env = dict(base_env or {})
        self.cache_dir = Path(cache_dir or self.workdir / "cache")
        self._count = 0

    def environment(self, env=None):
        environ = {key: value for key, value in os.environ.items() if not key.startswith(_SCRUBBED_PREFIXES)}
        environ.update({
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            "ANSIBLE_LIBRARY": str(LIB / "test_modules"),
            "ANSIBLE_CALLBACK_PLUGINS": str(LIB / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "sqlvm_results",
            "ANSIBLE_PYTHON_INTERPRETER": _python(),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_DEPRECATION_WARNINGS": "false",
            "ANSIBLE_LOCAL_TEMP": str(self.workdir / "tmp"),
            "ANSIBLE_REMOTE_TEMP": str(self.workdir / "tmp"),
            "ANSIBLE_HOME": str(self.workdir / "ansible-home"),
            "XDG_CACHE_HOME": str(self.cache_dir),
            "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "")),
        })
        environ.update(self.base_env)
        environ.update(env or {})
        return {key: str(value) for key, value in environ.items() if value is not None}

    def __call__(self, tasks_or_playbook, check=False, diff=False, verbosity=0, env=None, extra_vars=None,
                 timeout=600):
        self._count += 1
        run_dir = self.workdir / ("run-%03d" % self._count)
        run_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(tasks_or_playbook, (str, Path)) and Path(tasks_or_playbook).exists():
            playbook = Path(tasks_or_playbook)
        else:
            tasks = tasks_or_playbook if isinstance(tasks_or_playbook, list) else [tasks_or_playbook]
            playbook = run_dir / "playbook.yml"
            playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                                               sort_keys=False))
        inventory = run_dir / "inventory.ini"
        inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % _python())
        results_file = run_dir / "results.jsonl"
        command = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        if verbosity:
            command.append("-" + "v" * verbosity)
        if extra_vars:
            extra_file = run_dir / "extra_vars.json"
            extra_file.write_text(json.dumps(extra_vars))
            command += ["-e", "@%s" % extra_file]
        environ = self.environment(env)
        environ["SQLVM_RESULTS_FILE"] = str(results_file)
        import time
        started = time.monotonic()
        completed = subprocess.run(command, env=environ, cwd=str(run_dir), capture_output=True, text=True,
                                   timeout=timeout, check=False)
        seconds = time.monotonic() - started
        records = []
        if results_file.exists():
            records = [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()]
        return PlaybookResult(completed.returncode, completed.stdout, completed.stderr,
                              [TaskResult(record) for record in records], seconds)

    def module(self, name, args=None, **kwargs):
        """Run one module task; return its TaskResult (raises with the output if it produced none)."""
        result = self([{"name": name, name: args or {}, "ignore_errors": True}], **kwargs)
        if not result.tasks:
            raise AssertionError("no task result; rc=%s\n%s" % (result.rc, result.output[-4000:]))
        task = result.tasks[0]
        task.playbook = result
        return task


def new_runner(base_env=None, prefix="sqlvm-ansible-"):
    return AnsibleRunner(tempfile.mkdtemp(prefix=prefix), base_env=base_env)
