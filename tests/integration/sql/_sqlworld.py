"""The SQL Server side of the test world for the SQL modules' integration tests.

Starts the world's SQL Server service (tests/sim/sqlserver, real TDS on loopback, port chosen by the
OS) over the in-memory world backend it ships for tests of its own (`FakeBackend`): principals,
primary identities and blob-role grants are set here per VM. Every test starts from the scenario
(reset) with an empty request log.
"""
import re
from pathlib import Path

from tests.sim.sqlserver.backend import FakeBackend
from tests.sim.sqlserver.service import reset_sql_service

ROOT = Path(__file__).resolve().parents[3]
MS_DRIVER = str(ROOT / ".venv/lib/python3.11/site-packages/mssql_python_odbc/libs/linux/debian_ubuntu/x86_64/lib/"
                "libmsodbcsql-18.6.so.2.1")
FREETDS = "/usr/lib/x86_64-linux-gnu/odbc/libtdsodbc.so"
SA_PASSWORD = "Sa-Pa55word;{x}y"
CONTAINER = "https://acct1.blob.core.windows.net/backups"
OPS_OID = "11111111-2222-3333-4444-555555555555"
GROUP_OID = "99999999-2222-3333-4444-555555555555"

# vm key -> (sql spec, primary identity?, blob role? - True: Storage Blob Data Contributor, "reader": Reader)
_VMS = {
    "vm1": ({}, True, True),
    "nopri": ({}, False, True),
    "norole": ({}, True, False),
    "cu16": ({"version": "16.0.4165.4"}, True, True),
    "cu14": ({"version": "16.0.4135.4"}, True, True),
    "linux": ({"host_platform": "Linux"}, True, True),
    "fci": ({"clustered": True}, True, True),
    # A second server restoring vm1's backups: its identity may only read the storage account.
    "vm2": ({}, True, "reader"),
}


def _scenario():
    vms = {}
    for key, (extra, _primary, _role) in _VMS.items():
        sql = {"sa_password": SA_PASSWORD, "machine_name": key.upper(),
               "logins": [{"name": "SQL Backup Operators", "type": "X", "object_id": GROUP_OID}],
               "databases": [{"name": "app", "size_mb": 64, "tables": {"orders": {"generate": 500}}},
                             {"name": "simple", "size_mb": 8, "recovery_model": "SIMPLE"}]}
        sql.update(extra)
        vms[key] = {"name": key, "sql": sql}
    backend = FakeBackend(vms=vms)
    backend.add_principal("user", "Ops", OPS_OID, upn="ops@contoso.com")
    backend.add_principal("group", "SQL Backup Operators", GROUP_OID)
    for n, (key, (_extra, primary, role)) in enumerate(_VMS.items()):
        mi = backend.add_principal("servicePrincipal", key, "aaaaaaaa-0000-0000-0000-%012d" % n,
                                   app_id="bbbbbbbb-0000-0000-0000-%012d" % n)
        backend.directory_readers.add(mi["object_id"])
        backend.primary[key] = mi if primary else None
        if role == "reader":
            backend.blob_readers.add((mi["object_id"], "acct1", None))
        elif role:
            backend.blob_contributors.add((mi["object_id"], "acct1", None))
    return backend


class SqlWorld:
    def __init__(self, backend, handle):
        self.backend = backend
        self.handle = handle

    def port(self, vm="vm1"):
        return self.handle.ports[vm]

    def reset(self):
        reset_sql_service(self.handle)
        self.backend.stores.clear()
        self.backend.requests.clear()
        self.backend.faults.clear()

    def statements(self):
        """Statements the world ran, oldest first, each with `text` (the statement) and `kind` (read|write)."""
        out = []
        for entry in self.backend.requests:
            if entry.get("service") != "tds" or str(entry.get("method", "")).upper() in ("LOGIN", "LOGIN7"):
                continue
            if entry.get("method") == "login":  # older log format
                continue
            out.append(dict(entry, text=entry.get("path") or entry.get("route") or ""))
        return out

    def writes(self):
        return [r for r in self.statements() if r.get("kind") == "write"]

    def clear_log(self):
        self.backend.requests.clear()

    def connection(self, vm="vm1", driver="freetds", **extra):
        """Options for a task: SQL auth as sa, TLS on."""
        options = dict(sql_host="127.0.0.1", sql_port=self.port(vm), login_user="sa", login_password=SA_PASSWORD,
                       odbc_driver=FREETDS if driver == "freetds" else MS_DRIVER, encrypt="yes",
                       trust_server_certificate=True, login_timeout=10)
        options.update(extra)
        return options

    def pyodbc(self, vm="vm1", database="master"):
        import pyodbc
        return pyodbc.connect(
            "DRIVER={%s};SERVER=127.0.0.1;PORT=%d;TDS_Version=7.4;Encryption=require;DATABASE=%s;UID=sa;PWD={%s};"
            % (FREETDS, self.port(vm), database, SA_PASSWORD), autocommit=True, timeout=10)


def task(module, options, **extra):
    """A task calling sqlvm.backup.<module> that registers its result and never stops the play."""
    body = {"sqlvm.backup." + module: options, "ignore_errors": True}
    body.update(extra)
    return body


def no_secret(output, *secrets):
    for secret in secrets:
        assert secret not in output, "secret leaked: %r" % secret[:4]
        assert re.escape(secret) not in output
