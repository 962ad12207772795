"""Helpers for the fidelity tests (tests/sim/tests/test_sql_*.py): a small standalone world (FakeBackend,
optionally backed by a real Azurite) and connection helpers for both ODBC drivers, pytds and tsql."""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from .adapter import AzuriteBlobStore, mint_storage_jwt
from .backend import FakeBackend

ROOT = Path(__file__).resolve().parents[3]
FREETDS = "/usr/lib/x86_64-linux-gnu/odbc/libtdsodbc.so"
MSODBC = str(ROOT / ".venv/lib/python3.11/site-packages/mssql_python_odbc/libs/linux/debian_ubuntu/x86_64/lib/"
                    "libmsodbcsql-18.6.so.2.1")
DRIVERS = {"freetds": FREETDS, "msodbc18": MSODBC}
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SA_PASSWORD = "Sim-Passw0rd!"

# Entra objects of the standalone world
ALICE = ("user", "alice@contoso.example", "0b9a5a6e-1f7d-4c43-9b43-6f0d6c0e1a01")
BOB = ("user", "bob@contoso.example", "0b9a5a6e-1f7d-4c43-9b43-6f0d6c0e1a02")
CAROL = ("user", "carol@contoso.example", "0b9a5a6e-1f7d-4c43-9b43-6f0d6c0e1a03")
DBAS = ("group", "sql-dbas", "0b9a5a6e-1f7d-4c43-9b43-6f0d6c0e1a10")
APP = ("servicePrincipal", "backup-automation", "0b9a5a6e-1f7d-4c43-9b43-6f0d6c0e1a20",
       "5d3c2b1a-0000-4000-8000-00000000aa20")
MI = {vm: ("servicePrincipal", f"{vm}-identity", f"9e0c0000-0000-4000-8000-0000000000{i:02d}",
           f"c11e0000-0000-4000-8000-0000000000{i:02d}")
      for i, vm in enumerate(["vm-ready", "vm-noprimary", "vm-noaccess", "vm-nodirread"], 1)}


def sql_spec(**extra):
    spec = {"version": "16.0.4175.1", "edition": "Enterprise Edition (64-bit)", "sa_password": SA_PASSWORD,
            "databases": [{"name": "AdventureWorks", "size_mb": 256,
                           "tables": {"orders": {"generate": 10000}}},
                          {"name": "appdb", "size_mb": 64,
                           "tables": {"items": {"columns": [["id", "int"], ["label", "nvarchar(50)"]],
                                                "rows": [[1, "one"], [2, "two"]]}}},
                          {"name": "bigdb", "size_mb": 60000, "recovery_model": "SIMPLE"}],
            "logins": [{"name": "operator", "password": "Op-Passw0rd!"}]}
    spec.update(extra)
    return spec


def build_backend(blob_backend=None, vm_count=None):
    """The standalone world: four VMs covering the managed-identity chain, or `vm_count` ready VMs."""
    if vm_count:
        vms = {f"vm{i:04d}": {"name": f"sqlvm{i:04d}", "sql": sql_spec()} for i in range(vm_count)}
    else:
        vms = {key: {"name": key, "sql": sql_spec()} for key in MI}
    b = (blob_backend or FakeBackend)(vms)
    for kind, name, oid in (ALICE, BOB, CAROL):
        b.add_principal(kind, name.split("@")[0].title(), oid, upn=name)
    b.add_principal(DBAS[0], DBAS[1], DBAS[2])
    b.add_principal(APP[0], APP[1], APP[2], app_id=APP[3])
    b.group_members[DBAS[2]] = {BOB[2]}
    for vm, (kind, name, oid, appid) in MI.items():
        p = b.add_principal(kind, name, oid, app_id=appid)
        if vm != "vm-noprimary":
            b.primary[vm] = p
        if vm != "vm-nodirread":
            b.directory_readers.add(oid)
        if vm != "vm-noaccess":
            b.blob_contributors.add((oid, "backupacct", None))
    for key in list(vms):
        if key.startswith("vm0"):
            p = b.add_principal("servicePrincipal", f"{key}-identity", f"9e0c0000-0000-4000-8000-{int(key[2:]):012d}",
                                app_id=f"c11e0000-0000-4000-8000-{int(key[2:]):012d}")
            b.primary[key] = p
            b.directory_readers.add(p["object_id"])
            b.blob_contributors.add((p["object_id"], "backupacct", None))
    return b


def mint_sql_token(backend, principal_oid, app_id=None, audience="https://database.windows.net/"):
    token = mint_storage_jwt(principal_oid, TENANT, app_id)  # any opaque string will do; remember its claims
    token = token + "." + str(len(backend.tokens))
    backend.tokens[token] = {"aud": audience, "oid": principal_oid, "appid": app_id, "tid": TENANT}
    return token


def token_struct(token: str) -> bytes:
    """SQL_COPT_SS_ACCESS_TOKEN (1256) payload: 4-byte length then the token in UTF-16-LE."""
    raw = token.encode("utf-16-le")
    return struct.pack("<I", len(raw)) + raw


def connect(driver, port, user=None, password=None, token=None, encrypt="no", ca_file=None, database=None,
            timeout=10):
    import pyodbc
    parts = [f"DRIVER={DRIVERS[driver]}", f"SERVER=127.0.0.1,{port}", f"Encrypt={encrypt}"]
    if encrypt in ("yes", "strict") or driver == "msodbc18":
        if ca_file and driver == "msodbc18":
            parts += ["TrustServerCertificate=no", "HostNameInCertificate=localhost"]
        elif ca_file:
            pass  # FreeTDS reads `ca file` from freetds.conf (FREETDSCONF)
        else:
            parts.append("TrustServerCertificate=yes")
    if database:
        parts.append(f"DATABASE={database}")
    attrs = {}
    if token:
        attrs[1256] = token_struct(token)
    else:
        parts += [f"UID={user}", f"PWD={{{password}}}"]
    return pyodbc.connect(";".join(parts), autocommit=True, timeout=timeout, attrs_before=attrs or None)


class Azurite:
    """A private Azurite blob service over HTTPS with OAuth (basic) for the backup tests."""

    def __init__(self, accounts=("backupacct",)):
        from .certs import make_test_ca_and_cert
        self.dir = tempfile.mkdtemp(prefix="sim-sql-azurite-")
        self.ca, self.cert, self.key = make_test_ca_and_cert(self.dir, ("127.0.0.1", "localhost"))
        self.key_b64 = "c2ltLXNxbC10ZXN0LWtleS1ub3Qtc2VjcmV0LTAwMDAwMDAwMDA="
        env = dict(os.environ, AZURITE_ACCOUNTS=";".join(f"{a}:{self.key_b64}" for a in accounts))
        exe = ROOT / "tests/sim/node_modules/.bin/azurite-blob"
        self.proc = subprocess.Popen(
            [str(exe), "--blobHost", "127.0.0.1", "--blobPort", "0", "--silent",
             "--skipApiVersionCheck", "--disableTelemetry", "--disableProductStyleUrl", "--oauth", "basic",
             "--cert", self.cert, "--key", self.key, "--inMemoryPersistence"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        self.port = None
        for _attempt in range(50):
            line = self.proc.stdout.readline()
            m = re.search(r"listens on https://127\.0\.0\.1:(\d+)", line or "")
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
        if not self.port:
            self.stop()
            raise RuntimeError("Azurite did not start")
        self.accounts = accounts

    def container_url(self, account, container):
        return f"https://127.0.0.1:{self.port}/{account}/{container}"

    def create_container(self, account, container):
        from azure.storage.blob import BlobServiceClient
        conn = (f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey={self.key_b64};"
                f"BlobEndpoint=https://127.0.0.1:{self.port}/{account};")
        svc = BlobServiceClient.from_connection_string(conn, connection_verify=self.ca)
        try:
            svc.create_container(container)
        except Exception:
            pass
        return svc.get_container_client(container)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def azurite_backend_class(azurite: Azurite):
    class AzuriteBackend(FakeBackend):
        def blob_store(self, account, container, principal=None, sas=None):
            url = azurite.container_url(account, container)
            if sas:
                return AzuriteBlobStore(url, sas=sas, ca_file=azurite.ca)
            token = mint_storage_jwt(principal["object_id"], TENANT, principal.get("app_id"))
            return AzuriteBlobStore(url, credential=token, ca_file=azurite.ca)
    return AzuriteBackend


def tsql_cli(port, user, password, sql, timeout=30):
    """Run FreeTDS's `tsql` against the port; returns (returncode, stdout+stderr)."""
    env = dict(os.environ, TDSVER="7.4")
    p = subprocess.run(["tsql", "-H", "127.0.0.1", "-p", str(port), "-U", user, "-P", password],
                       input=sql + "\ngo\nexit\n", capture_output=True, text=True, timeout=timeout, env=env, check=False)
    return p.returncode, p.stdout + p.stderr


__all__ = ["sys"]
