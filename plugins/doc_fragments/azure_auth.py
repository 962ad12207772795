# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authentication options shared by every module (mirrors module_utils/base.py AUTH_ARGUMENT_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - How the task signs in to Azure.
      - When the task does not set it, E(ANSIBLE_AZURE_AUTH_SOURCE) decides (as with azure.azcollection), else V(auto).
      - V(auto) uses the first of these that applies, in this order.
        V(credentials) when O(client_id), O(tenant) and O(secret) or O(client_certificate_path) are set, or O(ad_user) and O(password)
        (from the task, the environment or the credentials file profile, see O(profile));
        V(workload_identity) when O(client_id), O(tenant) and O(federated_token_file) are set;
        V(msi) when a managed identity endpoint answers (E(IDENTITY_ENDPOINT) or E(MSI_ENDPOINT) is set,
        or the instance metadata service accepts a connection within half a second, so off Azure the probe never hangs);
        V(cli) when the C(az) command is installed (its C(az login) account).
        Each value is taken from the task's option first, then the environment, then the credentials file; so the
        precedence is module options > environment > C(~/.azure/credentials) > managed identity > Azure CLI.
      - V(credentials) uses a service principal (secret or certificate) or a user name and password, from options, environment or
        the credentials file.
      - V(env) is V(credentials) with the identity taken from environment variables only, ignoring the task's options
        (E(AZURE_PROFILE), when set, names a credentials file profile to use instead, as azure.azcollection does).
      - V(credential_file) is V(credentials) with the identity taken from a profile of C(~/.azure/credentials) only (O(profile),
        else E(AZURE_PROFILE), else C([default])), ignoring the task's and the environment's identity options.
      - V(msi) uses the managed identity of the machine running the task; O(client_id) selects a user-assigned identity.
      - V(workload_identity) exchanges the federated token in O(federated_token_file) (AKS workload identity, OIDC).
      - V(cli) uses the Azure CLI's signed-in account.
    type: str
    choices: [auto, credentials, env, credential_file, msi, cli, workload_identity]
  profile:
    description:
      - A profile (section) of the C(~/.azure/credentials) INI file, the file azure.azcollection reads, e.g. V(default) or V(prod).
        Falls back to E(AZURE_PROFILE).
      - A named profile gives the identity (C(client_id), C(secret), C(tenant), C(ad_user), C(password), C(x509_certificate_path)
        or C(client_certificate_path), C(client_certificate_password), C(federated_token_file)) in place of the environment's,
        and C(subscription_id) and C(cloud_environment) before the environment's; the task's own options still come first.
        It must exist, or the task fails.
      - Without a named profile, the C([default]) profile is used when it exists and neither the task nor the environment
        gives any part of an identity.
      - The file is C(~/.azure/credentials) of the user running the task (not C($AZURE_CONFIG_DIR), as with azure.azcollection).
        It is read only when it is a regular file (not a symbolic link) owned by that user and writable by nobody else, and,
        when it holds a secret or password, readable by nobody else (C(chmod 600)); otherwise a named profile fails the task
        with the fix, and the C([default]) fallback is skipped with a warning.
      - C(cert_validation_mode=ignore), C(adfs_authority_url) and C(disable_instance_discovery) in a profile are not honoured (a warning
        says so). Certificates are always verified; trust a TLS-inspecting proxy with E(REQUESTS_CA_BUNDLE).
    type: str
  subscription_id:
    description:
      - The subscription to work in.
      - Falls back to E(AZURE_SUBSCRIPTION_ID); when neither is set and the identity can see exactly one
        subscription, that one is used.
    type: str
  client_id:
    description:
      - Application (client) id of the service principal, or with O(auth_source=msi) the client id of a user-assigned managed identity.
      - Falls back to E(AZURE_CLIENT_ID).
    type: str
  secret:
    description:
      - Client secret of the service principal.
      - Falls back to E(AZURE_SECRET) (what AWX injects), then E(AZURE_CLIENT_SECRET).
    type: str
  tenant:
    description:
      - Tenant id or domain of the service principal or user.
      - Falls back to E(AZURE_TENANT) (what AWX injects), then E(AZURE_TENANT_ID).
    type: str
  ad_user:
    description:
      - User name for user name and password sign-in (accounts without multifactor authentication only).
      - Falls back to E(AZURE_AD_USER), then E(AZURE_USERNAME).
    type: str
  password:
    description:
      - Password of O(ad_user).
      - Falls back to E(AZURE_PASSWORD).
    type: str
  client_certificate_path:
    description:
      - PEM or PKCS12 file with the service principal's certificate and private key, instead of O(secret).
      - Falls back to E(AZURE_CLIENT_CERTIFICATE_PATH).
    type: path
  client_certificate_password:
    description:
      - Password of the O(client_certificate_path) file, if it has one.
      - Falls back to E(AZURE_CLIENT_CERTIFICATE_PASSWORD).
    type: str
  federated_token_file:
    description:
      - File holding a federated (OIDC) token for workload identity.
      - Falls back to E(AZURE_FEDERATED_TOKEN_FILE).
    type: path
  cloud_environment:
    description:
      - The Azure cloud, by name (V(AzureCloud), V(AzureUSGovernment), V(AzureChinaCloud)) or as the https URL
        of its Azure Resource Manager endpoint (Azure Stack Hub and other ARM-compatible clouds), whose
        C(/metadata/endpoints) document gives the sign-in authority, token audiences, Microsoft Graph endpoint,
        storage and SQL suffixes. The document is cached for a day under C(~/.cache/sqlvm.backup).
      - Falls back to E(AZURE_CLOUD_ENVIRONMENT); the default is V(AzureCloud).
    type: str
  timeout:
    description:
      - The most the whole task may take, in seconds. One deadline, started with the task, covers every step - sign-in
        to Microsoft Entra ID, the cloud's metadata document, every Azure Resource Manager and Microsoft Graph request
        (retries after throttling (HTTP 429, C(Retry-After) honoured), transient errors and long-running operations
        included), the SQL Server login and every SQL statement (C(login_timeout) and C(statement_timeout), where a
        module has them, only shorten their step).
      - When a step would pass it the task fails and names the step (sign-in, cloud metadata, Azure Resource Manager,
        Microsoft Graph, SQL login, SQL statement); a long-running Azure operation may still complete in Azure, a SQL
        statement is cancelled and rolled back by SQL Server.
      - Must be a positive number of seconds; V(0) and negative values are refused (there is no unlimited value).
    type: int
    default: 300
  token_cache:
    description:
      - Keep access tokens between tasks, so a play signs in to Azure once per identity and token lifetime instead of
        once per task (Ansible starts a new process for every task; Azure CLI keeps its tokens on disk likewise).
      - Tokens are kept per user under C($XDG_CACHE_HOME/sqlvm.backup/tokens) (C(~/.cache/...)), a directory only the
        user can open, one file readable only by the user per identity and scope, named by a digest of the identity
        (client id, tenant, cloud and a digest of the secret, password or certificate; never a secret itself). A
        token is used only while it has more than five minutes left; one that Azure refuses is dropped and replaced.
      - V(false) reads and writes nothing and signs in on every task.
      - Falls back to E(SQLVM_BACKUP_TOKEN_CACHE); when neither is set, V(true).
    type: bool
notes:
  - Secrets (O(secret), O(password), O(client_certificate_password)) are never returned or logged, also when they
    come from the environment or the credentials file.
  - Microsoft supports Microsoft Entra authentication for SQL Server on Azure VMs only for VMs deployed to the public cloud
    (Microsoft's "Enable Microsoft Entra authentication for SQL Server on Azure VMs", Limitations). Modules that enable or
    read it (M(sqlvm.backup.sqlvm_identity), M(sqlvm.backup.sqlvm_info)) and SQL modules with O(sqlvm.backup.sql_info#module:sql_auth=entra)
    warn when O(cloud_environment) is another cloud.
  - Set authentication once for all modules of the collection with C(module_defaults) and the
    C(group/sqlvm.backup.azure) action group.
requirements:
  - python >= 3.9
  - azure-identity >= 1.16.0
  - azure-core >= 1.30.0
  - azure-mgmt-core >= 1.4.0
"""
