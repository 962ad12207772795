"""Restore on a second server inside the running world (simctl): the blobs one SQL VM wrote are read by
another whose managed identity holds Storage Blob Data Reader on the container, granted through ARM."""
import importlib.util
import os
import sys
import uuid

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
pytestmark = pytest.mark.skipif(importlib.util.find_spec("sqlserver") is None, reason="SQL side not merged")
pyodbc = pytest.importorskip("pyodbc")
SA = "Sim-Passw0rd!"
CONTAINER = "https://stsqlbackup01.blob.core.windows.net/backups"
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"


def _sa(sim, vm):
    from sqlserver.testing import connect
    port = yaml.safe_load(open(sim.env["SIM_INVENTORY"]))["all"]["children"]["sql_vms"]["hosts"][vm]["sql_port"]
    return connect("msodbc18", port, "sa", SA).cursor()


def _run(cur, sql):
    cur.execute(sql)
    while cur.nextset():
        pass


def test_second_server_restores_with_blob_data_reader_but_cannot_back_up(sim):
    from azure.mgmt.authorization import AuthorizationManagementClient
    from simclients import mgmt, sub_path
    source = _sa(sim, "sqlvm-ready")
    _run(source, f"CREATE CREDENTIAL [{CONTAINER}] WITH IDENTITY = 'Managed Identity'")
    _run(source, f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/second/appdb_full.bak' WITH FORMAT")
    _run(source, f"BACKUP LOG appdb TO URL = '{CONTAINER}/second/appdb_log.bak' WITH FORMAT")

    target = _sa(sim, "sqlvm-nostorage")     # its identity (uami-nostorage) has no storage role
    _run(target, f"CREATE CREDENTIAL [{CONTAINER}] WITH IDENTITY = 'Managed Identity'")
    with pytest.raises(pyodbc.Error, match=r"Operating system error 5\(Access is denied\.\).*\(3201\)"):
        target.execute(f"RESTORE HEADERONLY FROM URL = '{CONTAINER}/second/appdb_full.bak'")
    uami = next(u for u in sim.admin.state()["user_assigned_identities"].values() if u["name"] == "uami-nostorage")
    scope = (sub_path(sim) + "/resourceGroups/rg-sql/providers/Microsoft.Storage/storageAccounts/stsqlbackup01"
             "/blobServices/default/containers/backups")
    mgmt(sim, AuthorizationManagementClient).role_assignments.create(scope, str(uuid.uuid4()), {
        "role_definition_id": sub_path(sim) + "/providers/Microsoft.Authorization/roleDefinitions/" + BLOB_DATA_READER,
        "principal_id": uami["principal_id"], "principal_type": "ServicePrincipal"})

    head = target.execute(f"RESTORE HEADERONLY FROM URL = '{CONTAINER}/second/appdb_full.bak'").fetchone()
    assert (head.ServerName, head.DatabaseName, head.BackupType) == ("SQLVM-READY", "appdb", 1)
    _run(target, f"RESTORE DATABASE appdb_ready FROM URL = '{CONTAINER}/second/appdb_full.bak' WITH NORECOVERY, "
                 "MOVE 'appdb' TO 'F:\\data\\appdb_ready.mdf', MOVE 'appdb_log' TO 'G:\\log\\appdb_ready.ldf'")
    _run(target, f"RESTORE LOG appdb_ready FROM URL = '{CONTAINER}/second/appdb_log.bak' WITH RECOVERY")
    assert target.execute("SELECT state_desc FROM sys.databases WHERE name = 'appdb_ready'").fetchone()[0] == "ONLINE"
    with pytest.raises(pyodbc.Error, match=r"Operating system error 5\(Access is denied\.\).*\(3201\)"):
        _run(target, f"BACKUP DATABASE appdb_ready TO URL = '{CONTAINER}/second/appdb_ready.bak' WITH FORMAT")
