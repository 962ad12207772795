"""playbooks/backup_ready.yml on the fleet world: converge, idempotence, check mode, partial states.

The world's own verdict (SimAdmin.readiness(), computed from its state) is the judge, never our modules.
"""
import json
import xml.etree.ElementTree as ET

import pytest

from _fleet import ELIGIBLE, INELIGIBLE, sql_side_running

AZURE_STEPS = {"sqlvm_identity", "entra_directory_reader", "role_assignment"}


def _ineligible_state(fleet):
    state = fleet.admin.state()
    vms = {vm: state["vms"][vm] for vm in INELIGIBLE}
    sqlvms = {vm: state["sql_virtual_machines"][state["vms"][vm]["sql_vm_resource_id"]] for vm in INELIGIBLE}
    return vms, sqlvms


def test_fresh_world_converges_eligible_vms_leaves_the_others_second_run_and_compliance_write_nothing(
        fleet, tmp_path):
    assert {vm: fleet.admin.readiness()[vm]["ready"] for vm in ELIGIBLE} == dict.fromkeys(ELIGIBLE, False)
    before = _ineligible_state(fleet)

    run = fleet.play("backup_ready.yml")

    assert run.rc == 0, run
    assert all(recap["failed"] == 0 and recap["unreachable"] == 0 for recap in run.recap.values()), run
    verdicts = fleet.admin.readiness()
    assert {vm: verdicts[vm]["ready"] for vm in ELIGIBLE} == dict.fromkeys(ELIGIBLE, True)
    # The summary lists each VM that cannot qualify with its reason (the fleet path decides it from the fleet read;
    # such a VM runs no task at all).
    ineligible = [r["result"]["msg"] for r in run.tasks(name="List the VMs that cannot back up to URL")][0]
    for vm, words in INELIGIBLE.items():
        assert run.recap.get(vm, {"changed": 0})["changed"] == 0, run
        assert not verdicts[vm]["ready"]
        assert words.lower() in ineligible[vm].lower(), (vm, ineligible)
        writers = [r for r in run.tasks(host=vm) if r["action"].rsplit(".", 1)[-1] in
                   AZURE_STEPS | {"sql_login", "sql_credential", "sql_backup"} and r["status"] != "skipped"]
        assert writers == [], writers
    assert _ineligible_state(fleet) == before
    assert "cannot back up to URL with a managed identity" in run.output
    assert run.writes

    second = fleet.play("backup_ready.yml")

    assert second.rc == 0, second
    assert {host: recap["changed"] for host, recap in second.recap.items()} == dict.fromkeys(second.recap, 0)
    assert second.writes == []

    report = tmp_path / "report"
    compliance = fleet.play("compliance.yml", check=True,
                            extra_vars={"compliance_report_dir": str(report), "compliance_fail_when_not_ready": False})
    assert compliance.rc == 0, compliance
    assert compliance.writes == []
    summary = json.loads((report / "readiness.json").read_text())
    assert {vm: summary["vms"][vm]["verdict"] for vm in ELIGIBLE} == dict.fromkeys(ELIGIBLE, "ready")
    assert {vm: summary["vms"][vm]["verdict"] for vm in INELIGIBLE} == dict.fromkeys(INELIGIBLE, "ineligible")
    for vm, words in INELIGIBLE.items():
        platform = [row for row in summary["vms"][vm]["steps"] if row["step"] == "platform"][0]
        assert words.lower() in platform["reason"].lower()
    assert "4 ready, 0 not ready, 4 ineligible" in (report / "readiness.md").read_text()
    junit = ET.fromstring((report / "readiness.xml").read_bytes())
    assert junit.get("failures") == "0"
    assert len(junit.findall("testsuite")) == len(ELIGIBLE) + len(INELIGIBLE)


def test_check_diff_on_a_fresh_world_shows_every_change_and_writes_nothing(fleet):
    run = fleet.play("backup_ready.yml", check=True, diff=True)

    assert run.rc == 0, run
    assert run.writes == []
    for vm in ELIGIBLE:
        assert run.recap[vm]["changed"] > 0, run
    for vm in INELIGIBLE:
        assert run.recap.get(vm, {"changed": 0})["changed"] == 0, run
    fresh = run.changed_modules("sqlvm-fresh")
    assert "sqlvm_identity" in fresh
    # The grants that wait for the identity Azure has not created yet are shown too.
    [outcome] = run.fleet_outcomes("sqlvm-fresh")
    waiting = [step for step, result in outcome["steps"].items() if result.get("waits_for")]
    assert sorted(waiting) == ["directory", "storage"], outcome
    [write] = [r["result"] for r in run.tasks(action="sqlvm.backup.backup_ready_fleet")]
    assert write["diff"]["before"]["sqlvm-fresh"]["identity"] != write["diff"]["after"]["sqlvm-fresh"]["identity"]
    assert run.changed_modules("sqlvm-nodir")[:1] == ["entra_directory_reader"]
    assert "role_assignment" in run.changed_modules("sqlvm-nostorage")
    assert {vm: v["ready"] for vm, v in fleet.admin.readiness().items() if vm in ELIGIBLE} == dict.fromkeys(
        ELIGIBLE, False)


@pytest.mark.parametrize("vm, step", [
    ("sqlvm-fresh", "sqlvm_identity"),            # no identity at all
    ("sqlvm-noentra", "sqlvm_identity"),          # identity, but no primary identity for Entra auth
    ("sqlvm-nodir", "entra_directory_reader"),    # primary identity cannot read the directory
    ("sqlvm-nostorage", "role_assignment"),       # no Storage Blob Data Contributor
])
def test_a_vm_missing_one_azure_step_converges(fleet, vm, step):
    run = fleet.play("backup_ready.yml", limit=vm)

    assert run.rc == 0, run
    assert fleet.admin.readiness()[vm]["ready"] is True
    changed = set(run.changed_modules(vm)) & AZURE_STEPS
    if vm == "sqlvm-fresh":
        assert changed == AZURE_STEPS
    else:
        assert changed == {step}, run.changed_modules(vm)


@pytest.mark.parametrize("module, absent", [
    ("sql_login", {"name": "SQL DBAs", "state": "absent"}),
    ("sql_credential", {"url": None, "state": "absent"}),
])
def test_a_vm_missing_its_login_or_credential_converges(fleet, module, absent):
    if not sql_side_running(fleet):
        pytest.fail("the world's inventory has no sql_host: its SQL Server side is not running")
    vm = "sqlvm-nodir"
    assert fleet.play("backup_ready.yml", limit=vm).rc == 0
    host = fleet.hostvars()[vm]
    if "url" in absent:
        absent["url"] = host["container_url"]
    removed = fleet.runner.module("sqlvm.backup.%s" % module, dict(absent, **fleet.sql_connection(vm)))
    assert removed.get("changed"), removed

    run = fleet.play("backup_ready.yml", limit=vm)

    assert run.rc == 0, run
    assert run.changed_modules(vm) == [module]
