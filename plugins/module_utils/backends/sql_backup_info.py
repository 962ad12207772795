# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of sql_backup_info: backup history (msdb or the blobs' own headers) and restore chains.

Contract (common/result.py): ``validate(params)`` before any login, then ``read(session, params) -> Result``
(never changed, no diff). The session refuses every write.

Two sources of the same facts:
- ``msdb``: backupset JOIN backupmediafamily on the server that took the backups (Microsoft Learn "backupset",
  "backupmediafamily");
- ``blobs``: RESTORE HEADERONLY FROM URL for each backup's blobs, through the connected server's credential for
  the container (its managed identity): for when the server that took them is gone.
Chains are planned by sql/restore_chain.py; a chain that cannot reach the point is returned with
``chain_problem`` (this module only reads, it does not fail for it; sql_restore refuses such a chain).
"""
from __future__ import annotations

import re

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, PrerequisiteError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import restore_chain, tsql
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import storage_suffix
from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_credential import (
    credential_identity, refuse_secret_in_url, split_container_url, url_has_no_control_characters)

SOURCES = ("msdb", "blobs")
# <name>_<n>of<m>.<ext>: the stripes of one backup as sql_backup names them (its blob_name_template's default).
_STRIPE_RE = re.compile(r"^(?P<stem>.*)_(?P<n>\d+)of(?P<m>\d+)(?P<ext>\.[A-Za-z0-9]+)?$")


def argument_spec():
    return dict(
        databases=dict(type="list", elements="str", required=True),
        source=dict(type="str", default="msdb", choices=list(SOURCES)),
        urls=dict(type="list", elements="str"),
        restore_point=dict(type="str"),
        since=dict(type="str"),
        storage_suffix=dict(type="str"),
    )


def validate(params):
    """Every check that needs no SQL Server."""
    databases = params.get("databases") or []
    if not databases:
        raise InvalidInputError("databases is empty; name the databases whose backups to read.")
    for database in databases:
        tsql.check_name(database, "databases entry")
    if len({d.lower() for d in databases}) != len(databases):
        raise InvalidInputError("databases lists a database twice (SQL Server compares names without regard to case).")
    source = params.get("source") or "msdb"
    urls = params.get("urls") or []
    if source == "blobs":
        if not urls:
            raise InvalidInputError("source: blobs needs urls: every blob URL of the backups to read (each stripe).")
        suffix = storage_suffix(params)
        for url in urls:
            container_of(url, suffix)
        if len(set(urls)) != len(urls):
            raise InvalidInputError("urls lists a blob twice.")
        stripe_sets(urls)
    elif urls:
        raise InvalidInputError("urls is read only with source: blobs; with source: msdb the history names the blobs.")
    for key in ("restore_point", "since"):
        if params.get(key) is not None:
            try:
                value = restore_chain.parse_restore_point(params[key])
            except restore_chain.PointInTimeError as error:
                raise InvalidInputError(str(error).replace("restore_point", key, 1)) from None
            if key == "since" and value == restore_chain.LATEST:
                raise InvalidInputError("since must be a date and time like 2026-11-01T00:00:00, not 'latest'.")


def container_of(url, suffix):
    """Container URL of a blob URL (validated), e.g. https://a.blob.core.windows.net/c/x/y.bak -> .../c."""
    if isinstance(url, str):
        refuse_secret_in_url(url, "urls entry")
        url_has_no_control_characters(url, "urls entry")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise InvalidInputError("url %r must be an https blob URL (https://<account>.blob.%s/<container>/<blob>)."
                                % (url, suffix))
    parts = url.split("/", 4)
    if len(parts) < 5 or not parts[4] or parts[4].endswith("/"):
        raise InvalidInputError("url %r names no blob after the container." % url)
    if any(c in url for c in "?#"):
        raise InvalidInputError("url %r has a query or fragment; SAS tokens belong in the credential." % url)
    container = "/".join(parts[:4])
    split_container_url(container, suffix, "the container of urls entry %s" % url)
    return container


def stripe_sets(urls):
    """Group blob URLs into backups: blobs named <stem>_<n>of<m>.<ext> with the same stem and m are one striped
    backup (complete when all m are listed); any other blob is a backup of its own. Order kept."""
    groups, order = {}, []
    for url in urls:
        match = _STRIPE_RE.match(url)
        key = (match.group("stem"), match.group("m"), match.group("ext")) if match else (url,)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((int(match.group("n")) if match else 1, url))
    sets = []
    for key in order:
        members = [url for _n, url in sorted(groups[key])]
        if len(key) == 3 and len(members) != int(key[1]):
            raise InvalidInputError("urls has %d of the %s stripes of %s_*of%s%s; give every stripe of a backup."
                                    % (len(members), key[1], key[0], key[1], key[2] or ""))
        sets.append(members)
    return sets


def history_from_msdb(session, databases):
    """{database name as given: [backup, ...]} from msdb; names compared without regard to case, as msdb does."""
    rows = session.query(tsql.backup_history(databases))
    by_name = {d.lower(): d for d in databases}
    found = {d: [] for d in databases}
    for backup in restore_chain.from_history_rows(rows):
        name = by_name.get((backup["database"] or "").lower())
        if name is not None:
            found[name].append(backup)
    return found


def history_from_blobs(session, databases, urls, suffix=None):
    """{database: [backup, ...]} from RESTORE HEADERONLY of each backup's blobs (the credential of every container
    must exist: SQL Server reads the blobs, not the controller). Also returns warnings (blobs of other databases,
    backup sets after the first of a blob)."""
    suffix = suffix or "core.windows.net"
    for container in sorted({container_of(url, suffix) for url in urls}):
        credential_identity(session.query(tsql.credential_by_name(container)), container, "RESTORE HEADERONLY FROM URL")
    by_name = {d.lower(): d for d in databases}
    found = {d: [] for d in databases}
    warnings = []
    for members in stripe_sets(urls):
        rows = session.query(tsql.restore_headeronly(members))
        for position, row in enumerate(rows, start=1):
            if position > 1:
                warnings.append("%s holds more than one backup set; only the first is used (sql_backup writes one per "
                                "blob)." % members[0])
                break
            backup = restore_chain.from_header(row, members)
            if backup is None:
                warnings.append("%s holds a %s backup (BackupType %s), not a full, differential or log backup; "
                                "left out." % (members[0], row.get("BackupTypeDescription") or "other",
                                               row.get("BackupType")))
                continue
            name = by_name.get((backup["database"] or "").lower())
            if name is None:
                warnings.append("%s holds a backup of database %s, not of %s; left out."
                                % (members[0], backup["database"], ", ".join(databases)))
                continue
            found[name].append(backup)
    for name in found:
        found[name].sort(key=lambda b: (b["last_lsn"], b["first_lsn"]))
    return found, warnings


def read_history(session, params):
    """({database: [backup, ...]}, warnings) from the source the params name."""
    if (params.get("source") or "msdb") == "blobs":
        return history_from_blobs(session, params["databases"], params["urls"], storage_suffix(params))
    return history_from_msdb(session, params["databases"]), []


def chain_result(plan):
    """The plan as modules return it."""
    return dict(chain=[restore_chain.to_result(b) for b in plan["chain"]],
                stopat=plan["stopat"].isoformat() if plan["stopat"] is not None else None,
                chain_problem=plan["problem"],
                restore_sequence=restore_chain.describe_chain(plan["chain"], plan["stopat"]))


def read(session, params):
    """Result: never changed; ``backups`` (per database, oldest first, after ``since``) and with restore_point
    ``chains`` (per database: chain, stopat, chain_problem, restore_sequence), and for one database the same at the
    top level (``chain``, ``stopat``, ``chain_problem``, ``restore_sequence``)."""
    validate(params)
    history, warnings = read_history(session, params)
    since = restore_chain.parse_restore_point(params["since"]) if params.get("since") else None
    backups = {name: [restore_chain.to_result(b) for b in entries if since is None or b["finish"] >= since]
               for name, entries in history.items()}
    values = dict(backups=backups, source=params.get("source") or "msdb")
    if params.get("restore_point") is not None:
        chains = {name: chain_result(restore_chain.plan(entries, params["restore_point"]))
                  for name, entries in history.items()}
        values["chains"] = chains
        if len(chains) == 1:
            values.update(next(iter(chains.values())))
    return Result(False, warnings=warnings, **values)


def plan_for_restore(session, source_database, restore_point, source, urls, suffix):
    """The chain sql_restore plans itself (history from the connected server's msdb, or from the blobs); raises
    PrerequisiteError naming what is missing when no chain reaches the point."""
    params = dict(databases=[source_database], source=source, urls=urls, storage_suffix=suffix)
    history, warnings = read_history(session, params)
    plan = restore_chain.plan(history[source_database], restore_point)
    if plan["problem"]:
        raise PrerequisiteError("no restore chain of %s reaches %s: %s Nothing was restored."
                                % (source_database, restore_point, plan["problem"]))
    return plan, warnings
