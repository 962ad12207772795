# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore chains: which backups restore a database to "latest" or to a point in time. Pure functions.

A backup is a dict (``backup()`` builds it from msdb rows or RESTORE HEADERONLY rows):
``type`` (full | differential | log), ``copy_only``, ``first_lsn``, ``last_lsn``, ``checkpoint_lsn``,
``database_backup_lsn`` (ints: LSNs are numeric(25,0)), ``start`` and ``finish`` (naive datetimes, the
source server's local time, as msdb and STOPAT use), ``urls`` (every stripe, in family order), ``database``,
``server``, ``backup_set_id``.

The rules (Microsoft Learn "Log Sequence Numbers and Restore Planning", "Restore a SQL Server Database to a
Point in Time", "Copy-Only Backups", RESTORE errors 4305 / 4326):
- a chain starts with a full backup. A copy-only full can start a chain, but a differential is based on the
  last full that was not copy-only: its database_backup_lsn is that full's checkpoint_lsn;
- last_lsn is the LSN of the next log record after the backup: a restore has rolled forward to the last_lsn of
  what it restored. A log backup continues it when ``first_lsn <= rolled_forward < last_lsn``; a later first_lsn
  is a gap (error 4305, "too recent to apply"), a last_lsn not beyond it adds nothing (4326, "too early");
- log backups are not interrupted by full or differential backups, so a log chain runs across a later full;
- a point in time is reached by the first log backup of the chain that was taken after it (it holds the log
  records up to its start), restored WITH STOPAT; the full and differential must have finished before it.
"""
from __future__ import annotations

import datetime

LATEST = "latest"
TYPES = {"D": "full", "I": "differential", "L": "log"}
HEADER_TYPES = {1: "full", 5: "differential", 2: "log"}


class PointInTimeError(ValueError):
    """A restore point that is neither 'latest' nor a date and time."""


def parse_restore_point(value):
    """'latest' -> LATEST; an ISO 8601 date and time without offset -> naive datetime (the source server's local
    time, as msdb and STOPAT read it). Raises PointInTimeError with what to give instead."""
    if value is None or (isinstance(value, str) and value.strip().lower() == LATEST):
        return LATEST
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
        except ValueError:
            raise PointInTimeError("restore_point %r is neither 'latest' nor a date and time like 2026-11-21T23:30:00."
                                   % (value,)) from None
        if len(text) <= 10:
            raise PointInTimeError("restore_point %r is a date without a time; give the time too, like %sT23:30:00."
                                   % (value, text))
    if moment.tzinfo is not None:
        raise PointInTimeError(
            "restore_point %r has a time zone offset; give the source server's local time without one (msdb and "
            "STOPAT use the server's local time; Azure VMs run on UTC unless someone changed it)." % (value,))
    return moment


def _lsn(value):
    if value is None or value == "":
        return None
    return int(str(value).split(".", maxsplit=1)[0])


def _time(value):
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None, microsecond=0)
    return datetime.datetime.fromisoformat(str(value).replace("Z", "")).replace(tzinfo=None, microsecond=0)


def _flag(value):
    return str(value).strip().lower() in ("1", "true")


def backup(type_, first_lsn, last_lsn, checkpoint_lsn, database_backup_lsn, start, finish, urls, copy_only=False,
           database=None, server=None, backup_set_id=None):
    return dict(type=type_, copy_only=bool(copy_only), first_lsn=_lsn(first_lsn), last_lsn=_lsn(last_lsn),
                checkpoint_lsn=_lsn(checkpoint_lsn), database_backup_lsn=_lsn(database_backup_lsn),
                start=_time(start), finish=_time(finish or start), urls=list(urls), database=database, server=server,
                backup_set_id=backup_set_id)


def from_history_rows(rows):
    """Backups from msdb rows (backupset JOIN backupmediafamily: one row per stripe), grouped by backup_set_id,
    stripes in family order. Types other than full, differential and log (file, partial) are left out. The same
    backup recorded twice (msdb records the backup sets a server restores too) is kept once."""
    sets, order = {}, []
    for row in rows:
        key = row["backup_set_id"]
        if key not in sets:
            sets[key] = (row, [])
            order.append(key)
        sets[key][1].append((int(row.get("family_sequence_number") or 1), row["physical_device_name"]))
    backups, seen = [], set()
    for key in order:
        row, stripes = sets[key]
        kind = TYPES.get(str(row.get("type") or "").strip())
        if kind is None:
            continue
        urls = [url for _n, url in sorted(stripes)]
        entry = backup(kind, row.get("first_lsn"), row.get("last_lsn"), row.get("checkpoint_lsn"),
                       row.get("database_backup_lsn"), row.get("backup_start_date"), row.get("backup_finish_date"),
                       urls, copy_only=_flag(row.get("is_copy_only")), database=row.get("database_name"),
                       server=row.get("server_name"), backup_set_id=key)
        identity = (kind, entry["first_lsn"], entry["last_lsn"], tuple(urls))
        if identity in seen:
            continue
        seen.add(identity)
        backups.append(entry)
    return backups


def from_header(row, urls):
    """A backup from a RESTORE HEADERONLY row (BackupType 1 database, 5 differential, 2 log) read from `urls`;
    None for other backup types."""
    kind = HEADER_TYPES.get(int(row.get("BackupType") or 0))
    if kind is None:
        return None
    return backup(kind, row.get("FirstLSN"), row.get("LastLSN"), row.get("CheckpointLSN"), row.get("DatabaseBackupLSN"),
                  row.get("BackupStartDate"), row.get("BackupFinishDate"), urls,
                  copy_only=_flag(row.get("IsCopyOnly")), database=row.get("DatabaseName"),
                  server=row.get("ServerName"))


def _when(moment):
    return moment.isoformat(sep=" ") if moment else "an unknown time"


def _describe(entry):
    return "%s backup finished %s (LSN %s to %s)" % (
        entry["type"], _when(entry["finish"]), entry["first_lsn"], entry["last_lsn"])


def continues(log, rolled_forward):
    """Does log backup `log` continue a restore that has rolled forward to LSN `rolled_forward`?"""
    return log["first_lsn"] <= rolled_forward < log["last_lsn"]


def _differential_on(full, differentials, point):
    if full["copy_only"]:
        return None  # a differential's base is the last full that was not copy-only
    on_full = [d for d in differentials
               if d["database_backup_lsn"] == full["checkpoint_lsn"] and d["last_lsn"] > full["last_lsn"]
               and (point == LATEST or d["finish"] <= point)]
    return max(on_full, key=lambda d: d["last_lsn"]) if on_full else None


def _logs_from(base, logs, point, newest_lsn):
    """(logs to restore after `base`, problem or None). For LATEST the chain must reach `newest_lsn`."""
    chain, rolled_forward, last = [], base["last_lsn"], base
    while True:
        if point != LATEST and chain and chain[-1]["start"] > point:
            return chain, None
        if point == LATEST and rolled_forward >= newest_lsn:
            return chain, None
        candidates = [log for log in logs if continues(log, rolled_forward)]
        if not candidates:
            later = [log for log in logs if log["first_lsn"] > rolled_forward]
            if later:
                following = min(later, key=lambda log: log["first_lsn"])
                return chain, (
                    "the log chain breaks after the %s: no log backup holds LSN %s to %s (log records written "
                    "between %s and %s); the next log backup found starts at LSN %s (started %s). Find the missing "
                    "log backup (its blob or its msdb history), or restore to a point before %s."
                    % (_describe(last), rolled_forward, following["first_lsn"], _when(last["finish"]),
                       _when(following["start"]), following["first_lsn"], _when(following["start"]),
                       _when(last["finish"])))
            if point == LATEST:
                return chain, ("no log backup continues the %s (LSN %s onwards); the newest backup ends at LSN %s."
                               % (_describe(last), rolled_forward, newest_lsn))
            return chain, (
                "no log backup covers %s: the chain ends with the %s, so log records from LSN %s (written after %s) "
                "are in no log backup. Take a log backup (sql_backup type: log) and plan again, or choose a "
                "restore_point before %s."
                % (_when(point), _describe(last), rolled_forward, _when(last["finish"]), _when(last["finish"])))
        following = max(candidates, key=lambda log: log["last_lsn"])
        chain.append(following)
        rolled_forward, last = following["last_lsn"], following


def plan(backups, restore_point=LATEST):
    """The restore chain for `restore_point` (LATEST or a naive datetime) from `backups` of one database.

    Returns dict(chain=[backup, ...] or [], stopat=None or the point, problem=None or what is missing). The newest
    full that is not copy-only and starts a complete chain is used (with the newest differential on it), so a newer
    full with a broken chain after it falls back to an older one whose logs reach the point; a copy-only full only
    when no other full does.
    """
    point = parse_restore_point(restore_point)
    fulls = [b for b in backups if b["type"] == "full"]
    differentials = [b for b in backups if b["type"] == "differential"]
    logs = [b for b in backups if b["type"] == "log"]
    if not fulls:
        return dict(chain=[], stopat=None, problem="no full backup in the history: a restore chain starts with a "
                                                   "full backup (sql_backup type: full).")
    newest_lsn = max(b["last_lsn"] for b in backups)
    usable = [f for f in fulls if point == LATEST or f["finish"] <= point]
    if not usable:
        first = min(fulls, key=lambda f: f["finish"])
        return dict(chain=[], stopat=None, problem=(
            "restore_point %s is before the first full backup, which finished %s (LSN %s): no backup holds the "
            "database as it was then." % (_when(point), _when(first["finish"]), first["last_lsn"])))
    problems = []
    # The newest full that is not copy-only first (the one a differential can be based on); copy-only fulls, newest
    # first, when no such full starts a complete chain.
    for full in sorted(usable, key=lambda f: (not f["copy_only"], f["last_lsn"]), reverse=True):
        differential = _differential_on(full, differentials, point)
        base = differential or full
        tail, problem = _logs_from(base, logs, point, newest_lsn)
        if problem is None:
            chain = [full] + ([differential] if differential else []) + tail
            return dict(chain=chain, stopat=None if point == LATEST or not tail else point, problem=None)
        problems.append(problem)
    return dict(chain=[], stopat=None, problem=problems[0])


def describe_chain(chain, stopat=None):
    """One line per backup, for messages and check mode: 'full 2026-11-21 03:00:00 <url> [+2 stripes]'."""
    lines = []
    for index, entry in enumerate(chain):
        extra = " (+%d stripes)" % (len(entry["urls"]) - 1) if len(entry["urls"]) > 1 else ""
        stop = " STOPAT %s" % stopat.isoformat() if stopat is not None and index == len(chain) - 1 and \
            entry["type"] == "log" else ""
        lines.append("%s finished %s: %s%s%s" % (entry["type"], _when(entry["finish"]), entry["urls"][0], extra, stop))
    return lines


def to_result(entry):
    """A backup as modules return it: LSNs as strings (numeric(25,0) exceeds what JSON consumers keep exact),
    times in ISO 8601."""
    out = dict(entry)
    for key in ("first_lsn", "last_lsn", "checkpoint_lsn", "database_backup_lsn"):
        out[key] = None if entry[key] is None else str(entry[key])
    for key in ("start", "finish"):
        out[key] = entry[key].isoformat() if entry[key] else None
    return out


def from_result(item):
    """The inverse of to_result, for a chain handed from sql_backup_info to sql_restore; raises ValueError/KeyError
    on a malformed item."""
    if item.get("type") not in ("full", "differential", "log"):
        raise ValueError("type must be full, differential or log")
    urls = item.get("urls")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ValueError("urls must be a non-empty list of blob URLs")
    entry = backup(item["type"], item.get("first_lsn"), item.get("last_lsn"), item.get("checkpoint_lsn"),
                   item.get("database_backup_lsn"), item.get("start"), item.get("finish"), urls,
                   copy_only=_flag(item.get("copy_only")), database=item.get("database"), server=item.get("server"),
                   backup_set_id=item.get("backup_set_id"))
    if entry["first_lsn"] is None or entry["last_lsn"] is None:
        raise ValueError("first_lsn and last_lsn are required")
    return entry


def check_chain(chain):
    """A chain given by hand (or edited): problem text, or None when it restores in order without a gap."""
    if not chain:
        return "the chain is empty."
    if chain[0]["type"] != "full":
        return "a chain starts with a full backup; it starts with a %s backup." % chain[0]["type"]
    rolled_forward = chain[0]["last_lsn"]
    for index, entry in enumerate(chain[1:], start=1):
        if entry["type"] == "full":
            return "entry %d is a second full backup; a chain has one." % index
        if entry["type"] == "differential":
            if index != 1:
                return "entry %d is a differential backup; it can only follow the full backup." % index
            if chain[0]["copy_only"] or entry["database_backup_lsn"] != chain[0]["checkpoint_lsn"]:
                return ("entry 1 is a differential backup of another full backup (its database_backup_lsn %s is not "
                        "the full's checkpoint_lsn %s)." % (entry["database_backup_lsn"], chain[0]["checkpoint_lsn"]))
            rolled_forward = entry["last_lsn"]
            continue
        if not continues(entry, rolled_forward):
            return ("entry %d (log backup LSN %s to %s) does not continue the chain, which has rolled forward to LSN "
                    "%s: %s." % (index, entry["first_lsn"], entry["last_lsn"], rolled_forward,
                                 "log records from LSN %s to %s are missing" % (rolled_forward, entry["first_lsn"])
                                 if entry["first_lsn"] > rolled_forward else "it ends too early"))
        rolled_forward = entry["last_lsn"]
    return None
