"""backup_vault_identity against the world: Recovery Services and Data Protection vaults."""
from azure_checks import (
    assert_faults_consumed,
    assert_no_writes,
    failures,
    four_way,
    raise_if_write_not_replayed,
)


def test_recovery_services_system_assigned_four_ways(az):
    args = {"resource_group": "rg-sql", "name": "rsv-sql", "system_assigned": True}
    _first, real = four_way(az, "backup_vault_identity", args)
    assert real["principal_id"]
    vault = [v for rid, v in az.state()["vaults"].items() if rid.lower().endswith("/vaults/rsv-sql")][0]
    assert vault["principal_id"] == real["principal_id"]


def test_backup_vault_adds_a_user_assigned_identity_and_keeps_system(az):
    uami = az.uami("uami-sqlbackup")
    args = {"resource_group": "rg-sql", "name": "bv-sql", "vault_type": "backup_vault", "system_assigned": True,
            "user_assigned": ["uami-sqlbackup"]}
    _first, real = four_way(az, "backup_vault_identity", args)
    assert real["principal_ids"]["system"]
    assert uami["principal_id"] in real["principal_ids"].values()


def test_backup_vault_system_identity_is_a_no_op(az):
    task, writes = az.task("backup_vault_identity", {"resource_group": "rg-sql", "name": "bv-sql",
                                                     "vault_type": "backup_vault", "system_assigned": True})
    assert task["changed"] is False and task["principal_id"], task
    assert_no_writes(writes)


def test_survives_faults(az):
    az.admin.inject(path="*/vaults/rsv-sql", method="GET", status=429, retry_after=1, count=1)
    az.admin.inject(path="*/vaults/rsv-sql", method="GET", reset=True, count=1)
    az.admin.inject(path="*/vaults/rsv-sql", method="PATCH", status=500, count=1)
    az.admin.inject(path="*/vaults/rsv-sql", method="PATCH", status=429, retry_after=1, count=1)
    task, _writes = az.task("backup_vault_identity", {"resource_group": "rg-sql", "name": "rsv-sql",
                                                      "system_assigned": True})
    assert_faults_consumed(az)
    assert not task.failed and task["changed"] is True, task
    statuses = [e["status"] for e in az.requests() if e["service"] == "arm"]
    assert {429, 500, "reset"} <= set(statuses), statuses


def test_connection_reset_on_the_identity_patch_is_survived(az):
    az.admin.inject(path="*/backupVaults/bv-sql", method="PATCH", reset=True, count=1)
    task, _writes = az.task("backup_vault_identity", {"resource_group": "rg-sql", "name": "bv-sql",
                                                      "vault_type": "backup_vault", "system_assigned": True,
                                                      "user_assigned": ["uami-sqlbackup"]})
    assert_faults_consumed(az)
    raise_if_write_not_replayed(task)
    assert not task.failed and task["changed"] is True, task


def test_bad_input_fails_with_zero_writes(az):
    failures(az, "backup_vault_identity", [
        ({"resource_group": "rg-sql", "name": "rsv-sql"}, "nothing to do"),
        ({"resource_group": "rg-sql", "name": "no-vault", "system_assigned": True}, "not found"),
        ({"resource_group": "rg-sql", "name": "rsv-sql", "vault_type": "backup_vault", "system_assigned": True},
         "not found"),
        ({"resource_group": "rg-sql", "name": "rsv-sql", "user_assigned": ["uami-missing"]}, "does not exist"),
        ({"resource_group": "rg sql", "name": "rsv-sql", "system_assigned": True}, "starting with a letter or digit"),
    ])
