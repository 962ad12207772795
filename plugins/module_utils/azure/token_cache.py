# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Access tokens kept between tasks, so a playbook signs in once per identity and hour, not per task.

Ansible runs every task in a new Python process, so azure-identity's in-memory cache is lost after
each task: without this, every task imports azure-identity and msal (about 0.15 s) and asks the
sign-in authority for a token (a request and a TLS handshake). Azure CLI keeps its tokens on disk for
the same reason (~/.azure/msal_token_cache.json); we do likewise, per user, in
``$XDG_CACHE_HOME/sqlvm.backup/tokens`` (``~/.cache/...``):

- one file per identity and scope, named by a SHA-256 digest of what identifies the identity (the
  cloud's authority, tenant, client id, the kind of sign-in, and a digest of the secret, password or
  certificate - never the secret itself), so another secret, user or cloud never finds this token;
- the directory is 0700 and each file 0600, written atomically; a file or directory that another
  user owns, that others may read, or that is a symbolic link is ignored (private_files.py);
- a token is served only while it has more than REFRESH_SECONDS left, the window azure-core itself
  refreshes in; one that ARM or Graph refuses with 401 is dropped and replaced (CachingBearerPolicy).

The option ``token_cache: false`` (or SQLVM_BACKUP_TOKEN_CACHE=false) turns it off: nothing is
read or written, and every task signs in.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from ansible_collections.sqlvm.backup.plugins.module_utils.common import private_files

REFRESH_SECONDS = 300
# Entra access tokens live 60-90 minutes (up to 28 hours with continuous access evaluation).
STALE_SECONDS = 2 * 24 * 3600
KEY_VERSION = "1"
_FILE_PREFIX = "token-"


def _digest(*parts):
    return hashlib.sha256("\0".join(str(part) for part in parts).encode("utf-8")).hexdigest()


def _file_digest(path):
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def _azure_cli_profile(environ):
    config_dir = environ.get("AZURE_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".azure")
    return os.path.join(config_dir, "azureProfile.json")


def identity_fingerprint(source, settings, environ):
    """What tells one identity from another for `source` (auth.choose_auth_source's answer), or None
    when it cannot be told reliably and the token must not be cached."""
    if source == "credentials":
        if settings.client_id and settings.tenant and settings.secret:
            return ("secret", settings.client_id.lower(), _digest("secret", settings.secret))
        if settings.client_id and settings.tenant and settings.client_certificate_path:
            certificate = _file_digest(settings.client_certificate_path)
            if certificate is None:
                return None
            return ("certificate", settings.client_id.lower(), certificate)
        if settings.ad_user and settings.password:
            return ("user", (settings.client_id or "").lower(), settings.ad_user.lower(),
                    _digest("password", settings.password))
        return None
    if source == "workload_identity":
        return ("workload", (settings.client_id or "").lower(), settings.federated_token_file or "")
    if source == "msi":
        endpoint = (environ.get("IDENTITY_ENDPOINT") or environ.get("MSI_ENDPOINT")
                    or environ.get("AZURE_POD_IDENTITY_AUTHORITY_HOST") or "imds")
        return ("msi", (settings.client_id or "system").lower(), endpoint)
    if source == "cli":
        # `az login` / `az account set` rewrite the profile: a token of the previous account is not reused.
        profile = _file_digest(_azure_cli_profile(environ))
        return ("cli", profile) if profile else None
    return None


def cache_key(source, settings, authority_host, scope, environ):
    """File-name-safe key for one identity's token for one scope, or None (do not cache)."""
    fingerprint = identity_fingerprint(source, settings, environ)
    if fingerprint is None:
        return None
    return _digest(KEY_VERSION, source, (authority_host or "").lower().rstrip("/"),
                   (settings.tenant or "").lower(), scope, *fingerprint)


def default_directory():
    return os.path.join(private_files.default_root(), "tokens")


class TokenCache:
    """Tokens on disk by key. Every failure to read or write is a miss, never an error."""

    def __init__(self, directory, clock=time.time):
        self.directory = directory
        # The cache root: the directory's parent (``.../sqlvm.backup`` for the default directory).
        self._root = os.path.dirname(os.path.abspath(directory))
        self._clock = clock

    def _path(self, key):
        return os.path.join(self.directory, _FILE_PREFIX + key + ".json")

    def get(self, key):
        """(token, expires_on) while it has more than REFRESH_SECONDS left, else None."""
        body = private_files.read_file(self._root, self._path(key), secret=True)
        if body is None:
            return None
        try:
            entry = json.loads(body.decode("utf-8"))
            token, expires_on = entry["token"], int(entry["expires_on"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        if not isinstance(token, str) or not token or expires_on - self._clock() <= REFRESH_SECONDS:
            return None
        return token, expires_on

    def put(self, key, token, expires_on):
        if int(expires_on) - self._clock() <= REFRESH_SECONDS:
            return
        if private_files.write_file(self._root, self._path(key),
                                    json.dumps({"token": token, "expires_on": int(expires_on)})):
            self._prune()

    def _prune(self):
        """Remove files older than any token lives, so identities that are gone do not pile up."""
        oldest = self._clock() - STALE_SECONDS
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if not name.startswith(_FILE_PREFIX):
                continue
            path = os.path.join(self.directory, name)
            try:
                if os.lstat(path).st_mtime < oldest:
                    os.unlink(path)
            except OSError:
                pass

    def drop(self, key):
        private_files.remove_file(self._path(key))


class CachingCredential:
    """An azure-core TokenCredential that answers from TokenCache and builds the real azure-identity
    credential (importing azure-identity) only when the cache has no usable token.

    make_credential() -> the real credential; key_for(scope) -> cache key or None.
    """

    def __init__(self, make_credential, key_for, cache):
        self._make_credential = make_credential
        self._key_for = key_for
        self._cache = cache
        self._credential = None
        self._from_cache = set()

    @property
    def credential(self):
        if self._credential is None:
            self._credential = self._make_credential()
        return self._credential

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken
        key = self._key_for(scopes[0]) if len(scopes) == 1 and not kwargs.get("claims") else None
        if key is not None:
            cached = self._cache.get(key)
            if cached is not None:
                self._from_cache.add(key)
                return AccessToken(*cached)
        token = self.credential.get_token(*scopes, **kwargs)
        if key is not None:
            self._from_cache.discard(key)
            self._cache.put(key, token.token, token.expires_on)
        return token

    def forget(self, scope):
        """Drop a cached token the service refused; True when the next get_token will sign in anew."""
        key = self._key_for(scope)
        if key is None or key not in self._from_cache:
            return False
        self._cache.drop(key)
        self._from_cache.discard(key)
        return True
