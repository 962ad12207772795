"""Helpers of the security acceptance tests (issue 10): batch runs against the worker's world, the
world's write requests during a run, and the secrets that must never appear in any output.

A batch is one ansible-playbook run (-vvv) with many cases: module cases are tasks with
`ignore_errors: true`; role cases are hosts of a generated inventory (a failing role stops its host
only). Every value that holds a secret reaches the playbook through a variable (`s.<name>`, from
extra vars, as from a vault): Ansible prints the playbook lines around some errors, so a secret typed
into a playbook could show whatever a module does.
"""
import fcntl
import json
import re
import subprocess
import time
from pathlib import Path

import yaml

from playbook_runner import VENV_BIN, AnsibleRunner, _python

ROOT = Path(__file__).resolve().parents[3]
FREETDS = "/usr/lib/x86_64-linux-gnu/odbc/libtdsodbc.so"
SA_PASSWORD = "Sim-Passw0rd!"            # tests/sim/scenarios/default.yml x-sql sa_password
WRITE_SERVICES = ("arm", "graph", "tds")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")

# Secrets the cases use; extra var `s` carries them into the playbooks.
SIG = "U2VjcmV0U2lnbmF0dXJlVmFsdWUxMjM0NTY3ODkw"
SAS = "sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=" + SIG
URL_PASSWORD = "Url-Pa55word-7f3a"
CASE_PASSWORD = "Case-L0gin-Pa55-91c"


def secrets_of(world_env, extra=()):
    """Every string that must never be printed or returned."""
    return [value for value in (world_env["AZURE_SECRET"], SA_PASSWORD, SIG, SAS, URL_PASSWORD, CASE_PASSWORD)
            + tuple(extra) if value]


def leaks(text, secrets):
    """The secrets (by a short prefix, never whole) and JWT-shaped tokens found in text."""
    found = ["%s..." % secret[:4] for secret in secrets if secret in text]
    found += ["JWT %s..." % match.group(0)[:6] for match in JWT.finditer(text)]
    return found


def describe_writes(writes, secrets=()):
    """One line per write request, secrets masked (the world logs statements as sent)."""
    lines = []
    for w in writes:
        text = (w.get("path") or w.get("route") or "")[:160]
        for secret in secrets:
            text = text.replace(secret, "***")
        lines.append("%s %s %s -> %s" % (w["service"], w["method"], text, w.get("status")))
    return lines


def writes_in(entries):
    return [e for e in entries if e.get("kind") == "write" and e.get("service") in WRITE_SERVICES]


def world_vm(world_env, vm):
    """Host variables of `vm` in the world's generated inventory (sql_host, sql_port, container_url, ...)."""
    inventory = yaml.safe_load(Path(world_env["SIM_INVENTORY"]).read_text())
    return dict(inventory["all"]["children"]["sql_vms"]["hosts"][vm])


def sql_connection(world_env, vm="sqlvm-ready"):
    """SQL options of a module task: SQL authentication as sa through FreeTDS, TLS on."""
    host = world_vm(world_env, vm)
    return {"sql_host": host["sql_host"], "sql_port": host["sql_port"], "login_user": "sa",
            "login_password": "{{ s.sa }}", "odbc_driver": FREETDS, "encrypt": "yes",
            "trust_server_certificate": True}


def secret_vars(world_env):
    container = world_vm(world_env, "sqlvm-ready")["container_url"]
    scheme, rest = container.split("://", 1)
    return {
        "sa": SA_PASSWORD,
        "password": CASE_PASSWORD,
        "sas_container": container + "?" + SAS,
        "sas_blob": container + "/sqlvm-ready/appdb/appdb.bak?" + SAS,
        "userinfo_container": "%s://backup:%s@%s" % (scheme, URL_PASSWORD, rest),
        "userinfo_blob": "%s://backup:%s@%s/sqlvm-ready/appdb/appdb.bak" % (scheme, URL_PASSWORD, rest),
        "sas_token": SAS,
    }


class SharedResults:
    """Run each batch once per test session, whichever xdist worker needs it first; the other worker
    reads the stored result (a batch costs tens of seconds of the machine's two cores). A worker that
    finds its batch being run by the other one runs another pending batch meanwhile instead of waiting."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.batches = {}          # key -> function computing the batch's JSON-able result

    def _path(self, key):
        return self.directory / ("%s.json" % key)

    def _try_compute(self, key, blocking):
        """Compute and store `key` under its lock; False when another worker holds the lock."""
        with open(self.directory / ("%s.lock" % key), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                return False
            if not self._path(key).exists():
                self._path(key).write_text(json.dumps(self.batches[key](), default=str))
            return True

    def get(self, key):
        while not self._try_compute(key, blocking=False):
            pending = [other for other in self.batches if other != key and not self._path(other).exists()]
            if not any(self._try_compute(other, blocking=False) for other in pending):
                self._try_compute(key, blocking=True)
        return json.loads(self._path(key).read_text())


def _task_sections(stdout):
    """stdout split at each 'TASK [name]' banner: {name: text} (a name seen twice keeps both)."""
    sections = {}
    parts = re.split(r"^(?=TASK \[)", stdout, flags=re.M)
    for part in parts:
        match = re.match(r"TASK \[(?:[^\]:]*: )?([^\]]*)\]", part)
        if match:
            sections[match.group(1)] = sections.get(match.group(1), "") + part
    return sections


def run_playbook(world, workdir, cache_dir, plays, inventory=None, extra_vars=None, check=False, forks=4,
                 timeout=900):
    """One ansible-playbook -vvv run against the world; returns a JSON-able dict: rc, stdout, stderr,
    records (per task and host), sections (stdout per task name), requests (the world's log during it)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    runner = AnsibleRunner(workdir, base_env=world.env, cache_dir=cache_dir)
    playbook = workdir / "playbook.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False, width=100000))
    inventory_file = workdir / "inventory.yml"
    hosts = {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": _python()}}
    inventory_file.write_text(yaml.safe_dump({"all": {"hosts": hosts, "children": inventory or {}}},
                                             sort_keys=False, width=100000))
    results = workdir / "results.jsonl"
    if results.exists():
        results.unlink()
    extra_file = workdir / "extra_vars.json"
    extra_file.write_text(json.dumps(dict(extra_vars or {}, sim_admin_url=world.env["SIM_ADMIN_URL"])))
    command = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory_file), str(playbook), "-vvv",
               "-f", str(forks), "-e", "@%s" % extra_file]
    if check:
        command.append("--check")
    environ = runner.environment()
    environ["SQLVM_RESULTS_FILE"] = str(results)
    environ["ANSIBLE_PIPELINING"] = "true"
    world.admin.clear_log()
    started = time.monotonic()
    completed = subprocess.run(command, env=environ, cwd=str(workdir), capture_output=True, text=True,
                               timeout=timeout, check=False)
    records = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    return {"rc": completed.returncode, "stdout": completed.stdout, "stderr": completed.stderr,
            "records": records, "sections": _task_sections(completed.stdout),
            "requests": world.admin.requests(), "seconds": time.monotonic() - started}


def message(result):
    """The failure text a user reads: msg, plus per-item msgs of a loop, plus role argument errors."""
    parts = [str(result.get("msg") or "")]
    for item in result.get("results") or []:
        if isinstance(item, dict) and item.get("failed"):
            parts.append(str(item.get("msg") or ""))
    for error in result.get("argument_errors") or []:
        parts.append(str(error))
    return "\n".join(part for part in parts if part)


def assert_names(text, fragments, context):
    """Each fragment (or one of a tuple of alternatives) appears in text, case-insensitively."""
    lowered = text.lower()
    for fragment in fragments:
        options = fragment if isinstance(fragment, tuple) else (fragment,)
        assert any(option.lower() in lowered for option in options), (
            "%s: the message should name %s; it says: %s" % (context, " or ".join(map(repr, options)), text))
