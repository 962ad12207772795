"""The example AWX project (examples/awx_project) as AWX job templates (ansible-runner) against the test world:
the collection installed from its built tarball through the project's collections/requirements.yml,
authenticated only by what AWX's Azure credential injects."""
import json

import yaml

from _awx import AWX_AZURE_RM_VARIABLES, job_environment, job_stats, run_job_template
from _fleet import WORLD_VARS

# A job template's limit: one VM to converge, one that cannot qualify (the fleet tests cover the rest).
LIMIT = "sqlvm-nostorage,sqlvm-fci"


def _extra_vars(**more):
    """The job template's extra vars: the world's SQL login (an AWX custom credential in real use)."""
    extra = yaml.safe_load(WORLD_VARS.read_text())
    extra.update(more)
    return extra


def test_backup_ready_job_template_converges_and_compliance_fails_when_sql_server_cannot_be_read(
        world, tmp_path, collection_tarball):
    env = job_environment(world.env)
    assert set(env) == set(AWX_AZURE_RM_VARIABLES) | {"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"}

    rc, status, events, stdout = run_job_template(tmp_path / "job", world.env, world.env["SIM_INVENTORY"],
                                                  "backup_ready.yml", collection_tarball, extra_vars=_extra_vars(),
                                                  limit=LIMIT)

    assert (rc, status) == (0, "successful"), stdout[-6000:]
    verdicts = world.admin.readiness()
    assert verdicts["sqlvm-nostorage"]["ready"] is True
    assert verdicts["sqlvm-fci"] == {"ready": False, "reason": "fci_not_supported"}
    assert verdicts["sqlvm-nodir"]["ready"] is False  # outside the limit: untouched
    # The job's events (what AWX stores and shows) never carry the credential's secret.
    assert world.env["AZURE_SECRET"] not in json.dumps(events)
    assert world.env["AZURE_SECRET"] not in stdout

    # The Azure side of sqlvm-nostorage is now ready; every SQL login fails (a wrong password): the steps SQL
    # Server holds cannot be read, which must not pass as ready.
    world.admin.clear_log()
    rc, status, events, stdout = run_job_template(
        tmp_path / "job2", world.env, world.env["SIM_INVENTORY"], "compliance.yml", collection_tarball, check=True,
        limit="sqlvm-nostorage", extra_vars=_extra_vars(sql_login_password="not-the-sa-password",
                                                        compliance_report_dir=str(tmp_path / "report"),
                                                        compliance_fail_when_not_ready=True))

    assert (rc, status) == (2, "failed"), stdout[-6000:]
    assert "1 VM(s) not ready (2 step(s) could not be read)" in stdout
    artifacts = job_stats(events)["artifact_data"]["sqlvm_backup_readiness"]
    assert artifacts["totals"] == {"vms": 1, "ready": 0, "not_ready": 1, "ineligible": 0}
    assert artifacts["status_counts"]["unknown"] == 2 and artifacts["status_counts"]["fail"] == 0
    not_ready = artifacts["not_ready_vms"]["sqlvm-nostorage"]
    assert not_ready["fix_tags"] == ["logins", "credential"]
    assert [(s["step"], s["status"]) for s in not_ready["steps"]] == [("logins", "unknown"), ("credential", "unknown")]
    assert all("18456" in s["reason"] for s in not_ready["steps"])
    assert world.admin.writes() == []


def test_compliance_job_template_in_check_mode_reports_as_artifacts_changes_nothing_and_can_fail(
        world, tmp_path, collection_tarball):
    report_dir = tmp_path / "report"
    world.admin.clear_log()

    rc, status, events, stdout = run_job_template(
        tmp_path / "job", world.env, world.env["SIM_INVENTORY"], "compliance.yml", collection_tarball, check=True,
        limit=LIMIT, extra_vars=_extra_vars(compliance_report_dir=str(report_dir)))

    assert (rc, status) == (0, "successful"), stdout[-6000:]
    assert world.admin.writes() == []
    stats = job_stats(events)
    # Writing its own report is not a change to the fleet: a --check run reports changed=0.
    assert stats["changed"] == {}, stats["changed"]
    summary = json.loads((report_dir / "readiness.json").read_text())
    verdicts = {vm: info["verdict"] for vm, info in summary["vms"].items()}
    assert verdicts == {"sqlvm-nostorage": "not_ready", "sqlvm-fci": "ineligible"}
    assert summary["vms"]["sqlvm-nostorage"]["failing_steps"] == ["storage_role", "logins", "credential"]
    assert (report_dir / "readiness.xml").read_text().startswith("<?xml")
    # The same summary, without the per-step rows, is the job's artifacts (set_stats), which AWX keeps.
    artifacts = stats["artifact_data"]["sqlvm_backup_readiness"]
    assert artifacts["totals"] == summary["totals"] == {"vms": 2, "ready": 0, "not_ready": 1, "ineligible": 1}
    assert artifacts["status_counts"] == summary["status_counts"]
    assert artifacts["not_ready_vms"]["sqlvm-nostorage"]["fix_tags"] == ["storage", "logins", "credential"]
    assert [s["tag"] for s in artifacts["not_ready_vms"]["sqlvm-nostorage"]["steps"]] == [
        "storage", "logins", "credential"]
    assert "failover cluster" in artifacts["ineligible_vms"]["sqlvm-fci"]
    assert artifacts["report_dir"] == str(report_dir) and artifacts["all_ready"] is False
    assert "vms" not in artifacts

    rc, status, _events, stdout = run_job_template(
        tmp_path / "job2", world.env, world.env["SIM_INVENTORY"], "compliance.yml", collection_tarball, check=True,
        limit=LIMIT, extra_vars=_extra_vars(compliance_report_dir=str(report_dir), compliance_fail_when_not_ready=True))

    assert (rc, status) == (2, "failed"), stdout[-6000:]
    assert "VM(s) not ready" in stdout
