"""What the SQL Server side needs from the rest of the world, and an in-memory stand-in.

`WorldBackend` is the seam to part 1 (tests/sim, branch sim-azure). `adapter.py` implements it over
their world object; `FakeBackend` implements it in memory for unit tests of this package.
Principals are plain dicts: {"object_id", "app_id" (service principals only), "display_name",
"kind": "user"|"group"|"servicePrincipal", "upn" (users)}.
"""
from __future__ import annotations

import threading
from typing import Optional, Protocol


class BlobStore(Protocol):
    def exists(self, blob: str) -> bool: ...
    def write(self, blob: str, blocks: list[bytes]) -> None: ...
    def read(self, blob: str) -> bytes: ...


class WorldBackend(Protocol):
    def scenario_vms(self) -> dict:
        """{vm_key: {"name": ..., "sql": {...the VM's sql subtree...}}} for every SQL VM."""

    def entra_lookup(self, name: str) -> list[dict]:
        """Principals whose display name, UPN or mail equals `name` (case-insensitive)."""

    def entra_get(self, object_or_app_id: str) -> Optional[dict]:
        """Principal by object id, or service principal by app (client) id."""

    def group_ids_of(self, object_id: str) -> set:
        """Object ids of the groups `object_id` is a transitive member of."""

    def verify_token(self, token: str, audience: str) -> Optional[dict]:
        """Claims of a valid token minted by the world for `audience`, else None."""

    def sql_audiences(self) -> Optional[tuple]:
        """Token audiences the SQL Servers accept (the cloud's SQL resource); optional, None means
        instance.SQL_AUDIENCES (https://database.windows.net/, Azure's public cloud)."""

    def primary_identity(self, vm_key: str) -> Optional[dict]:
        """The SQL VM resource's primary managed identity (a principal with object_id and app_id) or None."""

    def can_read_directory(self, principal: dict) -> bool: ...

    def blob_access_allowed(self, principal: dict, account: str, container: str, write: bool = True) -> bool: ...

    def blob_store(self, account: str, container: str, principal: Optional[dict] = None,
                   sas: Optional[str] = None) -> BlobStore: ...

    def record_request(self, **entry) -> None: ...

    def tds_fault(self, vm_key: str, statement: str) -> Optional[dict]:
        """A fault injected for this VM whose pattern matches `statement`, or None.
        {"action": "drop"|"delay"|"error", "seconds": float, "number", "class", "state", "message"}"""

    def tls_files(self) -> Optional[tuple]:
        """(certfile, keyfile, cafile) of the world's CA-issued server certificate, or None."""


class MemoryBlobStore:
    def __init__(self):
        self.blobs = {}
        self.lock = threading.Lock()

    def exists(self, blob):
        return blob in self.blobs

    def write(self, blob, blocks):
        with self.lock:
            self.blobs[blob] = b"".join(blocks)

    def read(self, blob):
        return self.blobs[blob]


class FakeBackend:
    """In-memory world for unit tests: set the attributes directly."""

    def __init__(self, vms=None):
        self.vms = vms or {}
        self.principals = {}          # object_id -> principal
        self.group_members = {}       # group object id -> set(member object ids)
        self.directory_readers = set()  # object ids allowed to read the directory
        self.blob_contributors = set()  # (object_id, account, container or None)
        self.blob_readers = set()     # (object_id, account, container or None): Storage Blob Data Reader
        self.primary = {}             # vm_key -> principal or None
        self.tokens = {}              # token -> claims
        self.faults = []
        self.requests = []
        self.stores = {}

    def add_principal(self, kind, display_name, object_id, app_id=None, upn=None):
        p = {"kind": kind, "display_name": display_name, "object_id": object_id, "app_id": app_id,
             "upn": upn}
        self.principals[object_id] = p
        return p

    def scenario_vms(self):
        return self.vms

    def entra_lookup(self, name):
        n = name.lower()
        return [p for p in self.principals.values()
                if n in ((p.get("display_name") or "").lower(), (p.get("upn") or "").lower())]

    def entra_get(self, oid):
        oid = oid.lower()
        for p in self.principals.values():
            if p["object_id"].lower() == oid or (p.get("app_id") or "").lower() == oid:
                return p
        return None

    def group_ids_of(self, object_id):
        found, todo = set(), [object_id]
        while todo:
            cur = todo.pop()
            for gid, members in self.group_members.items():
                if cur in members and gid not in found:
                    found.add(gid)
                    todo.append(gid)
        return found

    def verify_token(self, token, audience):
        claims = self.tokens.get(token)
        if claims and claims.get("aud") in (audience, audience.rstrip("/")):
            return claims
        return None

    def primary_identity(self, vm_key):
        return self.primary.get(vm_key)

    def can_read_directory(self, principal):
        return principal["object_id"] in self.directory_readers

    def blob_access_allowed(self, principal, account, container, write=True):
        oid = principal["object_id"]
        holders = self.blob_contributors if write else self.blob_contributors | self.blob_readers
        return (oid, account, None) in holders or (oid, account, container) in holders

    def blob_store(self, account, container, principal=None, sas=None):
        return self.stores.setdefault((account, container), MemoryBlobStore())

    def record_request(self, **entry):
        self.requests.append(entry)

    def tds_fault(self, vm_key, statement):
        import re
        for f in self.faults:
            if f.get("vm") in (None, vm_key) and re.search(f.get("pattern", ""), statement, re.I):
                return f
        return None

    def tls_files(self):
        return None
