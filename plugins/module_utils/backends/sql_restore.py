# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of sql_restore: RESTORE DATABASE / LOG FROM URL, and the read-only RESTORE forms.

Contract (common/result.py): ``validate(params)`` before any login, then ``ensure(session, params,
check_mode) -> Result``: ensure the database was restored from these URLs - nothing to do when it was
last restored from exactly them; check mode plans without writing. before/after (the database: exists,
state) come from the DifferenceTracker; the read-only modes (header_only, filelist_only, verify_only)
change nothing and show no diff.

MOVE is computed from RESTORE FILELISTONLY so a backup can be restored under a new name without
touching the files of the database it came from (errors 1834 / 3156 otherwise: Microsoft Learn "Backup
and restore to URL using managed identities"). An existing database is never overwritten unless
``replace: true``.
"""
from __future__ import annotations

import datetime
import ntpath
import posixpath
import time

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth_options import LONG_TASK_TIMEOUT
from ansible_collections.sqlvm.backup.plugins.module_utils.common.diffing import DifferenceTracker
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    InvalidInputError, PrerequisiteError, SqlServerError)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import tsql
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import storage_suffix
from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_credential import (
    credential_identity, refuse_secret_in_url, split_container_url, url_has_no_control_characters)
from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_info import check_instance, instance_from_row


def argument_spec():
    return dict(
        # BACKUP and RESTORE of a large database take hours (docs/design.md, "Deadline").
        timeout=dict(type="int", default=LONG_TASK_TIMEOUT),
        urls=dict(type="list", elements="str", required=True),
        database=dict(type="str"),
        mode=dict(type="str", default="restore", choices=["restore", "verify_only", "header_only", "filelist_only"]),
        restore_type=dict(type="str", default="database", choices=["database", "log"]),
        data_path=dict(type="str"),
        log_path=dict(type="str"),
        file_moves=dict(type="dict"),
        replace=dict(type="bool", default=False),
        recovery=dict(type="bool", default=True),
        stopat=dict(type="str"),
        checksum=dict(type="bool", default=False),
        storage_suffix=dict(type="str"),
        allow_unsupported_instance=dict(type="bool", default=False),
    )


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


def validate(params, suffix=None):
    """Every check that needs no SQL Server; returns the container URL. `suffix`: the blob endpoint suffix
    (default: storage_suffix(params))."""
    suffix = suffix or storage_suffix(params)
    urls = params.get("urls") or []
    if not urls:
        raise InvalidInputError("urls is empty; give every blob URL of the backup's stripe set.")
    if len(urls) > tsql.MAX_URLS:
        raise InvalidInputError("urls has %d entries; a backup has at most %d stripes." % (len(urls), tsql.MAX_URLS))
    if len(set(urls)) != len(urls):
        raise InvalidInputError("urls lists a blob twice.")
    containers = {container_of(u, suffix) for u in urls}
    if len(containers) != 1:
        raise InvalidInputError("urls span several containers (%s); one backup lives in one container."
                                % ", ".join(sorted(containers)))
    for url in urls:
        tsql.quote_string(url, "URL")
    mode = params.get("mode") or "restore"
    if mode == "restore":
        if not params.get("database"):
            raise InvalidInputError("mode: restore needs database (the name to restore as).")
        tsql.check_name(params["database"], "database")
        check_file_name_part(params["database"], "database")
        if params["database"].strip().lower() in ("master", "model", "msdb", "tempdb"):
            raise InvalidInputError("restoring system databases (%s) is not supported by this module."
                                    % params["database"])
    for key in ("data_path", "log_path"):
        value = params.get(key)
        if value is not None and (not value or tsql.has_control_character(value) or _climbs(value)
                                  or not (value.startswith("/") or ntpath.isabs(value))):
            raise InvalidInputError("%s %r must be an absolute directory path on the SQL Server host." % (key, value))
    for logical, physical in (params.get("file_moves") or {}).items():
        tsql.quote_string(logical, "logical file name")
        if not isinstance(physical, str) or not (physical.startswith("/") or ntpath.isabs(physical)) \
                or tsql.has_control_character(physical) or _climbs(physical):
            raise InvalidInputError("file_moves[%r] = %r must be an absolute file path on the SQL Server host, without "
                                    "'..' or control characters."
                                    % (logical, physical))
    if params.get("stopat"):
        try:
            datetime.datetime.fromisoformat(params["stopat"].replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                "stopat %r is not a date and time like 2026-01-31T23:15:00." % params["stopat"]) from None
    return containers.pop()


# Characters that separate or end path components on Windows or Linux, or that Windows forbids in file names:
# a database or logical file name holding one would put a MOVE target outside the data directory.
_PATH_CHARACTERS = '/\\:*?"<>|'


def _climbs(path):
    return ".." in path.replace("\\", "/").split("/")


def check_file_name_part(name, what, hint="give another name"):
    """`name` becomes part of a file name under the data / log directory (MOVE targets): no path separators, no
    '..', no characters Windows forbids in file names, no control characters."""
    if any(c in name for c in _PATH_CHARACTERS) or ".." in name or tsql.has_control_character(name):
        raise InvalidInputError(
            "%s %r cannot be part of a file name: it holds a path separator, '..' or a character file names cannot "
            "hold (%s); the restored files are named after it. %s." % (what, name, " ".join(_PATH_CHARACTERS), hint))


def _join(directory, filename):
    if "\\" in directory or (len(directory) > 1 and directory[1] == ":"):
        return ntpath.join(directory, filename)
    return posixpath.join(directory, filename)


def _extension(physical, file_type):
    base = ntpath.basename(physical) if "\\" in (physical or "") else posixpath.basename(physical or "")
    if "." in base:
        return base[base.rindex("."):]
    return ".ldf" if file_type == "L" else ".ndf"


def compute_moves(files, database, instance, params):
    """[(logical, physical)] for every file of the backup, into data_path/log_path or the instance defaults."""
    given = dict(params.get("file_moves") or {})
    logicals = [f["LogicalName"] for f in files]
    unknown = sorted(set(given) - set(logicals))
    if unknown:
        raise InvalidInputError("file_moves names files the backup does not have: %s (it has: %s)."
                                % (", ".join(unknown), ", ".join(logicals)))
    data_dir = params.get("data_path") or instance.get("default_data_path")
    log_dir = params.get("log_path") or instance.get("default_log_path") or data_dir
    if not data_dir:
        raise PrerequisiteError("the instance reports no default data path; give data_path and log_path.")
    moves, seen, first_data = [], set(), True
    for f in files:
        logical, ftype = f["LogicalName"], (f.get("Type") or "D").strip()
        if logical not in given:
            # The backup's own logical names are names from another server: checked like the user's.
            check_file_name_part(logical, "logical file name of the backup",
                                 "give its target path in file_moves (file_moves: {%r: <absolute path>})" % logical)
        if logical in given:
            target = given[logical]
        elif ftype == "L":
            target = _join(log_dir, "%s_%s%s" % (database, logical, _extension(f.get("PhysicalName"), ftype)))
        elif first_data and ftype == "D":
            target = _join(data_dir, database + _extension(f.get("PhysicalName"), ftype))
            first_data = False
        else:
            target = _join(data_dir, "%s_%s%s" % (database, logical, _extension(f.get("PhysicalName"), ftype)))
        if target.lower() in seen:
            raise InvalidInputError("two files of the backup would be restored to %s; give file_moves." % target)
        seen.add(target.lower())
        moves.append((logical, target))
    return moves


def _plain(rows):
    out = []
    for row in rows:
        out.append({k: (v.isoformat() if hasattr(v, "isoformat") else (str(v) if hasattr(v, "as_tuple") else
                                                                       (v.hex() if isinstance(v, (bytes, bytearray))
                                                                        else v)))
                    for k, v in row.items()})
    return out


def ensure(session, params, check_mode):
    """Result: for a restore, changed, before/after (database, exists, state) and the values ``database``,
    ``urls``, ``files``, ``statements`` (and once run ``duration_seconds``, ``messages``); for the read-only modes
    ``headers``, ``files`` or ``verified`` and ``messages``. Warnings from the instance check."""
    container = validate(params)
    urls = params["urls"]
    sets = session.query_all(tsql.batch(tsql.credential_by_name(container), tsql.server_properties()))
    identity = credential_identity(sets[0], container, "RESTORE FROM URL")
    instance = instance_from_row(sets[1][0])
    warnings = check_instance(instance, params.get("allow_unsupported_instance")) \
        if identity == tsql.MANAGED_IDENTITY else []
    mode = params.get("mode") or "restore"
    if mode == "header_only":
        return Result(False, warnings=warnings, headers=_plain(session.query(tsql.restore_headeronly(urls))))
    if mode == "filelist_only":
        return Result(False, warnings=warnings, files=_plain(session.query(tsql.restore_filelistonly(urls))))
    if mode == "verify_only":
        before = len(session.messages)
        session.execute(tsql.restore_verifyonly(urls, checksum=params.get("checksum")))
        return Result(False, warnings=warnings, verified=True, messages=session.messages[before:])

    database = params["database"]
    existing = session.query(tsql.database_state(database))
    is_log = params.get("restore_type") == "log"
    before_state = dict(database=database, exists=bool(existing),
                        state=existing[0].get("state_desc") if existing else None)
    if is_log:
        if not existing:
            raise PrerequisiteError("database %r does not exist; restore a full backup WITH NORECOVERY (recovery: false) "
                                    "before its log backups." % database)
        if existing[0].get("state_desc") != "RESTORING":
            raise PrerequisiteError("database %r is %s; log backups can be restored only onto a database left RESTORING "
                                    "(recovery: false)." % (database, existing[0].get("state_desc")))
    elif existing and not params.get("replace"):
        if _restored_from_same(session, database, urls):
            tracker = DifferenceTracker.of_states(before_state, before_state)
            return Result(False, tracker.before(), tracker.after(), warnings, database=database, urls=urls,
                          statements=[], msg="database %s was last restored from these URLs; nothing to do." % database)
        raise PrerequisiteError(
            "database %r already exists; refusing to overwrite it. Restore under another name (database: ...), or "
            "set replace: true to overwrite it." % database)

    moves = []
    files = []
    if not is_log:
        files = session.query(tsql.restore_filelistonly(urls))
        moves = compute_moves(files, database, instance, params)
    statement = tsql.restore(database, urls, log=is_log, moves=moves, replace=bool(params.get("replace")) and not is_log,
                             recovery=params.get("recovery", True), stopat=params.get("stopat"),
                             checksum=params.get("checksum"))
    after_state = dict(database=database, exists=True, state="ONLINE" if params.get("recovery", True) else "RESTORING")
    tracker = DifferenceTracker.of_states(before_state, after_state)
    # A RESTORE is a write even onto a database that was ONLINE before and is ONLINE after (replace: true).
    result = Result(True, tracker.before(), tracker.after(), warnings, database=database, urls=urls,
                    files=[dict(logical=logical, physical=physical) for logical, physical in moves], statements=[tsql.render(statement)])
    if check_mode:
        return result
    start = time.time()
    before = len(session.messages)
    session.execute(statement)
    result.values["duration_seconds"] = round(time.time() - start, 3)
    result.values["messages"] = session.messages[before:]
    return result


def _restored_from_same(session, database, urls):
    try:
        last = session.query(tsql.last_restore(database))
        if not last:
            return False
        devices = {r["physical_device_name"] for r in session.query(tsql.backup_set_urls(last[0]["backup_set_id"]))}
    except SqlServerError:
        return False
    return bool(devices) and devices == set(urls)
