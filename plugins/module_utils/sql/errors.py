# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQL Server errors, read from pyodbc's message text, turned into cause + fix.

pyodbc on Linux raises only the first diagnostic record of a batch (pyodbc errors.cpp), and exposes
no class or state: the number is in the text, as in
``[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Cannot open backup device ... (3201)
(SQLExecDirectW)``. FreeTDS writes the same ``(NNNN)`` suffix. So the number is parsed from the
text, and messages whose number does not tell the whole story (3201, 3271, 3013) are classified by
the operating-system error or HTTP status inside them.

Sources (Microsoft Learn): "Backup and restore to URL using managed identities" (37563, 3201 + OS
error 5, 3013, 1834 + 3156, and the 37563 text for servers without a primary identity), "Microsoft
Entra logins for SQL Server" (Entra logins), "SQL Server back up to URL best practices and
troubleshooting" (3225, 3284, 409/412 leases, OS error 50: no credential usable for the URL, OS error
80: the blob exists and FORMAT was not given).
"""
from __future__ import annotations

import re

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import SqlServerError, SqlvmBackupError

_NUMBER_RE = re.compile(r"\((\d{1,6})\)\s*(?:\(SQL\w+\)\s*)?$")
_ANY_NUMBER_RE = re.compile(r"\((\d{3,6})\)")
_DRIVER_PREFIX_RE = re.compile(r"^(?:\[[^\]]*\]\s*)+")
_OS_ERROR_RE = re.compile(r"Operating system error (\d+)")
_HTTP_STATUS_RE = re.compile(r"\((4\d\d|5\d\d)\)")
_LOGIN_FAILED_RE = re.compile(r"Login failed for user '([^']*)'")

_ROLE_FIX = ("give the SQL VM's primary managed identity the Storage Blob Data Contributor role on the storage "
             "account or container (sqlvm.backup.role_assignment), and check that the VM can reach the storage "
             "endpoint (NSG, firewall, storage account network rules, private endpoint DNS)")

# number -> (cause, fix)
_KNOWN = {
    37563: ("the SQL VM has no primary managed identity for Microsoft Entra authentication, so a "
            "'Managed Identity' credential cannot get a token",
            "make a managed identity of the VM the primary identity of the SQL virtual machine resource "
            "(sqlvm.backup.sqlvm_identity), then run again"),
    3013: ("BACKUP or RESTORE stopped; SQL Server reports the reason in the message before this one, which "
           "the ODBC driver did not return",
           "run the statement with sqlvm.backup.sql_info / the SQL Server error log to see the first error; most "
           "often it is access to the storage URL (role or network) or a file conflict"),
    1834: ("a file of the backup would overwrite a file that an existing database uses",
           "restore under other file names (sql_restore computes MOVE from FILELISTONLY; give data_path/log_path "
           "or file_moves), or set replace: true if the existing database may be overwritten"),
    3156: ("a file of the backup cannot be restored to its original location",
           "restore with MOVE into other paths (sql_restore data_path/log_path/file_moves) or set replace: true"),
    3159: ("the tail of the log of the existing database has not been backed up",
           "back the log up first (sql_backup type: log) or set replace: true to discard it"),
    15025: ("the server principal already exists", "use state: present, which adopts the existing login"),
    15023: ("the user, group or role already exists in the database", "use state: present, which adopts it"),
    15151: ("the principal, role or credential does not exist or you have no permission on it",
            "check the name (names of credentials are case-sensitive) and the permissions of the connecting login"),
    15007: ("the login does not exist", "create it with sqlvm.backup.sql_login first"),
    3225: ("WITH CREDENTIAL is not valid for Shared Access Signature or Managed Identity credentials",
           "omit WITH CREDENTIAL; the credential is found by the container URL"),
    3284: ("the filemark on the device is not aligned: the backup was written with another BLOCKSIZE",
           "use BLOCKSIZE = 65536 for backups to URL (the sql_backup default)"),
    3201: ("the backup device (blob URL) cannot be opened", _ROLE_FIX),
    3271: ("a nonrecoverable I/O error on the blob", "see the remote endpoint's message"),
    3241: ("the media family on the device is incorrectly formed or is not a backup",
           "check the URL points at a SQL Server backup blob and that every stripe of the set is given"),
    3132: ("the media set has stripes that are missing", "give every URL of the stripe set"),
    3101: ("the database is in use; exclusive access could not be obtained",
           "close connections to the target database or restore under a new name"),
    3154: ("the backup set holds a backup of a database other than the existing database",
           "restore under a new name, or set replace: true if the existing database may be overwritten"),
    3035: ("a differential backup needs a full backup first (or the database was only backed up COPY_ONLY)",
           "take a full backup (type: full) first"),
    4214: ("a log backup needs a full backup first", "take a full backup (type: full) first"),
    4208: ("log backups are not allowed under the SIMPLE recovery model",
           "switch the database to FULL recovery or skip log backups for it"),
    18456: ("the login failed", "check the login and its authentication"),
    18452: ("the login is from an untrusted domain or Entra token authentication is not accepted",
            "use SQL authentication or an Entra token for a login that exists"),
    229: ("the connecting login lacks a permission", "grant the permission named in the message, or use a login "
          "in the sysadmin (or the named) role"),
    262: ("the connecting login lacks a permission in the database",
          "grant the permission named in the message (for backups: BACKUP DATABASE / BACKUP LOG or db_backupoperator; "
          "for restores: CREATE DATABASE or dbcreator)"),
    297: ("the connecting login cannot access this object", "grant the permission or connect as sysadmin"),
    15247: ("the connecting login lacks the permission for this action",
            "connect with a login in sysadmin or securityadmin (logins) or with ALTER ANY CREDENTIAL (credentials)"),
    33181: ("a Microsoft Entra group cannot own a database", "use a user or application login"),
    33130: ("principal not found in Microsoft Entra ID, or the server's identity cannot read the directory",
            "check the display name (or give object_id), and give the primary identity Directory Readers "
            "(sqlvm.backup.entra_directory_reader)"),
    33134: ("the server cannot look the principal up in Microsoft Entra ID: the SQL VM has no primary managed identity, "
            "or that identity cannot read the directory",
            "set the primary identity (sqlvm.backup.sqlvm_identity) and give it Directory Readers "
            "(sqlvm.backup.entra_directory_reader)"),
    33129: ("ENABLE / DISABLE is not supported for the login of a Microsoft Entra group",
            "drop the group's login (state: absent) or disable the members' own logins"),
    2571: ("the connecting login may not run this DBCC command (it needs sysadmin)",
           "connect with a login in the sysadmin role"),
    3110: ("the connecting login may not restore this database (it needs CREATE ANY DATABASE, or db_owner of an existing "
           "target)", "connect with a login in sysadmin or dbcreator"),
    15063: ("the login already has a user in this database under another name",
            "use that user name (databases[].user) or drop it first"),
    37353: ("the principal is not unique in Microsoft Entra ID", "give object_id to pick the principal"),
    # Offload supported backups to secondary replicas of an availability group: a secondary takes only COPY_ONLY full
    # and regular log backups. sql_backup plans for that; this answer means the replica's role changed (a failover)
    # between the plan and the statement.
    3059: ("this replica is a secondary replica of an availability group, where SQL Server runs only COPY_ONLY full and "
           "regular (not COPY_ONLY) log backups - the replica may have become a secondary since the task read its role",
           "run the task again (sql_backup reads the role and backs up on the preferred replica), or take a differential "
           "backup on the primary replica"),
    3104: ("the database has joined an availability group; RESTORE cannot run onto an availability database",
           "restore under another name (sql_restore database), or remove the database from the availability group "
           "first"),
}

_PERMISSION_NUMBERS = frozenset((229, 230, 262, 297, 300, 15247, 15151, 916, 2571, 3110))

_OS_ERRORS = {
    5: ("access to the blob was denied (Operating system error 5): the primary managed identity (or the SAS) has no "
        "right to write or read the container, or the network blocks the storage account", _ROLE_FIX),
    50: ("no usable credential for this URL (Operating system error 50, 'The request is not supported'): "
         "SQL Server finds the credential by the container URL, exactly and case-sensitively",
         "create the credential named by the container URL, e.g. https://account.blob.core.windows.net/container "
         "without a trailing slash (sqlvm.backup.sql_credential)"),
    80: ("the blob already exists (Operating system error 80) and the backup was not told to overwrite it",
         "use a new blob name (the default name template holds a timestamp) or set overwrite: true to replace it"),
    86: ("the credential's identity is not usable for this URL (Operating system error 86): a SAS that is wrong or "
         "expired, or a credential that is neither 'Managed Identity' nor 'SHARED ACCESS SIGNATURE'",
         "re-create the credential with sqlvm.backup.sql_credential (identity: managed_identity, or a valid sas_token)"),
    2: ("the blob does not exist (Operating system error 2)", "check the URL; blob names are case-sensitive"),
    3: ("the container or path does not exist (Operating system error 3)", "create the container first"),
    12002: ("the storage endpoint did not answer in time (Operating system error 12002)", _ROLE_FIX),
    12007: ("the storage host name does not resolve (Operating system error 12007)",
            "check the storage account name and the VM's DNS (private endpoints need their DNS zone)"),
}

_HTTP = {
    409: ("the blob has an active lease left by an interrupted backup (HTTP 409)",
          "break the lease on the blob (az storage blob lease break, or delete the blob) and run again"),
    412: ("there is a lease on the blob and no lease id was given (HTTP 412) - an interrupted backup left it",
          "break the lease on the blob (az storage blob lease break) and run again, or use another blob name"),
    403: ("the storage account refused the request (HTTP 403)", _ROLE_FIX),
    404: ("the container or blob does not exist (HTTP 404)", "check the URL and create the container"),
}


def error_number(message):
    """The SQL Server error number in a pyodbc/ODBC message, or None."""
    text = (message or "").strip()
    match = _NUMBER_RE.search(text)
    if match:
        # 0 is what drivers report for client-side failures (login timeout, TLS): no server number.
        return int(match.group(1)) or None
    numbers = _ANY_NUMBER_RE.findall(text)
    # The driver writes the native error last; take the last number that is not an HTTP status.
    for candidate in reversed(numbers):
        value = int(candidate)
        if not 400 <= value < 600:
            return value
    return None


def server_text(message):
    """The server's own text, without the driver's [..][..] prefix and the (NNNN) (SQLxxx) suffix."""
    text = (message or "").strip()
    text = re.sub(r"^\(?['\"]?\w+['\"]?,\s*['\"]", "", text)  # tuple repr "('42000', '..."
    text = _DRIVER_PREFIX_RE.sub("", text)
    text = re.sub(r"\s*\(\d{1,6}\)\s*(\(SQL\w+\))?['\")]*\s*$", "", text)
    return text.strip()


def _statement_label(statement_kind):
    return statement_kind or "the statement"


def classify(number, text):
    """(cause, fix) for a number and server text."""
    if number in (3201, 3271, 3013, 3202, 3203, 3204):
        # The storage service's HTTP status, when the message holds one, says more than the operating-system error
        # SQL Server wraps it in: "(409)" / "(412)" inside a 3201 is a lease on the blob (SQL Server backup to URL
        # best practices and troubleshooting), not a missing credential (OS error 50).
        http = _HTTP_STATUS_RE.search(text)
        if http and int(http.group(1)) in _HTTP:
            return _HTTP[int(http.group(1))]
        os_match = _OS_ERROR_RE.search(text)
        if os_match and int(os_match.group(1)) in _OS_ERRORS:
            return _OS_ERRORS[int(os_match.group(1))]
    if number in (18456,):
        who = _LOGIN_FAILED_RE.search(text)
        principal = who.group(1) if who else "the connecting principal"
        return ("the login of %r failed: SQL Server has no enabled login for it (for an Entra token: no login for the "
                "token's object id / app id, directly or through a group login), the password is wrong, or the login "
                "is disabled" % principal,
                "create or enable the login (sqlvm.backup.sql_login, as an existing sysadmin), or check login_user / "
                "login_password / the token's identity")
    if number in _KNOWN:
        return _KNOWN[number]
    if number in _PERMISSION_NUMBERS:
        return _KNOWN[229]
    return None


# A connection that broke while a statement was on its way: SQLSTATE 08S01 (communication link failure) and
# 08S02 of the Microsoft ODBC driver (ODBC API reference, "Appendix A: ODBC error codes"), its "TCP Provider"
# and "Communication link failure" texts, and FreeTDS's db-lib client errors 20017 (unexpected EOF from the
# server), 20004 / 20006 (read from / write to the server failed) and 20047 (the connection is dead).
_CONNECTION_LOST_RE = re.compile(
    r"\b08S0[12]\b|communication link failure|tcp provider|unexpected eof|read from the server failed|"
    r"write to the server failed|dbprocess is dead|connection is broken|connection reset|\((?:20017|20004|20006|20047)\)",
    re.IGNORECASE)


def is_connection_lost(raw):
    """Whether a driver message says the connection to SQL Server broke (not that the server refused)."""
    return bool(_CONNECTION_LOST_RE.search(raw or ""))


def connection_lost_error(raw, statement_kind=None):
    """The connection broke during a statement: it may or may not have run on the server."""
    text = server_text(raw) or "the connection was closed"
    number = error_number(raw)
    error = SqlServerError(
        number if number is not None and 20000 <= number < 21000 else None,
        "the connection to SQL Server was lost while the statement was running (%s); SQL Server may or may not have "
        "run it." % text.rstrip("."),
        _statement_label(statement_kind),
        fix="Check the network path to SQL Server (NSG, firewall, load balancer idle timeout, TLS inspection) and that "
            "the instance is up (a restart or failover ends every session), then run the task again; the modules read "
            "the current state first, so a statement that did run is not repeated.")
    error.connection_lost = True
    error.details["connection_lost"] = True
    return error


def translate(exc_or_message, statement_kind=None):
    """A pyodbc error (or its text) as SqlServerError naming cause and fix.

    The message never includes the statement text: statements may hold secrets.
    """
    if isinstance(exc_or_message, str):
        raw = exc_or_message
    else:
        args = getattr(exc_or_message, "args", ())
        raw = args[-1] if args and isinstance(args[-1], str) else str(exc_or_message)
        if args and isinstance(args[0], str) and args[0] in ("08S01", "08S02") and args[0] not in raw:
            raw = "[%s] %s" % (args[0], raw)
    if is_connection_lost(raw):
        return connection_lost_error(raw, statement_kind)
    number = error_number(raw)
    text = server_text(raw)
    known = classify(number, text) if number is not None else None
    if known:
        cause, fix = known
        return SqlServerError(number, "%s. Cause: %s." % (text.rstrip("."), cause), _statement_label(statement_kind),
                              fix=fix[0].upper() + fix[1:] + ".")
    return SqlServerError(number, text, _statement_label(statement_kind))


# --------------------------------------------------------------------------- connecting (failure paths only)

def connect_error(exc, settings):
    """A failed pyodbc.connect as a domain error: driver missing, TLS, unreachable, or the server's refusal."""
    raw = str(exc.args[-1] if exc.args else exc)
    if "Can't open lib" in raw or "Data source name not found" in raw:
        return SqlvmBackupError(
            "The ODBC driver %r is not installed or cannot be loaded." % settings.driver,
            fix="install Microsoft ODBC Driver 18 for SQL Server (msodbcsql18) or FreeTDS (tdsodbc), or give odbc_driver "
                "as the path to the driver library.")
    error = translate(exc, "login to %s:%s" % (settings.host, settings.port))
    # No number, or FreeTDS's client-side (db-lib 20xxx) numbers: the failure is on the way to the server.
    if error.number is None or 20000 <= error.number < 21000:
        lowered = raw.lower()
        text = server_text(raw)
        if "ssl" in lowered or "certificate" in lowered or "tls" in lowered or "encrypt" in lowered:
            return SqlvmBackupError(
                "TLS with %s:%s failed: %s" % (settings.host, settings.port, text),
                fix="install the server's CA certificate on this host, set host_name_in_certificate to the name in the "
                    "certificate, or - only for test servers - trust_server_certificate: true.")
        if ("timeout" in lowered or "unable to connect" in lowered or "server is not found" in lowered
                or "tcp provider" in lowered or "unavailable" in lowered):
            return SqlvmBackupError(
                "Could not reach SQL Server at %s:%s within %s s: %s"
                % (settings.host, settings.port, settings.login_timeout, text),
                fix="check the host, port, NSG / firewall rules and that SQL Server listens on TCP.")
        if getattr(error, "connection_lost", False):
            # Nothing ran yet: the connection closed during the login handshake.
            return SqlvmBackupError(
                "The connection to SQL Server at %s:%s was closed during login: %s" % (settings.host, settings.port, text),
                fix="check encrypt / the TLS settings (a server or proxy that closes TLS connections), the network "
                    "path (NSG, firewall, load balancer) and that the instance is up, then run again.")
    return error


def token_claims(token):
    """The claims of a JWT access token, read without verifying it (only to name the principal in errors).

    Entra access tokens carry tid, oid, appid (the client of an application token) and, for users, upn
    (learn.microsoft.com/entra/identity-platform/access-token-claims-reference). Anything else: {}.
    """
    import base64
    import json
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8"))
    except (IndexError, ValueError, UnicodeDecodeError, AttributeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def describe_principal(claims):
    """'application (client) id …, object id …' or 'user …, object id …' from token claims."""
    parts = []
    user = claims.get("upn") or claims.get("unique_name") or claims.get("preferred_username")
    if user:
        parts.append("user %s" % user)
    elif claims.get("appid") or claims.get("azp"):
        parts.append("application (client) id %s" % (claims.get("appid") or claims.get("azp")))
    if claims.get("oid"):
        parts.append("object id %s" % claims["oid"])
    if claims.get("tid"):
        parts.append("tenant %s" % claims["tid"])
    return ", ".join(parts) or "an unreadable access token"


def entra_login_failed(error, claims, settings):
    """18456 for an access token. SQL Server names a token login by what it resolved, often only as
    '<token-identified principal>': say which principal the token is for and how to give it a login."""
    server_said = server_text(error.message.split(". Cause:")[0]).rstrip(".")
    is_user = bool(claims.get("upn") or claims.get("unique_name") or claims.get("preferred_username"))
    message = ("%s. The Microsoft Entra access token is for %s; SQL Server has no enabled login for it (a login FROM "
               "EXTERNAL PROVIDER matches a user by object id and an application by application (client) id, directly "
               "or through a group login), the login is disabled, or the token is not for this server's tenant."
               % (server_said, describe_principal(claims)))
    fix = ("create its login once, as an existing sysadmin (e.g. over SQL authentication): sqlvm.backup.sql_login with "
           "name: <%s>%s and server_roles: [sysadmin], or enable it; or connect as another principal (client_id / "
           "AZURE_CLIENT_ID) or with sql_auth: sql."
           % ("the user's UPN" if is_user else "the application's display name",
              ", object_id: %s" % claims["oid"] if is_user and claims.get("oid") else ""))
    return SqlServerError(18456, message, error.statement_kind, fix=fix[0].upper() + fix[1:])
