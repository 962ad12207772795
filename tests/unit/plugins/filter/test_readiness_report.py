"""The readiness report filters: rows per VM and step, verdicts, Markdown, JUnit XML."""
import json
import xml.etree.ElementTree as ET

from ansible_collections.sqlvm.backup.plugins.filter import readiness as r

URL = "https://stsqlbackup01.blob.core.windows.net/backups"


def _check(ready, reason="because"):
    return {"ready": ready, "reason": reason}


def _azure(**overrides):
    checks = {name: _check(True, name + " ok") for name in (
        "sql_vm_resource", "platform", "vm_identity", "entra_authentication", "directory_read", "storage_access")}
    checks.update(overrides)
    return {"changed": False, "ready": all(c["ready"] for c in checks.values()), "checks": checks}


def _sql(credentials=(URL,), logins=("SQL DBAs",), supported=True, reasons=()):
    return {"changed": False, "managed_identity_backup_supported": supported, "reasons": list(reasons),
            "credentials": [{"name": n, "identity": "Managed Identity", "managed_identity": True} for n in credentials],
            "entra_logins": [{"name": n, "type": "entra_group", "enabled": True} for n in logins]}


def _rows_of(vm_rows):
    return {row["step"]: row for row in vm_rows}


def test_ready_vm_passes_every_step_in_convergence_order():
    rows = r.readiness_rows([{"vm": "sqlvm-ready", "sqlvm_info": _azure(), "sql_info": _sql(), "container_url": URL}])
    assert [row["step"] for row in rows] == list(r.STEP_NAMES)
    assert all(row["status"] == "pass" and row["ready"] and row["fix"] is None for row in rows)
    assert r.readiness_summary(rows)["all_ready"] is True


def test_each_missing_step_fails_with_its_reason_and_fix():
    azure = _azure(directory_read=_check(False, "the primary identity cannot read the directory"),
                   storage_access=_check(False, "no Storage Blob Data Contributor"))
    rows = _rows_of(r.readiness_rows([{"vm": "vm1", "sqlvm_info": azure, "sql_info": _sql(credentials=(), logins=()),
                                       "container_url": URL}]))
    assert rows["directory_read"]["status"] == "fail"
    assert rows["directory_read"]["reason"] == "the primary identity cannot read the directory"
    assert "entra_directory_reader" in rows["directory_read"]["fix"]
    assert rows["storage_role"]["status"] == "fail" and "role_assignment" in rows["storage_role"]["fix"]
    assert rows["logins"]["status"] == "fail" and "sql_login" in rows["logins"]["fix"]
    assert rows["credential"]["status"] == "fail" and URL in rows["credential"]["reason"]
    assert rows["identity"]["status"] == "pass"
    summary = r.readiness_summary(list(rows.values()))
    assert summary["vms"]["vm1"]["verdict"] == "not_ready"
    assert summary["vms"]["vm1"]["failing_steps"] == ["directory_read", "storage_role", "logins", "credential"]
    assert summary["all_ready"] is False


def test_credential_name_differing_only_in_case_is_called_out():
    rows = _rows_of(r.readiness_rows([{"vm": "vm1", "sqlvm_info": _azure(), "container_url": URL,
                                       "sql_info": _sql(credentials=(URL.replace("backups", "Backups"),))}]))
    assert rows["credential"]["status"] == "fail"
    assert "case-sensitive" in rows["credential"]["reason"]


def test_ineligible_vm_reports_reason_once_and_skips_the_rest():
    azure = _azure(platform=_check(False, "SQL Server 2019 (15.0.4385.2) does not support managed identities"))
    rows = r.readiness_rows({"sqlvm-2019": {"sqlvm_info": azure, "sql_info": _sql()}})
    by_step = _rows_of(rows)
    assert by_step["platform"]["status"] == "ineligible"
    assert "2019" in by_step["platform"]["reason"]
    assert {row["status"] for step, row in by_step.items() if step != "platform"} == {"skipped"}
    summary = r.readiness_summary(rows)
    assert summary["vms"]["sqlvm-2019"]["verdict"] == "ineligible"
    assert summary["totals"] == {"vms": 1, "ready": 0, "not_ready": 0, "ineligible": 1}


def test_sql_side_verdict_makes_a_vm_ineligible_when_azure_cannot_tell():
    rows = _rows_of(r.readiness_rows([{"vm": "linux", "sqlvm_info": _azure(), "container_url": URL, "sql_info": _sql(
        supported=False, reasons=["SQL Server on Linux does not support backup with a managed identity",
                                  "no Microsoft Entra logins exist"])}]))
    assert rows["platform"]["status"] == "ineligible"
    assert rows["platform"]["reason"] == "SQL Server on Linux does not support backup with a managed identity"


def test_explicit_ineligible_reason_wins():
    rows = _rows_of(r.readiness_rows([{"vm": "fci", "ineligible_reason": "failover cluster instance"}]))
    assert rows["platform"] == {"vm": "fci", "step": "platform", "status": "ineligible", "ready": False,
                                "reason": "failover cluster instance", "fix": None}


def test_failed_reads_become_unknown_not_pass():
    rows = _rows_of(r.readiness_rows([{"vm": "vm1", "sqlvm_info": {"failed": True, "msg": "403 AuthorizationFailed"},
                                       "sql_info": {"failed": True, "msg": "Login failed (18456)"}}]))
    assert rows["identity"]["status"] == "unknown" and "403" in rows["identity"]["reason"]
    assert rows["logins"]["status"] == "unknown" and "18456" in rows["logins"]["reason"]
    assert r.readiness_summary(list(rows.values()))["vms"]["vm1"]["verdict"] == "not_ready"


def test_a_vm_whose_sql_side_cannot_be_read_is_not_ready_even_when_azure_is():
    # Every SQL login failing must not pass compliance: unknown rows make the VM not ready.
    summary = r.readiness_summary(r.readiness_rows([
        {"vm": "vm1", "sqlvm_info": _azure(), "sql_info": {"failed": True, "msg": "Login failed (18456)"}}]))
    assert summary["vms"]["vm1"]["verdict"] == "not_ready"
    assert summary["totals"] == {"vms": 1, "ready": 0, "not_ready": 1, "ineligible": 0}
    assert summary["status_counts"] == {"pass": 6, "fail": 0, "unknown": 2, "ineligible": 0, "skipped": 0}
    assert summary["not_ready_vms"]["vm1"]["fix_tags"] == ["logins", "credential"]
    assert summary["all_ready"] is False


def test_summary_lists_not_ready_vms_with_reason_fix_and_tag_and_ineligible_vms_with_reason():
    rows = r.readiness_rows([
        {"vm": "vm1", "sqlvm_info": _azure(vm_identity=_check(False, "no identity"),
                                           entra_authentication=_check(False, "no primary")), "sql_info": _sql()},
        {"vm": "vm2", "sqlvm_info": _azure(), "sql_info": _sql()},
        {"vm": "fci", "ineligible_reason": "failover cluster instance"}])

    summary = r.readiness_summary(rows)

    assert set(summary["not_ready_vms"]) == {"vm1"}
    assert summary["not_ready_vms"]["vm1"] == {"fix_tags": ["identity"], "steps": [
        {"step": "identity", "status": "fail", "reason": "no identity",
         "fix": "backup_ready tag identity (sqlvm.backup.sqlvm_identity)", "tag": "identity"},
        {"step": "primary_identity", "status": "fail", "reason": "no primary",
         "fix": "backup_ready tag identity (sqlvm.backup.sqlvm_identity)", "tag": "identity"}]}
    assert summary["ineligible_vms"] == {"fci": "failover cluster instance"}
    assert summary["status_counts"] == {"pass": 14, "fail": 2, "unknown": 0, "ineligible": 1, "skipped": 7}
    assert summary["totals"] == {"vms": 3, "ready": 1, "not_ready": 1, "ineligible": 1}


def test_missing_storage_check_and_missing_sql_are_unknown():
    azure = _azure()
    del azure["checks"]["storage_access"]
    rows = _rows_of(r.readiness_rows([{"vm": "vm1", "sqlvm_info": azure}]))
    assert rows["storage_role"]["status"] == "unknown" and "storage scope" in rows["storage_role"]["reason"]
    assert rows["credential"]["status"] == "unknown"


def test_summary_is_json_and_empty_input_is_not_all_ready():
    assert r.readiness_summary([])["all_ready"] is False
    json.dumps(r.readiness_summary(r.readiness_rows([{"vm": "a", "sqlvm_info": _azure(), "sql_info": _sql()}])))


def test_markdown_has_a_line_per_vm_and_step_and_escapes_pipes():
    azure = _azure(storage_access=_check(False, "no role | at scope"))
    rows = r.readiness_rows([{"vm": "a", "sqlvm_info": _azure(), "sql_info": _sql(), "container_url": URL},
                             {"vm": "b", "sqlvm_info": azure, "sql_info": _sql(), "container_url": URL}])
    text = r.readiness_markdown(rows, title="Nightly")
    assert text.startswith("# Nightly\n")
    assert "2 VMs: 1 ready, 1 not ready, 0 ineligible." in text
    assert "| b | not_ready | storage_role |" in text
    step_lines = [line for line in text.splitlines() if line.startswith("| a |") or line.startswith("| b |")]
    assert len(step_lines) == 2 + 2 * len(r.STEP_NAMES)
    assert "no role \\| at scope" in text


def test_junit_counts_failures_and_skips_and_is_well_formed():
    bad = _azure(vm_identity=_check(False, "the VM has no managed identity <none> & more"))
    rows = r.readiness_rows([
        {"vm": "good", "sqlvm_info": _azure(), "sql_info": _sql(), "container_url": URL},
        {"vm": "bad", "sqlvm_info": bad, "sql_info": _sql(), "container_url": URL},
        {"vm": "old", "ineligible_reason": "SQL Server 2022 CU16 is older than CU17"},
    ])
    root = ET.fromstring(r.readiness_junit(rows).encode())
    assert root.tag == "testsuites"
    assert root.get("tests") == str(len(rows))
    assert root.get("failures") == "1"
    assert root.get("skipped") == str(len(r.STEP_NAMES))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"good", "bad", "old"}
    failure = suites["bad"].find("testcase[@name='identity']/failure")
    assert "<none> & more" in failure.get("message") and "sqlvm_identity" in failure.get("message")
    assert suites["old"].find("testcase[@name='platform']/skipped").get("message").startswith("SQL Server 2022 CU16")
    assert suites["good"].get("failures") == "0"


def test_filter_module_exposes_the_filters():
    assert set(r.FilterModule().filters()) == {"readiness_entry", "readiness_rows", "readiness_summary", "readiness_markdown",
                                               "readiness_junit", "readiness_reports"}


def test_the_reports_of_one_pass_equal_each_filters_own(tmp_path):
    """readiness_reports gives what the three filters and to_nice_json give for the same rows."""
    from ansible.plugins.filter.core import to_nice_json
    host = {"inventory_hostname": "vm1", "compliance_sqlvm_info": _azure(), "container_url": URL}
    rows = r.readiness_rows([r.readiness_entry(host)])
    reports = r.readiness_reports(rows, title="Nightly", suite="nightly")
    assert reports["summary"] == r.readiness_summary(rows)
    assert reports["markdown"] == r.readiness_markdown(rows, title="Nightly")
    assert reports["junit"] == r.readiness_junit(rows, suite="nightly")
    assert reports["json"] == to_nice_json(r.readiness_summary(rows))


def test_entry_from_hostvars_treats_a_skipped_sql_read_as_not_queried():
    host = {"inventory_hostname": "vm1", "compliance_sqlvm_info": _azure(), "container_url": URL,
            "compliance_sql_info": {"skipped": True, "changed": False}}
    entry = r.readiness_entry(host)
    assert entry == {"vm": "vm1", "sqlvm_info": host["compliance_sqlvm_info"], "sql_info": None, "container_url": URL}
    assert r.readiness_entry({"inventory_hostname": "x", "reg_a": {"a": 1}}, "reg_a", "reg_b") == {
        "vm": "x", "sqlvm_info": {"a": 1}, "sql_info": None, "container_url": None}


def test_network_checks_become_rows_with_their_own_fix_and_unknown_when_undecided():
    azure = _azure(
        storage_network={"ready": False, "reason": "the storage firewall denies the VM's subnet",
                         "fix": "add the subnet to the account's virtual network rules"},
        outbound_storage={"ready": True, "reason": "AllowStorage (100) allows TCP 443", "fix": None},
        outbound_entra={"ready": None, "reason": "rule 200 names a public CIDR", "fix": "check it by hand"})
    rows = _rows_of(r.readiness_rows([{"vm": "a", "sqlvm_info": azure, "sql_info": _sql(), "container_url": URL}]))
    assert rows["storage_network"]["status"] == "fail"
    assert rows["storage_network"]["fix"] == "add the subnet to the account's virtual network rules"
    assert rows["outbound_storage"]["status"] == "pass" and rows["outbound_storage"]["fix"] is None
    assert rows["outbound_entra"]["status"] == "unknown" and rows["outbound_entra"]["fix"] == "check it by hand"
    summary = r.readiness_summary(list(rows.values()))
    assert summary["totals"]["not_ready"] == 1
    # Without network checks (check_network off, or an older sqlvm_info result) there are no network rows.
    plain = r.readiness_rows([{"vm": "a", "sqlvm_info": _azure(), "sql_info": _sql(), "container_url": URL}])
    assert not {row["step"] for row in plain} & set(r.NETWORK_STEPS)
