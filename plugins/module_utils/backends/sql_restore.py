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
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import restore_chain, tsql
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import storage_suffix
from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_credential import credential_identity
# container_of is sql_backup_info's (it reads the same blob URLs); sql_restore plans chains with it.
from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_backup_info import (
    container_of, plan_for_restore, stripe_sets)
from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_info import check_instance, instance_from_row


def argument_spec():
    return dict(
        # BACKUP and RESTORE of a large database take hours (docs/design.md, "Deadline").
        timeout=dict(type="int", default=LONG_TASK_TIMEOUT),
        urls=dict(type="list", elements="str"),
        chain=dict(type="list", elements="dict"),
        restore_point=dict(type="str"),
        source_database=dict(type="str"),
        history_source=dict(type="str", default="msdb", choices=["msdb", "blobs"]),
        history_urls=dict(type="list", elements="str"),
        standby_file=dict(type="str"),
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


def _chain_kind(params):
    """'urls' (one backup set), 'chain' (a chain from sql_backup_info) or 'plan' (restore_point: planned here)."""
    given = [key for key in ("urls", "chain", "restore_point") if params.get(key) not in (None, [])]
    if len(given) > 1:
        raise InvalidInputError("give one of urls (one backup set), chain (from sqlvm.backup.sql_backup_info) or "
                                "restore_point (this module plans the chain); %s given." % " and ".join(given))
    if not given and params.get("urls") == []:
        raise InvalidInputError("urls is empty; give every blob URL of the backup's stripe set.")
    if not given:
        raise InvalidInputError("give urls (every blob URL of one backup's stripe set), chain (from "
                                "sqlvm.backup.sql_backup_info) or restore_point with source_database.")
    return {"urls": "urls", "chain": "chain", "restore_point": "plan"}[given[0]]


def _checked_path(key, value):
    if value is not None and (not value or tsql.has_control_character(value) or _climbs(value)
                              or not (value.startswith("/") or ntpath.isabs(value))):
        raise InvalidInputError("%s %r must be an absolute path on the SQL Server host, without '..' or control "
                                "characters." % (key, value))


def validate_chain(params, suffix=None):
    """The checks of a chain restore (chain: or restore_point:) that need no SQL Server; returns the chain given
    (restore_chain backups) or None when it is to be planned."""
    suffix = suffix or storage_suffix(params)
    kind = _chain_kind(params)
    if (params.get("mode") or "restore") != "restore":
        raise InvalidInputError("chain and restore_point restore (mode: restore); read one backup with urls and mode: %s."
                                % params.get("mode"))
    if params.get("restore_type") == "log":
        raise InvalidInputError("restore_type: log is for one log backup given by urls; a chain restores its log backups "
                                "itself.")
    _check_target(params)
    _checked_path("standby_file", params.get("standby_file"))
    if params.get("standby_file") and not params.get("recovery", True):
        raise InvalidInputError("standby_file leaves the database read-only between log restores (STANDBY) and "
                                "recovery: false leaves it RESTORING (NORECOVERY); choose one.")
    if kind == "plan":
        try:
            restore_chain.parse_restore_point(params["restore_point"])
        except restore_chain.PointInTimeError as error:
            raise InvalidInputError(str(error)) from None
        if not params.get("source_database"):
            raise InvalidInputError("restore_point needs source_database: the name of the database whose backups to "
                                    "restore, as the history knows it.")
        tsql.check_name(params["source_database"], "source_database")
        if params.get("stopat"):
            raise InvalidInputError("restore_point sets the STOPAT of the chain; do not give stopat too.")
        if params.get("history_source") == "blobs":
            history_urls = params.get("history_urls") or []
            if not history_urls:
                raise InvalidInputError("history_source: blobs needs history_urls: every blob of the backups to read "
                                        "(each stripe).")
            for url in history_urls:
                container_of(url, suffix)
            stripe_sets(history_urls)
        elif params.get("history_urls"):
            raise InvalidInputError("history_urls is read only with history_source: blobs.")
        return None
    if params.get("history_urls") or params.get("source_database"):
        raise InvalidInputError("source_database and history_urls are for restore_point (the module plans the chain); "
                                "with %s the backups are given." % kind)
    chain = []
    for index, item in enumerate(params["chain"]):
        if not isinstance(item, dict):
            raise InvalidInputError("chain[%d] is not a dict; pass sql_backup_info's chain as it is." % index)
        try:
            entry = restore_chain.from_result(item)
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInputError("chain[%d] is not a backup as sql_backup_info returns it: %s." % (index, error)) \
                from None
        if len(entry["urls"]) > tsql.MAX_URLS or len(set(entry["urls"])) != len(entry["urls"]):
            raise InvalidInputError("chain[%d] has more than %d URLs or a URL twice." % (index, tsql.MAX_URLS))
        for url in entry["urls"]:
            container_of(url, suffix)
            tsql.quote_string(url, "URL")
        chain.append(entry)
    problem = restore_chain.check_chain(chain)
    if problem:
        raise InvalidInputError("chain cannot be restored: %s Plan it again with sqlvm.backup.sql_backup_info." % problem)
    if params.get("stopat"):
        _check_stopat(params["stopat"])
        if chain[-1]["type"] != "log":
            raise InvalidInputError("stopat needs a chain that ends with a log backup; this one ends with a %s backup."
                                    % chain[-1]["type"])
    return chain


def _check_target(params):
    if not params.get("database"):
        raise InvalidInputError("mode: restore needs database (the name to restore as).")
    tsql.check_name(params["database"], "database")
    check_file_name_part(params["database"], "database")
    if params["database"].strip().lower() in ("master", "model", "msdb", "tempdb"):
        raise InvalidInputError("restoring system databases (%s) is not supported by this module."
                                % params["database"])
    _check_paths(params)


def _check_paths(params):
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


def _check_stopat(value):
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            "stopat %r is not a date and time like 2026-01-31T23:15:00." % value) from None


def validate(params, suffix=None):
    """Every check that needs no SQL Server; returns the container URL of a one-backup restore (None for a chain).
    `suffix`: the blob endpoint suffix (default: storage_suffix(params))."""
    if _chain_kind(params) != "urls":
        validate_chain(params, suffix)
        return None
    if params.get("history_urls") or params.get("source_database"):
        raise InvalidInputError("source_database and history_urls are for restore_point (the module plans the chain).")
    if params.get("standby_file"):
        raise InvalidInputError("standby_file is for chains (chain or restore_point); one backup set restores WITH "
                                "RECOVERY or NORECOVERY (recovery).")
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
    if (params.get("mode") or "restore") == "restore":
        _check_target(params)
    else:
        _check_paths(params)
    if params.get("stopat"):
        _check_stopat(params["stopat"])
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
    ``headers``, ``files`` or ``verified`` and ``messages``. Warnings from the instance check. A chain (chain: or
    restore_point:) is restored by ensure_chain."""
    if _chain_kind(params) != "urls":
        return ensure_chain(session, params, check_mode)
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


def _last_restored_devices(session, database):
    """The URLs of the backup set `database` was last restored from (msdb.dbo.restorehistory); empty when none
    or when msdb cannot be read."""
    try:
        last = session.query(tsql.last_restore(database))
        if not last:
            return set()
        return {r["physical_device_name"] for r in session.query(tsql.backup_set_urls(last[0]["backup_set_id"]))}
    except SqlServerError:
        return set()


def _restored_from_same(session, database, urls):
    devices = _last_restored_devices(session, database)
    return bool(devices) and devices == set(urls)


def _containers_ready(session, urls, suffix, what, allow_unsupported):
    """(instance, warnings): every container of `urls` has a credential; the instance check as for one backup."""
    containers = sorted({container_of(url, suffix) for url in urls})
    sets = session.query_all(tsql.batch(*([tsql.credential_by_name(c) for c in containers] + [tsql.server_properties()])))
    identities = [credential_identity(sets[i], container, what) for i, container in enumerate(containers)]
    instance = instance_from_row(sets[len(containers)][0])
    warnings = []
    if tsql.MANAGED_IDENTITY in identities:
        warnings = check_instance(instance, allow_unsupported)
    return instance, warnings


def chain_statements(database, chain, moves, params, stopat):
    """The RESTORE statements of a chain: WITH NORECOVERY until the last, which ends as asked (RECOVERY, NORECOVERY
    or STANDBY) and carries STOPAT when the chain stops inside its last log backup."""
    if params.get("standby_file"):
        finish = "standby"
    else:
        finish = "recovery" if params.get("recovery", True) else "norecovery"
    statements = []
    for index, entry in enumerate(chain):
        last = index == len(chain) - 1
        statements.append(tsql.restore_step(
            database, entry["urls"], log=entry["type"] == "log", moves=moves if index == 0 else (),
            replace=bool(params.get("replace")) and index == 0, finish=finish if last else "norecovery",
            standby_file=params.get("standby_file") if last else None,
            stopat=stopat if last and entry["type"] == "log" else None, checksum=params.get("checksum")))
    return statements


def ensure_chain(session, params, check_mode):
    """Restore a chain (given, or planned here from msdb or the blobs' headers) under ``database``: the chain is
    checked (and for restore_point planned) before any write; an existing database is never overwritten unless
    replace: true, and one last restored from a backup of this chain is not restored again. Result values:
    ``database``, ``backups`` (the chain), ``restore_sequence``, ``stopat``, ``files``, ``statements`` (and once run
    ``duration_seconds``, ``messages``)."""
    suffix = storage_suffix(params)
    chain = validate_chain(params, suffix)
    allow = bool(params.get("allow_unsupported_instance"))
    planned_from = list(params.get("history_urls") or []) if params.get("history_source") == "blobs" else []
    urls_to_check = [u for entry in chain for u in entry["urls"]] if chain is not None else planned_from
    instance, warnings = _containers_ready(session, urls_to_check, suffix, "RESTORE FROM URL", allow) if urls_to_check \
        else (None, [])
    stopat = params.get("stopat")
    if chain is None:
        plan, more = plan_for_restore(session, params["source_database"], params["restore_point"],
                                      params.get("history_source") or "msdb", planned_from, suffix)
        warnings.extend(more)
        chain = plan["chain"]
        stopat = plan["stopat"].isoformat() if plan["stopat"] is not None else None
        if not planned_from:
            instance, more = _containers_ready(session, [u for entry in chain for u in entry["urls"]], suffix,
                                               "RESTORE FROM URL", allow)
            warnings.extend(more)
    database = params["database"]
    sequence = restore_chain.describe_chain(chain, _moment(stopat))
    backups = [restore_chain.to_result(entry) for entry in chain]
    existing = session.query(tsql.database_state(database))
    before_state = dict(database=database, exists=bool(existing),
                        state=existing[0].get("state_desc") if existing else None)
    if existing and not params.get("replace"):
        if _restored_from_chain(session, database, chain):
            tracker = DifferenceTracker.of_states(before_state, before_state)
            return Result(False, tracker.before(), tracker.after(), warnings, database=database, backups=backups,
                          restore_sequence=sequence, stopat=stopat, statements=[],
                          msg="database %s was restored from this chain; it is not restored again (replace: true "
                              "restores it over)." % database)
        raise PrerequisiteError(
            "database %r already exists; refusing to overwrite it. Restore under another name (database: ...), or "
            "set replace: true to overwrite it." % database)
    files = session.query(tsql.restore_filelistonly(chain[0]["urls"]))
    moves = compute_moves(files, database, instance, params)
    statements = chain_statements(database, chain, moves, params, stopat)
    state = "STANDBY" if params.get("standby_file") else ("ONLINE" if params.get("recovery", True) else "RESTORING")
    after_state = dict(database=database, exists=True, state=state, restored_from=sequence)
    tracker = DifferenceTracker.of_states(before_state, after_state)
    result = Result(True, tracker.before(), tracker.after(), warnings, database=database, backups=backups,
                    restore_sequence=sequence, stopat=stopat,
                    files=[dict(logical=logical, physical=physical) for logical, physical in moves],
                    statements=[tsql.render(statement) for statement in statements])
    if check_mode:
        return result
    start = time.time()
    before = len(session.messages)
    for statement in statements:
        session.execute(statement)
    result.values["duration_seconds"] = round(time.time() - start, 3)
    result.values["messages"] = session.messages[before:]
    return result


def _moment(stopat):
    return datetime.datetime.fromisoformat(stopat.replace("Z", "")) if stopat else None


def _restored_from_chain(session, database, chain):
    """Was `database` last restored from a backup of `chain` (msdb.dbo.restorehistory)?"""
    devices = _last_restored_devices(session, database)
    return bool(devices) and any(devices == set(entry["urls"]) for entry in chain)
