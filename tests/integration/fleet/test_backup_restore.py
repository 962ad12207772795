"""backup.yml then restore.yml round-trip a database: the restore finds the backups in the server's history (msdb),
nothing is kept on the controller."""
from _fleet import query

VM = "sqlvm-nostorage"  # its last missing piece (the storage role) is granted by the converge


def test_backup_then_restore_round_trips_every_row(fleet):
    # Converge with the end-to-end probe on (given as a string, as on a command line).
    converge = fleet.play("backup_ready.yml", "-e", "backup_ready_probe=true", limit=VM)
    assert converge.rc == 0, converge
    probe_backup = converge.tasks(host=VM, action="sql_backup")[0]["result"]
    assert probe_backup["changed"] and "backup-ready-probe/" in probe_backup["backups"][0]["urls"][0]
    assert converge.tasks(host=VM, action="sql_restore")[0]["result"]["verified"] is True
    # Nothing left for the run to create: check mode asks sql_backup for its own prediction, and writes nothing.
    dry = fleet.play("backup_ready.yml", "-e", "backup_ready_probe=true", check=True, limit=VM)
    assert dry.rc == 0 and dry.writes == [], dry
    predicted = dry.tasks(host=VM, action="sql_backup")
    assert [(r["status"], r["result"].get("changed")) for r in predicted] == [("ok", True)], predicted
    assert [r for r in dry.tasks(host=VM, name="Probe - predict it") if r["status"] != "skipped"] == []

    backup = fleet.play("backup.yml", limit=VM, extra_vars={"backup_databases": ["app"]})
    assert backup.rc == 0, backup
    urls = backup.tasks(host=VM, action="sql_backup")[0]["result"]["backups"][0]["urls"]
    assert urls and all(url.startswith(fleet.hostvars()[VM]["container_url"] + "/") for url in urls)

    restore_vars = {"restore_source_database": "app"}
    restore = fleet.play("restore.yml", limit=VM, extra_vars=restore_vars)
    assert restore.rc == 0, restore
    # The chain is the backup.yml full (the probe's COPY_ONLY full is not the newest full a chain prefers).
    chain = restore.tasks(host=VM, name="Restore the chain under the new name")[0]["result"]["backups"]
    assert [(b["type"], b["urls"]) for b in chain] == [("full", urls)], chain
    original = query(fleet, VM, "SELECT * FROM [app].dbo.orders ORDER BY 1")
    restored = query(fleet, VM, "SELECT * FROM [app_restored].dbo.orders ORDER BY 1")
    assert len(original) == 250
    assert restored == original

    # Never over an existing database unless asked: the same restore again changes nothing.
    again = fleet.play("restore.yml", limit=VM, extra_vars=restore_vars)
    assert again.rc == 0 and again.recap[VM]["changed"] == 0, again
    assert [w for w in again.writes if w.get("service") == "tds"] == []
    assert query(fleet, VM, "SELECT COUNT(*) FROM [app_restored].dbo.orders") == [(250,)]


def test_restore_on_another_host_plans_from_the_source_hosts_history(fleet):
    target = "sqlvm-noentra"  # its last missing piece (the primary identity) is set by the converge
    converge = fleet.play("backup_ready.yml", limit=",".join([VM, target]))
    assert converge.rc == 0, converge
    backup = fleet.play("backup.yml", limit=VM, extra_vars={"backup_databases": ["app"]})
    assert backup.rc == 0, backup
    restore_vars = {"restore_source_host": VM, "restore_source_database": "app", "restore_database": "app_from_source"}

    dry = fleet.play("restore.yml", limit=target, extra_vars=restore_vars, check=True)
    assert dry.rc == 0 and dry.writes == [], dry
    predicted = dry.tasks(host=target, name="Restore the chain under the new name")[0]["result"]
    assert predicted["changed"] and [b["type"] for b in predicted["backups"]] == ["full"], predicted

    restore = fleet.play("restore.yml", limit=target, extra_vars=restore_vars)
    assert restore.rc == 0, restore
    assert query(fleet, target, "SELECT * FROM [app_from_source].dbo.orders ORDER BY 1") == \
        query(fleet, VM, "SELECT * FROM [app].dbo.orders ORDER BY 1")
