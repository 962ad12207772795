"""Run a playbook the way an AWX job template does, with ansible-runner's command line."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = ROOT / ".venv" / "bin"
# What AWX's "Microsoft Azure Resource Manager" credential injects (awx/main/models/credential/injectors.py
# azure_rm): the subscription, and a service principal's client id, secret and tenant; the cloud when set.
AWX_AZURE_RM_VARIABLES = ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT",
                          "AZURE_CLOUD_ENVIRONMENT")
# The world's TLS certificates come from its own CA: the EE would trust it through these.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


def job_environment(world_env):
    return {name: world_env[name] for name in AWX_AZURE_RM_VARIABLES + CA_BUNDLE_VARIABLES}


def run_job_template(private_data_dir, world_env, inventory_file, playbook, extra_vars=None, check=False,
                     limit=None, timeout=900):
    """Lay out ansible-runner's private data dir as AWX does and run it; returns (rc, status, events, stdout)."""
    pdd = Path(private_data_dir)
    if pdd.exists():
        shutil.rmtree(pdd)
    (pdd / "env").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    # AWX syncs the project (a copy of the repository) into the job's project directory.
    shutil.copytree(ROOT / "playbooks", pdd / "project" / "playbooks")
    shutil.copy(inventory_file, pdd / "inventory" / "hosts.yml")
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(job_environment(world_env)))
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(extra_vars or {}))
    cmdline = ["--check"] if check else []
    if limit:
        cmdline += ["--limit", limit]
    if cmdline:
        (pdd / "env" / "cmdline").write_text(" ".join(cmdline))
    # The execution environment's own settings (not the job's): where the collection is installed.
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("AZURE_", "IDENTITY_", "MSI_", "SIM_", "ANSIBLE_", "REQUESTS_CA", "SSL_CERT"))}
    environ.update({
        "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "")),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "build" / "collections"),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": str(VENV_BIN / "python"),
        "ANSIBLE_HOME": str(pdd / "ansible-home"),
        "XDG_CACHE_HOME": str(pdd / "cache"),
    })
    completed = subprocess.run([str(VENV_BIN / "ansible-runner"), "run", str(pdd), "-p", "playbooks/" + playbook,
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
