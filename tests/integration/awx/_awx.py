"""Run a playbook the way an AWX job template does, with ansible-runner's command line, from the example AWX
project (examples/awx_project) with the collection installed from its built tarball as AWX's project update
installs collections/requirements.yml."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = ROOT / ".venv" / "bin"
AWX_PROJECT = ROOT / "examples" / "awx_project"
# What AWX's "Microsoft Azure Resource Manager" credential injects (awx/main/models/credential/injectors.py
# azure_rm): the subscription, and a service principal's client id, secret and tenant; the cloud when set.
AWX_AZURE_RM_VARIABLES = ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT",
                          "AZURE_CLOUD_ENVIRONMENT")
# The world's TLS certificates come from its own CA: the EE would trust it through these.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


def job_environment(world_env):
    return {name: world_env[name] for name in AWX_AZURE_RM_VARIABLES + CA_BUNDLE_VARIABLES}


def sync_project(project_dir, tarball, collections_path, environ):
    """AWX's project update: the project's files, then `ansible-galaxy collection install -r
    collections/requirements.yml -p <job collections path>` run in the project's root. The project keeps the
    built tarball next to requirements.yml, with requirements.yml switched to it as the file itself documents
    (`name: collections/<tarball>`, `type: file`)."""
    shutil.copytree(AWX_PROJECT, project_dir)
    requirements_file = project_dir / "collections" / "requirements.yml"
    requirements = yaml.safe_load(requirements_file.read_text())
    assert [entry["name"] for entry in requirements["collections"]] == ["sqlvm.backup"]
    shutil.copy(tarball, project_dir / "collections" / tarball.name)
    requirements["collections"] = [{"name": "collections/" + tarball.name, "type": "file"}]
    requirements_file.write_text(yaml.safe_dump(requirements))
    installed = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--offline", "-r",
                                "collections/requirements.yml", "-p", str(collections_path)], cwd=str(project_dir),
                               env=environ, capture_output=True, text=True, timeout=300, check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr


def run_job_template(private_data_dir, world_env, inventory_file, playbook, tarball, extra_vars=None, check=False,
                     limit=None, timeout=900):
    """Lay out ansible-runner's private data dir as AWX does and run it; returns (rc, status, events, stdout)."""
    pdd = Path(private_data_dir)
    if pdd.exists():
        shutil.rmtree(pdd)
    (pdd / "env").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    shutil.copy(inventory_file, pdd / "inventory" / "hosts.yml")
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(job_environment(world_env)))
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(extra_vars or {}))
    cmdline = ["--check"] if check else []
    if limit:
        cmdline += ["--limit", limit]
    if cmdline:
        (pdd / "env" / "cmdline").write_text(" ".join(cmdline))
    # The execution environment's own settings (not the job's): only the collections AWX installed from the
    # project's requirements are visible (AWX puts that directory first in the job's collections path).
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("AZURE_", "IDENTITY_", "MSI_", "SIM_", "ANSIBLE_", "REQUESTS_CA", "SSL_CERT"))}
    environ.update({
        "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "")),
        "ANSIBLE_COLLECTIONS_PATH": str(pdd / "requirements_collections"),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": str(VENV_BIN / "python"),
        "ANSIBLE_HOME": str(pdd / "ansible-home"),
        "XDG_CACHE_HOME": str(pdd / "cache"),
    })
    sync_project(pdd / "project", Path(tarball), pdd / "requirements_collections", environ)
    completed = subprocess.run([str(VENV_BIN / "ansible-runner"), "run", str(pdd), "-p", playbook,
                                "--ident", "job"], env=environ, capture_output=True, text=True, timeout=timeout,
                               check=False)
    artifacts = pdd / "artifacts" / "job"
    status = (artifacts / "status").read_text().strip() if (artifacts / "status").exists() else None
    rc = int((artifacts / "rc").read_text().strip()) if (artifacts / "rc").exists() else completed.returncode
    events = []
    for path in sorted((artifacts / "job_events").glob("*.json"), key=lambda p: int(p.name.split("-", 1)[0])):
        events.append(json.loads(path.read_text()))
    stdout = (artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else completed.stdout
    return rc, status, events, stdout + completed.stderr


def job_stats(events):
    """The job's closing stats event data: per-host counts (`changed`, `failures`, ...) and `artifact_data`, the
    set_stats data AWX stores as the job's artifacts."""
    (stats,) = [event["event_data"] for event in events if event.get("event") == "playbook_on_stats"]
    return stats
