"""blob_retention against the world: the lifecycle rule created, unchanged on re-run, zero writes in check mode,
other rules kept, removal, bad input refused before any request."""
from azure_checks import assert_no_writes, failures, four_way

ARGS = {"resource_group": "rg-sql", "storage_account": "stsqlbackup01", "container": "backups", "days": 35}


def policy(az):
    return az.state()["storage_accounts"]["stsqlbackup01"]["management_policy"]


def test_retention_rule_four_ways(az):
    first, real = four_way(az, "blob_retention", ARGS)
    assert first["diff"]["before"] == {"rule": {}}
    assert first["diff"]["after"]["rule"]["delete_after_days"] == 35
    rules = policy(az)["policy"]["rules"]
    assert [r["name"] for r in rules] == ["sqlvmbackupbackups"] == [real["rule_name"]]
    assert rules[0]["definition"]["filters"]["prefixMatch"] == ["backups/"]
    assert rules[0]["definition"]["actions"]["baseBlob"]["delete"] == {"daysAfterModificationGreaterThan": 35}


def test_changing_days_keeps_other_rules_then_absent_removes_only_ours(az):
    task, _writes = az.task("blob_retention", dict(ARGS, container="archive", days=400, rule_name="archiveKeep"))
    assert task["changed"] is True, dict(task)
    az.task("blob_retention", ARGS)
    task, writes = az.task("blob_retention", dict(ARGS, days=14, cool_after_days=3))
    assert task["changed"] is True and len(writes) == 1, dict(task)
    rules = {r["name"]: r for r in policy(az)["policy"]["rules"]}
    assert set(rules) == {"archiveKeep", "sqlvmbackupbackups"}
    assert rules["archiveKeep"]["definition"]["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"] == 400
    assert rules["sqlvmbackupbackups"]["definition"]["actions"]["baseBlob"]["tierToCool"] == {
        "daysAfterModificationGreaterThan": 3}
    task, _writes = az.task("blob_retention", dict(ARGS, state="absent", days=None))
    assert task["changed"] is True
    assert [r["name"] for r in policy(az)["policy"]["rules"]] == ["archiveKeep"]
    task, _writes = az.task("blob_retention", dict(ARGS, container="archive", rule_name="archiveKeep",
                                                   state="absent", days=None))
    assert task["changed"] is True and policy(az) is None
    task, writes = az.task("blob_retention", dict(ARGS, state="absent", days=None))
    assert task["changed"] is False
    assert_no_writes(writes)


def test_a_rule_that_deletes_sooner_is_reported(az):
    az.task("blob_retention", dict(ARGS, days=7, rule_name="tidyUp", prefix=""))
    task, _writes = az.task("blob_retention", dict(ARGS, prefix="sqlvm01/", days=60))
    assert task["changed"] is True
    assert any("'tidyUp'" in w and "after 7 days" in w for w in task.get("warnings", [])), dict(task)


def test_bad_input_fails_with_zero_writes(az):
    failures(az, "blob_retention", [
        (dict(ARGS, days=0), "at least 1"),
        (dict(ARGS, days=None), "days"),
        (dict(ARGS, storage_account="StSqlBackup01"), "storage_account"),
        (dict(ARGS, storage_account="nosuchaccount"), "was not found"),
        (dict(ARGS, container="Backups"), "container"),
        (dict(ARGS, prefix="/x"), "leading '/'"),
        (dict(ARGS, rule_name="keep-35"), "letters and digits"),
        (dict(ARGS, cool_after_days=40), "cool_after_days"),
        (dict(ARGS, resource_group="rg-nothere"), "not found"),
    ])
