"""The seam between the Azure side and the SQL Server side (tests/sim/sqlserver): BACKUP TO URL with a
managed identity succeeds or fails according to the world's identities, Entra settings and RBAC."""
import importlib.util
import os
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
pytestmark = pytest.mark.skipif(importlib.util.find_spec("sqlserver") is None, reason="SQL side not merged")


def _hosts(world):
    return yaml.safe_load(open(world.env["SIM_INVENTORY"]))["all"]["children"]["sql_vms"]["hosts"]


def _backup(world, vm):
    from sqlserver.testing import connect
    host = _hosts(world)[vm]
    conn = connect("freetds", host["sql_port"], user="sa", password="Sim-Passw0rd!")
    try:
        cursor = conn.cursor()
        url = host["container_url"]
        cursor.execute("CREATE CREDENTIAL [%s] WITH IDENTITY = 'Managed Identity'" % url)
        cursor.execute("BACKUP DATABASE [appdb] TO URL = '%s/appdb.bak'" % url)
        while cursor.nextset():
            pass
        return None
    except Exception as exc:  # pyodbc.Error: the SQL error number is in the message
        return str(exc)
    finally:
        conn.close()


def test_inventory_carries_sql_endpoints(sim):
    hosts = _hosts(sim)
    assert all(isinstance(h.get("sql_port"), int) for h in hosts.values())


def test_backup_to_url_follows_the_world(sim):
    from azure.identity import ManagedIdentityCredential
    from azure.storage.blob import BlobServiceClient
    from simclients import managed_identity_env, patched_env
    assert _backup(sim, "sqlvm-ready") is None
    with patched_env(**managed_identity_env(sim, "sqlvm-ready")):
        service = BlobServiceClient(sim.env["SIM_AZURITE_URL"] + "/stsqlbackup01", credential=ManagedIdentityCredential())
        assert "appdb.bak" in [b.name for b in service.get_container_client("backups").list_blobs()]
    assert "(3201)" in (_backup(sim, "sqlvm-nostorage") or "")   # no Storage Blob Data Contributor
    assert "(37563)" in (_backup(sim, "sqlvm-noentra") or "")    # no primary identity
    tds = [e for e in sim.admin.requests() if e["service"] == "tds"]
    assert tds, "TDS traffic lands in the world's request log"
