# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of sql_credential: the server credential named by the container URL.

Contract (common/result.py): ``validate(params)`` before any login, then ``ensure(session, params,
check_mode) -> Result`` - the credential as asked, before/after from the DifferenceTracker. Also the
container-URL checks every SQL capability that names a container uses, and ``credential_identity``.

``CREATE CREDENTIAL [https://<account>.blob.<suffix>/<container>] WITH IDENTITY = 'Managed Identity'``
(Microsoft Learn "Backup and restore to URL using managed identities", "CREATE CREDENTIAL (Transact-SQL)")
or ``WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = '<token without ?>'``. SQL Server picks the
credential whose name equals the container URL of the backup URL, exactly and case-sensitively, so the URL
is validated strictly and must be lowercase.

``validate: true``: trace flag 4675 makes CREATE CREDENTIAL check the primary managed identity; a
credential created without it must be dropped and created again to be checked ("Backup and restore to URL
using managed identities", error messages). The flag is put back as it was, whatever happens.
"""
from __future__ import annotations

from ansible_collections.sqlvm.backup.plugins.module_utils.common.diffing import DifferenceTracker
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    InvalidInputError, PrerequisiteError, SqlvmBackupError)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.redaction import redact_url, url_secret_problem
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import (
    CONTAINER_RE as _CONTAINER_RE,
    STORAGE_ACCOUNT_RE as _ACCOUNT_RE,
    has_control_character,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import tsql
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import storage_suffix


def argument_spec():
    return dict(
        url=dict(type="str", required=True, aliases=["name"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        identity=dict(type="str", default="managed_identity", choices=["managed_identity", "sas"]),
        sas_token=dict(type="str", no_log=True),
        update_secret=dict(type="str", default="on_create", choices=["on_create", "always"], no_log=False),
        validate=dict(type="bool", default=False),
        storage_suffix=dict(type="str"),
    )


def refuse_secret_in_url(url, option="url"):
    """Refuse a URL that carries a credential - a shared access signature in its query, or user:password@ - before
    any other check, so no message (or suggested fix) ever repeats the secret; the URL is shown redacted."""
    problem = url_secret_problem(url)
    if problem is None:
        return
    shown = redact_url(url)
    if "@" in url.split("?", 1)[0].split("#", 1)[0]:
        raise InvalidInputError(
            "%s %s carries a user name or password before '@'; Azure Blob Storage URLs take none, and SQL Server finds "
            "the credential by the container URL." % (option, shown),
            fix="remove 'user:password@' from %s; for a shared access signature create the credential with "
                "sqlvm.backup.sql_credential (identity: sas, sas_token: <token>)." % option)
    raise InvalidInputError(
        "%s %s has a query string or a shared access signature in it; a credential URL takes no query string."
        % (option, shown),
        fix="give %s without '?...' and give the SAS to sqlvm.backup.sql_credential's sas_token (identity: sas, the "
            "token without the leading '?'), keeping the token in a vault." % option)


def split_container_url(url, suffix, option="url"):
    """Validate a container URL; return (account, container). Raises InvalidInputError saying what to fix."""
    if not isinstance(url, str) or not url:
        raise InvalidInputError("%s is empty; give the container URL, e.g. https://account.blob.%s/container."
                                % (option, suffix))
    refuse_secret_in_url(url, option)
    url_has_no_control_characters(url, option)
    example = "https://<account>.blob.%s/<container>" % suffix
    if url != url.strip():
        raise InvalidInputError("%s %r has leading or trailing spaces." % (option, url))
    if url != url.lower():
        raise InvalidInputError(
            "%s %r has upper-case letters. The credential name must equal the container URL exactly, and SQL Server "
            "compares it case-sensitively; use %r." % (option, url, url.lower()))
    if not url.startswith("https://"):
        raise InvalidInputError("url %r must start with https:// (%s)." % (url, example))
    rest = url[len("https://"):]
    if any(c in rest for c in "?#"):
        raise InvalidInputError("url %r has a query or fragment; a SAS token goes in sas_token, not in the URL." % url)
    if rest.endswith("/"):
        raise InvalidInputError("url %r ends with '/'; the credential name is the container URL without a trailing "
                                "slash (%s)." % (url, example))
    host, _sep, path = rest.partition("/")
    if ":" in host or "@" in host:
        raise InvalidInputError("url %r must not carry a port or user information (%s)." % (url, example))
    blob_suffix = ".blob." + suffix
    if not host.endswith(blob_suffix):
        raise InvalidInputError("url %r is not a blob endpoint of this cloud: the host must end with %s (%s). Set "
                                "storage_suffix for another cloud." % (url, blob_suffix, example))
    account = host[:-len(blob_suffix)]
    if not _ACCOUNT_RE.fullmatch(account):
        raise InvalidInputError("storage account name %r in url must be 3-24 lowercase letters and digits." % account)
    if not path:
        raise InvalidInputError("url %r names no container (%s)." % (url, example))
    if "/" in path:
        raise InvalidInputError("url %r has something after the container (%r); the credential is named by the "
                                "container URL only (%s)." % (url, path.split("/", 1)[1], example))
    if not _CONTAINER_RE.fullmatch(path):
        raise InvalidInputError("container name %r must be 3-63 lowercase letters, digits and single hyphens, starting "
                                "and ending with a letter or digit." % path)
    return account, path


def url_has_no_control_characters(url, option="url"):
    if has_control_character(url):
        raise InvalidInputError("%s %r holds a control character (a line break or tab?); give the URL on one line."
                                % (option, url))


def credential_identity(rows, container_url, statement):
    """credential_identity of the credential named exactly container_url (rows of tsql.credential_by_name), or
    PrerequisiteError: without it `statement` ("BACKUP TO URL", "RESTORE FROM URL") fails with error 50."""
    rows = [r for r in rows if r["name"] == container_url]
    if not rows:
        raise PrerequisiteError(
            "no credential named %s exists on the instance, so %s would fail with Operating system error 50. "
            "Create it first with sqlvm.backup.sql_credential (the name is the container URL, case-sensitive)."
            % (container_url, statement))
    return rows[0].get("credential_identity")


def validate(params, suffix=None):
    """Every check that needs no SQL Server; `suffix`: the blob endpoint suffix (default: storage_suffix(params))."""
    split_container_url(params["url"], suffix or storage_suffix(params))
    tsql.quote_name(params["url"], "url")
    sas = params.get("sas_token")
    if params.get("identity") == "sas":
        if params.get("state") == "present" and not sas:
            raise InvalidInputError("identity: sas needs sas_token.")
        if sas is not None:
            if sas.startswith("?"):
                raise InvalidInputError("sas_token starts with '?'; SQL Server needs the token without the leading "
                                        "'?' (remove it).")
            if "sig=" not in sas or "sv=" not in sas:
                raise InvalidInputError("sas_token does not look like a shared access signature (it has no sv= and "
                                        "sig=); give the token part of a container SAS URL.")
            if "://" in sas:
                raise InvalidInputError("sas_token holds a URL; give only the token after '?'.")
        if params.get("validate"):
            raise InvalidInputError("validate checks managed-identity credentials (trace flag 4675); it does not apply "
                                    "to identity: sas.")
    elif sas is not None:
        raise InvalidInputError("sas_token applies to identity: sas only.")


def _identity_value(params):
    return tsql.MANAGED_IDENTITY if params.get("identity", "managed_identity") == "managed_identity" \
        else tsql.SHARED_ACCESS_SIGNATURE


def read_credential(session, url):
    rows = session.query(tsql.credential_by_name(url))
    # The WHERE clause compares with the server's collation; the name must match exactly.
    rows = [r for r in rows if r["name"] == url]
    if not rows:
        return None
    row = rows[0]
    return dict(name=row["name"], identity=row.get("credential_identity"))


def _trace_flag_on(session, flag):
    for row in session.query(tsql.trace_status(flag)):
        values = list(row.values())
        if int(row.get("TraceFlag", values[0])) == flag:
            return str(row.get("Global", values[2] if len(values) > 2 else 0)).strip() in ("1", "True", "true")
    return False


def ensure(session, params, check_mode):
    """Result: changed, before/after (name, identity), and the values ``credential`` (the state after),
    ``statements``, and with validate: true ``validated`` (and ``validation`` in check mode)."""
    validate(params)
    url = params["url"]
    current = read_credential(session, url)
    identity = _identity_value(params)
    statements = []
    if params["state"] == "absent":
        if current:
            statements.append(tsql.drop_credential(url))
        after = {}
    else:
        secret = params.get("sas_token") if identity == tsql.SHARED_ACCESS_SIGNATURE else None
        if current is None:
            statements.append(tsql.create_credential(url, identity, secret))
        elif current["identity"] != identity:
            # Switching identity kind: drop and create, so no secret of the old kind stays behind.
            statements.extend([tsql.drop_credential(url), tsql.create_credential(url, identity, secret)])
        elif secret is not None and params.get("update_secret") == "always":
            statements.append(tsql.alter_credential(url, identity, secret))
        after = dict(name=url, identity=identity)

    changed = bool(statements)
    validated = None
    if params["state"] == "present" and params.get("validate") and not check_mode:
        validated = _recreate_with_trace_flag(session, url, identity)
    elif changed and not check_mode:
        for statement in statements:
            session.execute(statement)
    values = dict(statements=[tsql.render(s) for s in statements])
    if params.get("validate"):
        values["validated"] = validated if validated is not None else False
        if check_mode:
            values["validation"] = "skipped in check mode (it re-creates the credential)"
    # changed is what was (or would be) sent: a secret set again (update_secret: always) changes no visible state.
    tracker = DifferenceTracker.of_states(current, after)
    return Result(changed, tracker.before(), tracker.after(), credential=tracker.after(), **values)


def _recreate_with_trace_flag(session, url, identity):
    """Drop (if present) and create the credential with trace flag 4675 on; restore the flag's state.

    If the checked CREATE fails (37563: no primary managed identity) a credential that existed before is
    created again without the flag, so the run leaves the server as it found it, and the error is raised.
    """
    flag = tsql.TF_VALIDATE_MI_CREDENTIAL
    was_on = _trace_flag_on(session, flag)
    existed = read_credential(session, url) is not None
    if not was_on:
        session.execute(tsql.trace_on(flag))
    failure = None
    try:
        if existed:
            session.execute(tsql.drop_credential(url))
        try:
            session.execute(tsql.create_credential(url, identity))
        except SqlvmBackupError as exc:
            failure = exc
    finally:
        if not was_on:
            session.execute(tsql.trace_off(flag))
            session.writes_undone(tsql.trace_on(flag), tsql.trace_off(flag))
    if failure is not None:
        if existed:
            session.execute(tsql.create_credential(url, identity))
            session.writes_undone(tsql.drop_credential(url), tsql.create_credential(url, identity))
        raise failure
    return True
