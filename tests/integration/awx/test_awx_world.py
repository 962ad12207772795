"""The playbooks as AWX job templates (ansible-runner) against the test world, authenticated only by
what AWX's Azure credential injects."""
import json

import yaml

from _awx import AWX_AZURE_RM_VARIABLES, job_environment, run_job_template
from _fleet import WORLD_VARS

# A job template's limit: one VM to converge, one that cannot qualify (the fleet tests cover the rest).
LIMIT = "sqlvm-nostorage,sqlvm-fci"


def _extra_vars(**more):
    """The job template's extra vars: the world's SQL login (an AWX custom credential in real use)."""
    extra = yaml.safe_load(WORLD_VARS.read_text())
    extra.update(more)
    return extra


def test_backup_ready_job_template_converges_with_only_the_awx_azure_credential(world, tmp_path):
    env = job_environment(world.env)
    assert set(env) == set(AWX_AZURE_RM_VARIABLES) | {"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"}

    rc, status, events, stdout = run_job_template(tmp_path / "job", world.env, world.env["SIM_INVENTORY"],
                                                  "backup_ready.yml", extra_vars=_extra_vars(), limit=LIMIT)

    assert (rc, status) == (0, "successful"), stdout[-6000:]
    verdicts = world.admin.readiness()
    assert verdicts["sqlvm-nostorage"]["ready"] is True
    assert verdicts["sqlvm-fci"] == {"ready": False, "reason": "fci_not_supported"}
    assert verdicts["sqlvm-nodir"]["ready"] is False  # outside the limit: untouched
    # The job's events (what AWX stores and shows) never carry the credential's secret.
    assert world.env["AZURE_SECRET"] not in json.dumps(events)
    assert world.env["AZURE_SECRET"] not in stdout


def test_compliance_job_template_in_check_mode_reports_and_writes_nothing(world, tmp_path):
    report_dir = tmp_path / "report"
    world.admin.clear_log()

    rc, status, _events, stdout = run_job_template(
        tmp_path / "job", world.env, world.env["SIM_INVENTORY"], "compliance.yml", check=True, limit=LIMIT,
        extra_vars=_extra_vars(compliance_report_dir=str(report_dir)))

    assert (rc, status) == (0, "successful"), stdout[-6000:]
    assert world.admin.writes() == []
    summary = json.loads((report_dir / "readiness.json").read_text())
    verdicts = {vm: info["verdict"] for vm, info in summary["vms"].items()}
    assert verdicts == {"sqlvm-nostorage": "not_ready", "sqlvm-fci": "ineligible"}
    assert summary["vms"]["sqlvm-nostorage"]["failing_steps"] == ["storage_role", "logins", "credential"]
    assert (report_dir / "readiness.xml").read_text().startswith("<?xml")

    rc, status, _events, stdout = run_job_template(
        tmp_path / "job2", world.env, world.env["SIM_INVENTORY"], "compliance.yml", check=True, limit=LIMIT,
        extra_vars=_extra_vars(compliance_report_dir=str(report_dir), compliance_fail_when_not_ready=True))

    assert (rc, status) == (2, "failed"), stdout[-6000:]
    assert "VM(s) not ready" in stdout
