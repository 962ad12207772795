"""Blob I/O against Azurite, and the adapter from part 1's world object to `backend.WorldBackend`."""
from __future__ import annotations

import base64
import json
import time
import uuid


def mint_storage_jwt(object_id, tenant_id, app_id=None, lifetime=3600):
    """A bearer token Azurite's `--oauth basic` accepts: issuer https://sts.windows.net/, audience
    https://storage.azure.com (FACTS: Azurite checks neither signature nor RBAC — the world decides RBAC
    before any blob request is made)."""
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "kid": "sim"}
    claims = {"aud": "https://storage.azure.com", "iss": f"https://sts.windows.net/{tenant_id}/",
              "iat": now - 60, "nbf": now - 60, "exp": now + lifetime, "oid": object_id, "sub": object_id,
              "tid": tenant_id, "appid": app_id or object_id, "idtyp": "app"}

    def enc(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return f"{enc(header)}.{enc(claims)}.{base64.urlsafe_b64encode(b'sim-signature').rstrip(b'=').decode()}"


class _StaticToken:
    def __init__(self, token):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken
        return AccessToken(self.token, int(time.time()) + 3000)


class AzuriteBlobStore:
    """Block blobs in one Azurite container: staged blocks of MAXTRANSFERSIZE, then a committed block list."""

    def __init__(self, container_url, credential=None, sas=None, ca_file=None):
        from azure.storage.blob import ContainerClient
        kwargs = {"connection_verify": ca_file} if ca_file else {}
        if sas:
            self.client = ContainerClient.from_container_url(f"{container_url}?{sas.lstrip('?')}", **kwargs)
        else:
            cred = _StaticToken(credential) if isinstance(credential, str) else credential
            self.client = ContainerClient.from_container_url(container_url, credential=cred, **kwargs)

    def _call(self, fn, *args, **kwargs):
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
        try:
            return fn(*args, **kwargs)
        except ResourceNotFoundError as exc:
            raise FileNotFoundError(str(exc.reason)) from exc
        except ClientAuthenticationError as exc:
            raise PermissionError(str(exc.reason)) from exc
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise PermissionError(str(exc.reason)) from exc
            raise

    def exists(self, blob):
        return self._call(self.client.get_blob_client(blob).exists)

    def write(self, blob, blocks):
        from azure.storage.blob import BlobBlock
        bc = self.client.get_blob_client(blob)
        ids = []
        for i, block in enumerate(blocks):
            bid = base64.b64encode(f"{i:08d}-{uuid.uuid4().hex[:8]}".encode()).decode()
            self._call(bc.stage_block, bid, block)
            ids.append(BlobBlock(block_id=bid))
        self._call(bc.commit_block_list, ids)

    def read(self, blob):
        return self._call(lambda: self.client.get_blob_client(blob).download_blob().readall())


class WorldAdapter:
    """Maps part 1's world object onto backend.WorldBackend. Methods are looked up by the names their
    world module documents; anything missing is reported by name so the seam is easy to fix."""

    def __init__(self, world):
        self.world = world

    def _m(self, *names):
        for n in names:
            fn = getattr(self.world, n, None)
            if fn is not None:
                return fn
        raise NotImplementedError(f"world object offers none of {names}")

    def scenario_vms(self):
        return self._m("scenario_vms")()

    def entra_lookup(self, name):
        return self._m("entra_lookup", "find_principals")(name)

    def entra_get(self, oid):
        return self._m("entra_get", "get_principal")(oid)

    def group_ids_of(self, oid):
        return set(self._m("group_ids_of", "transitive_groups")(oid))

    def verify_token(self, token, audience):
        return self._m("verify_token")(token, audience)

    def sql_audiences(self):
        fn = getattr(self.world, "sql_audiences", None)
        return tuple(fn()) if fn else None

    def primary_identity(self, vm_key):
        return self._m("sql_primary_identity", "primary_identity")(vm_key)

    def can_read_directory(self, principal):
        return self._m("can_read_directory")(principal)

    def blob_access_allowed(self, principal, account, container, write=True):
        return self._m("blob_access_allowed")(principal, account, container, write=write)

    def blob_network_denial(self, vm_key, account):
        fn = getattr(self.world, "blob_network_denial", None)
        return fn(vm_key, account) if fn else None

    def blob_store(self, account, container, principal=None, sas=None):
        endpoint, ca = self._m("azurite_endpoint", "blob_endpoint")(account)
        url = f"{endpoint.rstrip('/')}/{container}"
        if sas:
            return AzuriteBlobStore(url, sas=sas, ca_file=ca)
        token = self._m("mint_token")(principal, "https://storage.azure.com")
        return AzuriteBlobStore(url, credential=token, ca_file=ca)

    def record_request(self, **entry):
        self._m("record_request")(**entry)

    def tds_fault(self, vm_key, statement):
        fn = getattr(self.world, "tds_fault", None) or getattr(self.world, "fault_for", None)
        return fn(vm_key, statement) if fn else None

    def tls_files(self):
        fn = getattr(self.world, "tls_files", None)
        return fn() if fn else None
