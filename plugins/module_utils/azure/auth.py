# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authentication settings and azure-identity credentials, independent of AnsibleModule.

Where a value comes from, first match wins:
  1. the task's option (e.g. `secret`);
  2. the variable AWX / Automation Controller's "Microsoft Azure Resource Manager" credential
     injects (awx/main/models/credential/injectors.py, `azure_rm`): AZURE_SUBSCRIPTION_ID,
     AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT, AZURE_AD_USER, AZURE_PASSWORD,
     AZURE_CLOUD_ENVIRONMENT;
  3. azure-identity's own variable (EnvironmentCredential / WorkloadIdentityCredential docs):
     AZURE_CLIENT_SECRET, AZURE_TENANT_ID, AZURE_USERNAME, AZURE_CLIENT_CERTIFICATE_PATH,
     AZURE_CLIENT_CERTIFICATE_PASSWORD, AZURE_FEDERATED_TOKEN_FILE.

  4. the profile of the ~/.azure/credentials file (credentials_file.py), as azure.azcollection reads it:
     a profile named by the task (`profile`) or by AZURE_PROFILE takes the place of the environment's
     identity (3 and 4 above are then not used for client_id, secret, tenant, ...); without a named
     profile, the [default] profile supplies the identity only when neither the task nor the
     environment gives any part of one (module options > environment > profile file > MSI / CLI).

auth_source itself: the task's option, else ANSIBLE_AZURE_AUTH_SOURCE, else `auto`.
`env` takes the identity from the environment only (or AZURE_PROFILE's profile); `credential_file`
from the profile only (`profile`, else AZURE_PROFILE, else [default]).

`auth_source: auto` picks the first that applies, in this order (AUTO_ORDER):
  credentials        - client_id + tenant + (secret or client certificate), or ad_user + password;
  workload_identity  - client_id + tenant + federated_token_file (AKS workload identity, GitHub OIDC);
  msi                - a managed identity endpoint answers: IDENTITY_ENDPOINT / MSI_ENDPOINT is set
                       (App Service, Arc, Cloud Shell) or IMDS accepts a TCP connection within
                       IMDS_PROBE_SECONDS (so off Azure the probe costs at most that);
  cli                - the `az` command is on PATH (uses `az login`'s account).
"""

from __future__ import annotations

import os
import shutil
import socket

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth_options import (
    AUTH_SOURCE_ENV,
    AUTH_SOURCES,
    DEFAULT_AUTH_SOURCE,
    DEFAULT_TIMEOUT,
    TIMEOUT_FIX,
    timeout_problem,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    AuthenticationError,
    InvalidInputError,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import is_guid

AUTO_ORDER = ("credentials", "workload_identity", "msi", "cli")
IMDS_PROBE_SECONDS = 0.5
IMDS_DEFAULT_HOST = "http://169.254.169.254"
# Azure CLI's public client id: what username/password sign-in uses when no client_id is given
# (azure-cli src/azure-cli-core/azure/cli/core/auth/identity.py AZURE_CLI_CLIENT_ID).
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

# option name -> environment variables, AWX's name first, then azure-identity's.
ENV_NAMES = {
    "subscription_id": ("AZURE_SUBSCRIPTION_ID",),
    "client_id": ("AZURE_CLIENT_ID",),
    "secret": ("AZURE_SECRET", "AZURE_CLIENT_SECRET"),
    "tenant": ("AZURE_TENANT", "AZURE_TENANT_ID"),
    "ad_user": ("AZURE_AD_USER", "AZURE_USERNAME"),
    "password": ("AZURE_PASSWORD",),
    "client_certificate_path": ("AZURE_CLIENT_CERTIFICATE_PATH",),
    "client_certificate_password": ("AZURE_CLIENT_CERTIFICATE_PASSWORD",),
    "federated_token_file": ("AZURE_FEDERATED_TOKEN_FILE",),
    "cloud_environment": ("AZURE_CLOUD_ENVIRONMENT",),
}
SECRET_OPTIONS = ("secret", "password", "client_certificate_password")
_CREDENTIAL_OPTIONS = tuple(name for name in ENV_NAMES if name not in ("subscription_id", "cloud_environment"))


TOKEN_CACHE_ENV = "SQLVM_BACKUP_TOKEN_CACHE"
_TRUE = ("1", "true", "yes", "on", "y", "t")
_FALSE = ("0", "false", "no", "off", "n", "f", "")


def parse_boolean(value, name):
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInputError("%s=%r is not a boolean." % (name, value), fix="use true or false.")


def _env_hint(name):
    return "option %s (or %s)" % (name, " / ".join(ENV_NAMES[name]))


def _identity_given(values):
    return any(values.get(name) not in (None, "") for name in _CREDENTIAL_OPTIONS)


def _auth_source(options, environ):
    """auth_source: the task's, else ANSIBLE_AZURE_AUTH_SOURCE's, else auto; refused when unknown."""
    value, origin = options.get("auth_source"), "auth_source"
    if value in (None, ""):
        value, origin = environ.get(AUTH_SOURCE_ENV) or DEFAULT_AUTH_SOURCE, AUTH_SOURCE_ENV
    value = str(value).strip()
    if value not in AUTH_SOURCES:
        raise InvalidInputError(
            "%s %r is not supported." % (origin, value),
            fix="use one of %s%s." % (", ".join(AUTH_SOURCES),
                                      "" if origin == "auth_source" else " in %s, or unset it" % AUTH_SOURCE_ENV))
    return value


def _profile_name(auth_source, options, environ):
    """The profile the task names: option `profile`, else AZURE_PROFILE (auth_source=env: AZURE_PROFILE
    only, as it ignores the task's options); [default] for auth_source=credential_file; else None."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure.credentials_file import DEFAULT_PROFILE, PROFILE_ENV
    name = environ.get(PROFILE_ENV) if auth_source == "env" else (options.get("profile") or environ.get(PROFILE_ENV))
    if not name and auth_source == "credential_file":
        name = DEFAULT_PROFILE
    return name or None


def _profile(name, environ, credentials_path):
    """(values, warnings, origin label) of profile `name`, or (None, [], None).

    A named profile must exist (`name` given). Otherwise [default] is looked up quietly: a missing file
    or profile is no error, an untrusted or invalid file is skipped with a warning."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure import credentials_file
    required = name is not None
    name = name or credentials_file.DEFAULT_PROFILE
    try:
        found = credentials_file.load_profile(name, credentials_path, environ, required=required)
    except credentials_file.CredentialsFileError as error:
        if required:
            raise InvalidInputError(str(error), fix=error.fix) from None
        return None, ["%s Fix: %s The task signs in without it." % (error, error.fix)], None
    if found is None:
        return None, [], None
    values, warnings, path = found
    return values, warnings, "profile [%s] of %s" % (name, path)


class AuthSettings:
    """The resolved authentication settings of one task. `origin` says where each value came from;
    `warnings` what the task should show (e.g. a credentials-file key that is not honoured)."""

    def __init__(self, auth_source="auto", timeout=DEFAULT_TIMEOUT, token_cache=True, **values):
        self.auth_source = auth_source
        self.timeout = timeout
        self.token_cache = token_cache
        self.origin = values.pop("origin", {})
        self.warnings = values.pop("warnings", [])
        for name in ENV_NAMES:
            setattr(self, name, values.pop(name, None))
        if values:
            raise TypeError("unknown settings: %s" % ", ".join(sorted(values)))

    @classmethod
    def from_options_and_env(cls, options, environ=None, credentials_path=None):
        """The settings of a task from its options (a dict; missing keys are unset), the environment and
        the ~/.azure/credentials file (`credentials_path` overrides its location)."""
        environ = os.environ if environ is None else environ
        auth_source = _auth_source(options, environ)
        # auth_source=env / credential_file: the identity comes from that source only, whatever the task says.
        options_identity = auth_source not in ("env", "credential_file")
        given, origin = {}, {}
        for name in ENV_NAMES:
            value = options.get(name) if options_identity or name not in _CREDENTIAL_OPTIONS else None
            if value not in (None, ""):
                given[name], origin[name] = value, "option"
        environment = {}
        for name, env_names in ENV_NAMES.items():
            for env_name in env_names:
                if environ.get(env_name):
                    environment[name] = (environ[env_name], env_name)
                    break
        profile_name = _profile_name(auth_source, options, environ)
        named = profile_name is not None
        profile, warnings, profile_origin = None, [], None
        # Without a named profile, [default] is the fallback identity: read only when nothing else gives one.
        if named or (auth_source in ("auto", "credentials") and not _identity_given(given)
                     and not _identity_given({name: value for name, (value, _env) in environment.items()})):
            profile, warnings, profile_origin = _profile(profile_name, environ, credentials_path)
        values = dict(given)
        for name in ENV_NAMES:
            if name in values:
                continue
            env_value, env_name = environment.get(name, (None, None))
            profile_value = profile.get(name) if profile is not None else None
            if named:
                # A named profile takes the environment's place for the identity, and comes first for the rest.
                candidates = [(profile_value, profile_origin)]
                if name not in _CREDENTIAL_OPTIONS:
                    candidates.append((env_value, env_name))
            else:
                candidates = [(env_value, env_name), (profile_value, profile_origin)]
            for value, where in candidates:
                if value not in (None, ""):
                    values[name], origin[name] = value, where
                    break
        timeout = options.get("timeout")
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        token_cache = options.get("token_cache")
        if token_cache is None:
            token_cache = parse_boolean(environ.get(TOKEN_CACHE_ENV, "true"), TOKEN_CACHE_ENV)
        settings = cls(auth_source=auth_source, timeout=timeout, token_cache=bool(token_cache), origin=origin,
                       warnings=warnings, **values)
        settings.validate()
        return settings

    def _where(self, name):
        """Where to set `name` so the fix reaches the value actually used."""
        origin = self.origin.get(name) or ""
        return ("%s in %s" % (name, origin)) if origin.startswith("profile ") else _env_hint(name)

    def validate(self):
        if self.subscription_id and not is_guid(str(self.subscription_id)):
            raise InvalidInputError(
                "subscription_id %r is not a GUID." % self.subscription_id,
                fix="set %s to the subscription's id (az account show --query id)." % self._where("subscription_id"))
        if self.client_id and not is_guid(str(self.client_id)):
            raise InvalidInputError(
                "client_id %r is not a GUID." % self.client_id,
                fix="set %s to the application (client) id." % self._where("client_id"))
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int) or self.timeout <= 0:
            raise InvalidInputError(timeout_problem(self.timeout), fix=TIMEOUT_FIX)

    def secret_values(self):
        """Values Ansible must mask wherever they appear (they may come from the environment)."""
        return [getattr(self, name) for name in SECRET_OPTIONS if getattr(self, name)]

    # What each source needs -------------------------------------------------------------

    def has_service_principal(self):
        return bool(self.client_id and self.tenant and (self.secret or self.client_certificate_path))

    def has_user_password(self):
        return bool(self.ad_user and self.password)

    def has_workload_identity(self):
        return bool(self.client_id and self.tenant and self.federated_token_file)


def managed_identity_reachable(environ=None, timeout=IMDS_PROBE_SECONDS):
    """True when a managed identity endpoint is there: env-advertised, or IMDS accepts a connection.

    A TCP connect is enough: on Azure IMDS answers at once; off Azure the address is unroutable or
    refused, and we give up after `timeout` seconds instead of the minutes azure-identity's IMDS
    retries would take. AZURE_POD_IDENTITY_AUTHORITY_HOST moves IMDS (azure-identity honours it too).
    """
    environ = os.environ if environ is None else environ
    if environ.get("IDENTITY_ENDPOINT") or environ.get("MSI_ENDPOINT"):
        return True
    authority = environ.get("AZURE_POD_IDENTITY_AUTHORITY_HOST") or IMDS_DEFAULT_HOST
    hostport = authority.split("://", 1)[-1].split("/", 1)[0]
    host, _sep, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        host, port = hostport, "443" if authority.startswith("https") else "80"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def choose_auth_source(settings, environ=None, probe_msi=None, which=None):
    """The concrete source to use. For `auto`, the first of AUTO_ORDER that applies."""
    if settings.auth_source != "auto":
        return "credentials" if settings.auth_source in ("env", "credential_file") else settings.auth_source
    probe_msi = probe_msi or managed_identity_reachable
    which = which or shutil.which
    if settings.has_service_principal() or settings.has_user_password():
        return "credentials"
    if settings.has_workload_identity():
        return "workload_identity"
    if probe_msi(environ):
        return "msi"
    if which("az"):
        return "cli"
    raise AuthenticationError(
        "No Azure credentials found: auth_source=auto tried, in order, %s." % ", ".join(AUTO_ORDER),
        fix="set client_id, secret and tenant (or AWX's AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT), "
            "run on an Azure VM with a managed identity, or run `az login` on the controller.")


DISCOVERY_CACHE_SECONDS = 24 * 3600
_DISCOVERY_SUFFIX = "/.well-known/openid-configuration"


def discovery_cache_transport(cache_dir=None, now=None, deadline=None):
    """The sign-in transport: an azure-core RequestsTransport whose session answers the sign-in
    authority's OpenID configuration (the public document msal reads before every first token of a
    process) from a one-day disk cache. msal offers the same through its `http_cache`; azure-identity
    does not expose it, so we cache at the HTTP layer. Everything else - token requests included -
    goes out as usual. Saves one request per task and credential.

    With the task's `deadline`, every sign-in request waits at most the time left: azure-identity's
    own limits (a minute per read, retried) know nothing of the task's `timeout`."""
    import hashlib
    import io

    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter
    from urllib3.response import HTTPResponse

    from ansible_collections.sqlvm.backup.plugins.module_utils.common import private_files

    directory = cache_dir if cache_dir is not None else private_files.default_root()

    def cache_file(url):
        return os.path.join(directory, "openid-%s.json" % hashlib.sha256(url.encode("utf-8")).hexdigest()[:24])

    class DiscoveryCachingAdapter(HTTPAdapter):
        def _cached(self, request, body):
            return self.build_response(request, HTTPResponse(
                body=io.BytesIO(body), headers={"Content-Type": "application/json"}, status=200,
                preload_content=False, reason="OK"))

        def send(self, request, *args, **kwargs):  # pylint: disable=signature-differs
            if deadline is not None:
                remaining = deadline.remaining()
                if remaining <= 0:
                    raise requests.exceptions.ConnectTimeout("the task's timeout of %s s ran out" % deadline.seconds)
                kwargs["timeout"] = _bounded_timeout(kwargs.get("timeout"), remaining)
            url = request.url.split("?", 1)[0]
            if request.method != "GET" or not url.endswith(_DISCOVERY_SUFFIX):
                return super().send(request, *args, **kwargs)
            path = cache_file(request.url)
            # Only a file nobody else could have planted: its token_endpoint receives the secret.
            body = private_files.read_file(directory, path, max_age=DISCOVERY_CACHE_SECONDS, now=now)
            if body is not None and _same_host_endpoints(body, request.url):
                return self._cached(request, body)
            response = super().send(request, *args, **kwargs)
            if response.status_code != 200:
                return response
            body = response.content
            private_files.write_file(directory, path, body)
            return self._cached(request, body)

    session = requests.Session()
    session.mount("https://", DiscoveryCachingAdapter())
    session.mount("http://", DiscoveryCachingAdapter())  # managed identity endpoints (IMDS) are plain http

    class SignInTransport(RequestsTransport):
        def sleep(self, duration):
            # azure-identity's retries back off between attempts; never past the task's deadline.
            super().sleep(duration if deadline is None else min(duration, deadline.remaining()))

    return SignInTransport(session=session, session_owner=True, connection_timeout=10, read_timeout=60)


def _bounded_timeout(timeout, remaining):
    """requests' (connect, read) timeout, neither longer than `remaining` seconds."""
    if isinstance(timeout, tuple):
        return tuple(remaining if part is None else min(part, remaining) for part in timeout)
    return remaining if timeout is None else min(timeout, remaining)


def _same_host_endpoints(body, url):
    """True for an OpenID document (JSON bytes) whose token endpoint is on the host it was read from,
    as Entra ID's and AD FS's are: a second guard against a document that sends the secret elsewhere."""
    import json
    from urllib.parse import urlsplit
    try:
        document = json.loads(body)
        endpoint = urlsplit(document["token_endpoint"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    return endpoint.scheme == "https" and endpoint.netloc.lower() == urlsplit(url).netloc.lower()


def _sign_in_seconds(settings, deadline):
    return max(1, int(deadline.remaining() + 0.999)) if deadline is not None else settings.timeout


def _authority_kwargs(cloud, settings, deadline=None):
    # Sign-in is bounded like everything else: few retries, no longer than the task's time left.
    kwargs = {"authority": cloud.authority_host, "transport": discovery_cache_transport(deadline=deadline),
              "retry_total": 3, "timeout": _sign_in_seconds(settings, deadline)}
    if not cloud.is_known:
        # A private cloud's authority is not in Microsoft's instance discovery list; without this
        # msal refuses it (azure-identity docs, disable_instance_discovery).
        kwargs["disable_instance_discovery"] = True
    return kwargs


def build_credential(settings, cloud, environ=None, probe_msi=None, which=None, source=None, deadline=None):
    """An azure-identity credential for the chosen source (`source`, else choose_auth_source's),
    signing in within `deadline` (the task's). Imports only the credential it needs."""
    source = source or choose_auth_source(settings, environ, probe_msi, which)
    if source == "credentials":
        if settings.has_service_principal():
            if settings.secret:
                from azure.identity import ClientSecretCredential
                return ClientSecretCredential(settings.tenant, settings.client_id, settings.secret,
                                              **_authority_kwargs(cloud, settings, deadline))
            from azure.identity import CertificateCredential
            return CertificateCredential(settings.tenant, settings.client_id,
                                         certificate_path=settings.client_certificate_path,
                                         password=settings.client_certificate_password,
                                         **_authority_kwargs(cloud, settings, deadline))
        if settings.has_user_password():
            from azure.identity import UsernamePasswordCredential
            return UsernamePasswordCredential(settings.client_id or AZURE_CLI_CLIENT_ID, settings.ad_user,
                                              settings.password, tenant_id=settings.tenant or "organizations",
                                              **_authority_kwargs(cloud, settings, deadline))

        def hint(name):
            return "%s in the profile" % name if settings.auth_source == "credential_file" else _env_hint(name)

        missing = [hint(name) for name in ("client_id", "tenant") if not getattr(settings, name)]
        if not (settings.secret or settings.client_certificate_path):
            missing.append(hint("secret") + " or " + hint("client_certificate_path"))
        raise InvalidInputError(
            "auth_source=%s needs a service principal (client_id, tenant and a secret or certificate) "
            "or ad_user and password; missing: %s." % (settings.auth_source, "; ".join(missing)),
            fix="set the missing values, or choose another auth_source.")
    if source == "workload_identity":
        if not settings.has_workload_identity():
            raise InvalidInputError(
                "auth_source=workload_identity needs client_id, tenant and federated_token_file.",
                fix="set %s, %s and %s." % (
                    _env_hint("client_id"), _env_hint("tenant"), _env_hint("federated_token_file")))
        from azure.identity import WorkloadIdentityCredential
        return WorkloadIdentityCredential(tenant_id=settings.tenant, client_id=settings.client_id,
                                          token_file_path=settings.federated_token_file,
                                          **_authority_kwargs(cloud, settings, deadline))
    if source == "msi":
        from azure.identity import ManagedIdentityCredential
        bounded = {"transport": discovery_cache_transport(deadline=deadline)} if deadline is not None else {}
        if settings.client_id:
            return ManagedIdentityCredential(client_id=settings.client_id, **bounded)
        return ManagedIdentityCredential(**bounded)
    if source == "cli":
        from azure.identity import AzureCliCredential
        return AzureCliCredential(tenant_id=settings.tenant or "", process_timeout=min(_sign_in_seconds(settings, deadline), 60))
    raise InvalidInputError("auth_source %r is not supported." % source,
                            fix="use one of %s." % ", ".join(AUTH_SOURCES))
