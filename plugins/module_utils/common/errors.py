# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain exceptions. Backends raise these; only SqlvmModule.run() turns them into fail_json.

Every error carries a *cause* (what went wrong, in the user's terms) and a *fix* (what to do about
it). Messages are built from status codes, error codes and service messages only - never from
request bodies or option values that may hold secrets.
"""

from __future__ import annotations

import time

from ansible_collections.sqlvm.backup.plugins.module_utils.common.redaction import redact, redact_data


class SqlvmBackupError(Exception):
    """Base of all errors the collection reports to the user."""

    kind = "error"

    def __init__(self, msg, fix=None, **details):
        super().__init__(msg)
        self.cause = msg
        self.fix = fix
        self.details = details

    @property
    def msg(self):
        # A service's message or a value echoed in the cause may hold a secret the caller could not see.
        if self.fix:
            return redact("%s Fix: %s" % (self.cause.rstrip(), self.fix))
        return redact(self.cause)

    def __str__(self):
        return self.msg

    def to_result(self):
        """Keyword arguments for fail_json: msg plus a structured `error` block."""
        error = dict(kind=self.kind, cause=self.cause, fix=self.fix)
        error.update(self.details)
        return dict(msg=self.msg, error=redact_data(error))


class InvalidInputError(SqlvmBackupError):
    """The task's options are wrong. Raised before any request is sent."""

    kind = "invalid_input"


class PrerequisiteError(SqlvmBackupError):
    """The target cannot qualify (Linux, SQL build too old, failover cluster instance, ...)."""

    kind = "prerequisite"


class AuthenticationError(SqlvmBackupError):
    """No credential could be built, or the identity platform refused to issue a token."""

    kind = "authentication"


class Deadline:
    """The time left for the task: one per task, started with it, shared by every step (sign-in, cloud
    metadata, Azure Resource Manager, Microsoft Graph, SQL login, SQL statements). Monotonic, so
    clock changes do not matter."""

    def __init__(self, seconds, clock=time.monotonic, start=None):
        self.seconds = seconds
        self._clock = clock
        self._end = (clock() if start is None else start) + seconds

    def remaining(self):
        return max(0.0, self._end - self._clock())

    def expired(self):
        return self.remaining() <= 0


# What to do when the task's timeout ran out in each step (TimeoutExceeded).
TIMEOUT_FIXES = {
    "sign-in": "the sign-in authority did not answer in time: check that the controller reaches it (proxy, "
               "firewall, DNS) and that cloud_environment names the right cloud, then run again or raise the "
               "task's `timeout`.",
    "cloud metadata": "the cloud's /metadata/endpoints document did not arrive in time: check that the controller "
                      "reaches the cloud_environment URL, then run again or raise the task's `timeout`.",
    "SQL login": "SQL Server did not accept the login in time: check sql_host, sql_port and the firewall / NSG "
                 "rules, then run again or raise the task's `timeout`.",
    "SQL statement": "the statement was cancelled; SQL Server rolls back what it had not finished. Raise the "
                     "task's `timeout` to the time the statement needs (a BACKUP or RESTORE of a large database "
                     "can take hours) and run again.",
}


class TimeoutExceeded(SqlvmBackupError):
    """The task's `timeout` ran out; `step` says where (a key of TIMEOUT_FIXES)."""

    kind = "timeout"

    def __init__(self, step, seconds, detail=None):
        self.step = step
        cause = "The task's timeout of %s s ran out during %s%s." % (
            seconds, step, " (%s)" % detail.strip().rstrip(".") if detail else "")
        super().__init__(cause, fix=TIMEOUT_FIXES.get(step), step=step, timeout=seconds)


# Fixes for Azure Resource Manager and Microsoft Graph error codes users meet most often.
# Codes: ARM "common error codes" (learn.microsoft.com/azure/azure-resource-manager/troubleshooting/
# common-deployment-errors) and Graph "error responses" (learn.microsoft.com/graph/errors).
AZURE_ERROR_FIXES = {
    "AuthorizationFailed": "grant the identity running the task a role that allows this action on the "
                           "resource (for example Contributor on the resource group), then run again.",
    "LinkedAuthorizationFailed": "the identity also needs permission on the linked resource named in "
                                 "the message (for example Managed Identity Operator on a user-assigned "
                                 "identity).",
    "InvalidAuthenticationToken": "check tenant, client_id and cloud_environment: the token was issued "
                                  "for another tenant or cloud.",
    "ExpiredAuthenticationToken": "run the task again; if it persists, check the controller's clock.",
    "SubscriptionNotFound": "check subscription_id (AZURE_SUBSCRIPTION_ID) and that the identity can "
                            "see that subscription.",
    "InvalidSubscriptionId": "subscription_id must be a GUID.",
    "ResourceGroupNotFound": "check the resource group name and the subscription.",
    "ResourceNotFound": "check the resource name, resource group and subscription.",
    "ParentResourceNotFound": "create the parent resource first, or check its name.",
    "MissingSubscriptionRegistration": "register the resource provider in the subscription "
                                       "(az provider register --namespace <provider>).",
    "PrincipalNotFound": "the principal does not exist in the tenant yet; a new identity can take a "
                         "few minutes to replicate - run again, or check the principal id.",
    "RoleAssignmentExists": "an identical role assignment already exists under another name.",
    "RoleDefinitionDoesNotExist": "check the role name or id.",
    "InvalidRoleAssignmentId": "role assignment names must be GUIDs.",
    "Authorization_RequestDenied": "grant the identity running the task the Microsoft Graph permission "
                                   "this call needs (for example RoleManagement.ReadWrite.Directory or "
                                   "Directory.Read.All), with admin consent.",
    "Request_ResourceNotFound": "check the object id: no such object in this tenant.",
    "Request_BadRequest": "check the ids passed to the task.",
    "TooManyRequests": "Azure is throttling this principal; run later or raise the task's timeout.",
    "Timeout": "raise the task's `timeout` option, or run again when the service answers.",
    "ServiceUnavailable": "Azure reported a transient failure; run the task again.",
    "InternalServerError": "Azure reported a transient failure; run the task again.",
    "ConnectionError": "check network access (proxy, firewall, DNS) from the controller to the "
                       "endpoint, and cloud_environment.",
}


# Sign-in failures by AADSTS code ("Microsoft Entra authentication and authorization error codes",
# learn.microsoft.com/entra/identity-platform/reference-error-codes). Only these blame the credentials.
SIGN_IN_GENERIC_FIX = ("check client_id, tenant, the secret or certificate, auth_source and cloud_environment (the "
                       "authority must belong to the same cloud as the endpoints).")
SIGN_IN_TRANSIENT_FIX = ("run the task again (Microsoft Entra ID reported a temporary failure); if it persists, check "
                         "the Azure status page and that the controller reaches the sign-in authority.")
AADSTS_TRANSIENT = frozenset((90033, 90055))  # directory service unavailable; tenant throttled
AADSTS_FIXES = {
    7000215: "the client secret is wrong: give the secret's value (not its id) in secret (AZURE_SECRET).",
    7000222: "the client secret has expired: create a new one for the application and update secret (AZURE_SECRET).",
    700016: "no application with this client_id in the tenant: check client_id and tenant (AZURE_CLIENT_ID, "
            "AZURE_TENANT) and cloud_environment.",
    90002: "the tenant does not exist: check tenant (AZURE_TENANT) and cloud_environment.",
    900023: "tenant is not a tenant id or domain: check tenant (AZURE_TENANT).",
    90072: "the account is not in this tenant: check tenant, or invite the account.",
    50034: "the user does not exist in the tenant: check ad_user and tenant.",
    50126: "the user name or password is wrong: check ad_user and password (AZURE_AD_USER, AZURE_PASSWORD).",
    50053: "the account is locked after too many failed sign-ins: wait, or have an administrator unlock it.",
    50057: "the account or application is disabled in Microsoft Entra ID: enable it, or use another identity.",
    7000112: "the application is disabled in Microsoft Entra ID: enable its service principal, or use another identity.",
    50076: "the user needs multifactor authentication, which an unattended task cannot do: use a service principal, "
           "managed identity or workload identity.",
    50079: "the user must register for multifactor authentication: use a service principal, managed identity or "
           "workload identity for automation.",
    53003: "a Conditional Access policy blocked the sign-in: ask the tenant's administrators to allow this identity "
           "from the controller.",
    700027: "the client certificate or assertion was not accepted: check client_certificate_path (the certificate "
            "registered on the application, with its private key) and the controller's clock.",
    700024: "the client assertion is outside its validity period: check the controller's clock and the federated token.",
    70021: "no federated identity credential on the application matches the token's issuer and subject: add one, or "
           "check federated_token_file.",
    500011: "the resource's service principal was not found in the tenant: check cloud_environment (the token was "
            "asked for another cloud's audience).",
}


class AzureApiError(SqlvmBackupError):
    """A call to Azure Resource Manager or Microsoft Graph did not succeed."""

    kind = "azure_api"

    def __init__(self, operation, resource, status, code, message, fix=None):
        self.operation = operation
        self.resource = resource
        self.status = status
        self.code = code
        self.message = message
        status_text = "HTTP %s" % status if status else "no HTTP answer"
        cause = "%s failed for %s: %s %s: %s" % (
            operation, resource or "(no resource)", status_text, code or "(no error code)",
            (message or "").strip() or "(no message)")
        if fix is None:
            fix = AZURE_ERROR_FIXES.get(code or "")
        if fix is None and status and 500 <= status < 600:
            fix = AZURE_ERROR_FIXES["InternalServerError"]
        super().__init__(cause, fix=fix, operation=operation, resource=resource, status=status,
                         code=code)


class SqlServerError(SqlvmBackupError):
    """SQL Server refused a statement. `number` is SQL Server's error number (e.g. 37563)."""

    kind = "sql_server"

    def __init__(self, number, message, statement_kind, fix=None):
        self.number = number
        self.message = message
        self.statement_kind = statement_kind
        cause = "%s failed with SQL Server error %s: %s" % (
            statement_kind, number if number is not None else "(unknown)", (message or "").strip())
        super().__init__(cause, fix=fix, number=number, statement_kind=statement_kind)
