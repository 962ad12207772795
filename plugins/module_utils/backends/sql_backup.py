# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of sql_backup: BACKUP DATABASE / LOG ... TO URL with block blobs.

Contract (common/result.py): ``validate(params)`` before any login, then ``ensure(session, params,
check_mode) -> Result``: ensure the asked backups exist - each selected database is backed up, unless
skip_if_backed_up_within finds a recent one; check mode plans and reports without writing. A backup has no
before/after state to show, so the Result carries no diff: ``backups``, ``skipped_databases``,
``statements``, ``compression_supported`` and the warnings of the instance check.

Block-blob limits (SQL Server backup to URL best practices; Azure Blob Storage scalability targets):
a blob has at most 50,000 blocks and SQL Server writes one block per MAXTRANSFERSIZE, so one blob
holds at most 50,000 x MAXTRANSFERSIZE (about 195 GiB at 4 MiB); a backup has at most 64 URLs
(stripes). MAXTRANSFERSIZE is a multiple of 64 KiB up to 4 MiB; BLOCKSIZE 65536 keeps restores
aligned (error 3284 otherwise).
"""
from __future__ import annotations

import datetime
import math
import re
import time
import urllib.parse

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth_options import LONG_TASK_TIMEOUT
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, PrerequisiteError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import tsql
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import storage_suffix
from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_credential import credential_identity, split_container_url
from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_info import (
    availability_databases_from_rows, check_instance, instance_from_row, supports_compression)

MAX_STRIPES = tsql.MAX_URLS
MAX_BLOCKS_PER_BLOB = 50000
MAX_TRANSFER_SIZE = 4 * 1024 * 1024
TRANSFER_UNIT = 64 * 1024
BLOCK_SIZES = tuple(512 * 2 ** i for i in range(8))  # 512 ... 65536
DEFAULT_TEMPLATE = "{server}/{database}/{database}_{type}_{timestamp}_{stripe}of{stripes}.{ext}"
PLACEHOLDERS = ("server", "database", "type", "timestamp", "stripe", "stripes", "ext")
SYSTEM_DATABASE_IDS = (1, 2, 3, 4)  # master, tempdb, model, msdb
TYPE_CODES = {"full": "D", "differential": "I", "log": "L"}
TYPE_LABELS = {"full": "FULL", "differential": "DIFF", "log": "LOG"}
_UNRESERVED = re.compile(r"[^A-Za-z0-9._~$-]")
# Naming and Referencing Containers, Blobs, and Metadata: a blob name is 1 to 1,024 characters, in at most 254
# path segments (the name as stored, after the URL's percent-encoding is decoded).
MAX_BLOB_NAME = 1024
MAX_BLOB_SEGMENTS = 254
# The shortest each placeholder can be: what the template adds whatever the names are.
_SHORTEST = dict(server="x", database="x", type="LOG", timestamp="20260101T000000Z", stripe="1", stripes="1",
                 ext="bak")


def argument_spec():
    return dict(
        # BACKUP and RESTORE of a large database take hours (docs/design.md, "Deadline").
        timeout=dict(type="int", default=LONG_TASK_TIMEOUT),
        databases=dict(type="list", elements="str"),
        all_user_databases=dict(type="bool", default=False),
        exclude_databases=dict(type="list", elements="str", default=[]),
        type=dict(type="str", default="full", choices=["full", "differential", "log"]),
        container_url=dict(type="str", required=True),
        storage_suffix=dict(type="str"),
        blob_name_template=dict(type="str", default=DEFAULT_TEMPLATE),
        stripes=dict(type="int"),
        max_transfer_size=dict(type="int", default=MAX_TRANSFER_SIZE),
        block_size=dict(type="int", default=65536),
        compression=dict(type="str", default="auto", choices=["auto", "on", "off"]),
        checksum=dict(type="bool", default=True),
        copy_only=dict(type="bool", default=False),
        overwrite=dict(type="bool", default=False),
        verify=dict(type="bool", default=False),
        skip_if_backed_up_within=dict(type="int"),
        allow_unsupported_instance=dict(type="bool", default=False),
        backup_on_any_replica=dict(type="bool", default=False),
    )


def validate(params, suffix=None):
    """Every check that needs no SQL Server; `suffix`: the blob endpoint suffix (default: storage_suffix(params))."""
    split_container_url(params["container_url"], suffix or storage_suffix(params), "container_url")
    databases = params.get("databases")
    if bool(databases) == bool(params.get("all_user_databases")):
        raise InvalidInputError("give either databases (a list of names) or all_user_databases: true.")
    for name in (databases or []) + list(params.get("exclude_databases") or []):
        tsql.check_name(name, "database name")
    if databases and len(set(databases)) != len(databases):
        raise InvalidInputError("databases lists a database twice.")
    if databases and "tempdb" in [d.lower() for d in databases]:
        raise InvalidInputError("tempdb cannot be backed up.")
    mts = params.get("max_transfer_size")
    if mts is None or mts % TRANSFER_UNIT or not TRANSFER_UNIT <= mts <= MAX_TRANSFER_SIZE:
        raise InvalidInputError("max_transfer_size %r must be a multiple of 65536 bytes (64 KB) from 65536 to 4194304 "
                                "(4 MB); 4194304 is recommended for backup to URL." % (mts,))
    if params.get("block_size") not in BLOCK_SIZES:
        raise InvalidInputError("block_size %r must be one of %s; use 65536 for backup to URL."
                                % (params.get("block_size"), ", ".join(str(b) for b in BLOCK_SIZES)))
    stripes = params.get("stripes")
    if stripes is not None and not 1 <= stripes <= MAX_STRIPES:
        raise InvalidInputError("stripes %r must be between 1 and %d (SQL Server accepts at most 64 URLs)."
                                % (stripes, MAX_STRIPES))
    if params.get("skip_if_backed_up_within") is not None and params["skip_if_backed_up_within"] < 0:
        raise InvalidInputError("skip_if_backed_up_within is a number of minutes, 0 or more.")
    check_template(params.get("blob_name_template") or DEFAULT_TEMPLATE,
                   several_databases=bool(params.get("all_user_databases")) or len(databases or []) > 1)


def check_template(template, several_databases):
    names = re.findall(r"{([^{}]*)}", template)
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        raise InvalidInputError("blob_name_template has unknown placeholders %s; known: %s."
                                % (", ".join("{%s}" % n for n in unknown), ", ".join("{%s}" % p for p in PLACEHOLDERS)))
    if re.sub(r"{[^{}]*}", "", template).count("{") or re.sub(r"{[^{}]*}", "", template).count("}"):
        raise InvalidInputError("blob_name_template has an unbalanced brace.")
    if several_databases and "database" not in names:
        raise InvalidInputError("blob_name_template must contain {database} when several databases are backed up.")
    if tsql.has_control_character(template):
        raise InvalidInputError("blob_name_template holds a control character (a line break, tab, ...); remove it.")
    shortest = template.format(**_SHORTEST) if not unknown else template
    if len(shortest) > MAX_BLOB_NAME or shortest.count("/") + 1 > MAX_BLOB_SEGMENTS:
        raise InvalidInputError(
            "blob_name_template gives blob names of at least %d characters in %d path segments; Azure Blob Storage "
            "allows at most %d characters and %d segments (Naming and Referencing Containers, Blobs, and Metadata). "
            "Shorten it." % (len(shortest), shortest.count("/") + 1, MAX_BLOB_NAME, MAX_BLOB_SEGMENTS))
    if template.startswith("/") or "//" in template or ".." in template.split("/") or any(c in template for c in "?#\\"):
        raise InvalidInputError("blob_name_template %r must be a relative blob path without '//', '..', '?', '#' or "
                                "backslashes." % template)


def stripes_needed(size_bytes, max_transfer_size):
    per_blob = MAX_BLOCKS_PER_BLOB * max_transfer_size
    return max(1, int(math.ceil(float(size_bytes or 0) / per_blob)))


def choose_stripes(size_bytes, params, database):
    needed = stripes_needed(size_bytes, params["max_transfer_size"])
    given = params.get("stripes")
    if needed > MAX_STRIPES:
        raise PrerequisiteError(
            "database %r (%d bytes allocated) needs %d stripes at max_transfer_size %d: more than the 64 URLs SQL Server "
            "accepts. Raise max_transfer_size to 4194304 or back up files/filegroups separately."
            % (database, size_bytes, needed, params["max_transfer_size"]))
    if given is not None:
        if given < needed:
            raise InvalidInputError(
                "database %r (%d bytes allocated) needs at least %d stripes so no blob passes 50,000 blocks x "
                "max_transfer_size; %d given." % (database, size_bytes, needed, given))
        return given
    return needed


def _segment(value):
    return _UNRESERVED.sub(lambda m: "%%%02X" % ord(m.group(0)) if ord(m.group(0)) < 128
                           else "".join("%%%02X" % b for b in m.group(0).encode("utf-8")), value)


def blob_urls(container_url, template, server, database, backup_type, timestamp, stripes):
    if stripes > 1 and "{stripe}" not in template:
        raise InvalidInputError("blob_name_template must contain {stripe} when a backup has several stripes (%d here)."
                                % stripes)
    urls = []
    for n in range(1, stripes + 1):
        name = template.format(
            server=_segment((server or "server").replace("\\", "$")), database=_segment(database),
            type=TYPE_LABELS[backup_type], timestamp=timestamp, stripe=n, stripes=stripes,
            ext="trn" if backup_type == "log" else "bak")
        stored = urllib.parse.unquote(name)
        if len(stored) > MAX_BLOB_NAME or stored.count("/") + 1 > MAX_BLOB_SEGMENTS:
            raise InvalidInputError(
                "blob_name_template gives database %r the blob name %s... of %d characters in %d path segments; Azure "
                "Blob Storage allows at most %d characters and %d segments (Naming and Referencing Containers, Blobs, "
                "and Metadata). Shorten blob_name_template." % (database, stored[:60], len(stored), stored.count("/") + 1,
                                                                MAX_BLOB_NAME, MAX_BLOB_SEGMENTS))
        urls.append(container_url + "/" + name)
    if len(set(urls)) != len(urls):
        raise InvalidInputError("blob_name_template gives the same blob name to several stripes.")
    return urls


def select_databases(all_dbs, params, named=None):
    """(selected names, skipped [{database, reason}]). Raises for named databases that cannot be backed up.

    ``named`` maps each name in params['databases'] to the row the server resolved it to (tsql.database_named) or
    None; the server's own name is what is backed up, so 'APP' and 'app' are one database, as in sql_restore.
    """
    by_name = {row["name"]: row for row in all_dbs}
    selected, skipped = [], []
    if params.get("databases"):
        for name in params["databases"]:
            row = named.get(name) if named is not None else by_name.get(name)
            if row is None:
                raise InvalidInputError("database %r does not exist on this instance." % name)
            name = row["name"]
            if name in selected:
                raise InvalidInputError("databases lists database %r twice (SQL Server compares names without regard "
                                        "to case)." % name)
            if row.get("state_desc") != "ONLINE":
                raise PrerequisiteError("database %r is %s; only ONLINE databases can be backed up."
                                        % (name, row.get("state_desc")))
            if params["type"] == "log" and row.get("recovery_model_desc") == "SIMPLE":
                raise PrerequisiteError("database %r uses the SIMPLE recovery model; it has no log backups. Switch it to "
                                        "FULL or back it up with type: full." % name)
            selected.append(name)
        return selected, skipped
    excluded = {((named or {}).get(name) or {"name": name})["name"] for name in params.get("exclude_databases") or []}
    for row in sorted(all_dbs, key=lambda r: r["name"]):
        name = row["name"]
        if row.get("database_id") in SYSTEM_DATABASE_IDS:
            if name == "tempdb":
                skipped.append(dict(database=name, reason="tempdb cannot be backed up"))
            continue
        if name in excluded:
            skipped.append(dict(database=name, reason="listed in exclude_databases"))
        elif row.get("state_desc") != "ONLINE":
            skipped.append(dict(database=name, reason="state is %s, not ONLINE" % row.get("state_desc")))
        elif params["type"] == "log" and row.get("recovery_model_desc") == "SIMPLE":
            skipped.append(dict(database=name, reason="SIMPLE recovery model has no log backups"))
        else:
            selected.append(name)
    return selected, skipped


SECONDARY_FULL_COPY_ONLY = (
    "a full backup on a secondary replica of an availability group is made COPY_ONLY: SQL Server supports only "
    "copy-only full backups there (Offload supported backups to secondary replicas of an availability group); it "
    "cannot be the base of a differential backup.")


def availability_decision(database, availability, backup_type, copy_only, any_replica, server=None):
    """What to do with one database given its availability-group facts (sql_info.availability_databases_from_rows;
    None: not in a group). Pure; raises before anything is written when the backup cannot run on this replica.

    Returns dict(action="backup", copy_only, note) or dict(action="skip", reason). Following "Offload supported
    backups to secondary replicas of an availability group" and "Configure backups on secondary replicas":
    - a replica that sys.fn_hadr_backup_is_preferred_replica does not prefer skips (a backup job runs on every
      replica and backs up on the preferred one), unless any_replica;
    - on a secondary: BACKUP DATABASE only WITH COPY_ONLY (a full is made so), no differential, BACKUP LOG only
      without COPY_ONLY (Msg 3059 otherwise);
    - on the primary: every backup type, as outside a group.
    """
    if not availability:
        return dict(action="backup", copy_only=bool(copy_only), note=None)
    group = availability.get("availability_group") or "its availability group"
    here = ("this replica (%s)" % server) if server else "this replica"
    if not availability.get("is_preferred_backup_replica") and not any_replica:
        preference = availability.get("automated_backup_preference")
        return dict(action="skip", reason=(
            "%s is not the preferred backup replica of %r in availability group %s%s "
            "(sys.fn_hadr_backup_is_preferred_replica is 0): the preferred replica backs it up. Set "
            "backup_on_any_replica: true to back up here anyway."
            % (here, database, group, " (automated backup preference %s)" % preference if preference else "")))
    if availability.get("is_primary_replica"):
        return dict(action="backup", copy_only=bool(copy_only), note=None)
    if backup_type == "differential":
        raise PrerequisiteError(
            "database %r: %s is a secondary replica of availability group %s, and SQL Server does not support "
            "differential backups on secondary replicas (Offload supported backups to secondary replicas of an "
            "availability group). Run differential backups on the primary replica (backup_on_any_replica: true there, "
            "or set the group's automated backup preference to PRIMARY), or take a full or log backup here."
            % (database, here, group))
    if backup_type == "log" and copy_only:
        raise PrerequisiteError(
            "database %r: %s is a secondary replica of availability group %s, where SQL Server supports only regular "
            "log backups, not COPY_ONLY ones (Offload supported backups to secondary replicas of an availability "
            "group). Set copy_only: false (the log chain spans all replicas)." % (database, here, group))
    if backup_type == "full":
        return dict(action="backup", copy_only=True, note=None if copy_only else SECONDARY_FULL_COPY_ONLY)
    return dict(action="backup", copy_only=False, note=None)


def allocated_bytes(files, backup_type):
    """Bytes a backup can hold at most: data + log files for full/differential, log files for log."""
    total = 0
    for row in files:
        kind = int(row.get("type") or 0)
        if kind == 1 or (backup_type != "log" and kind == 0):
            total += int(row.get("size") or 0) * 8192
    return total


def _recent_backup(session, database, backup_type, minutes, now):
    if minutes is None:
        return None
    rows = session.query(tsql.last_backup_of_type(database, TYPE_CODES[backup_type]))
    if not rows:
        return None
    finished = list(rows[0].values())[0]
    if finished is None:
        return None
    if isinstance(finished, str):
        try:
            finished = datetime.datetime.fromisoformat(finished)
        except ValueError:
            return None
    age = (now.replace(tzinfo=None) - finished.replace(tzinfo=None)).total_seconds() / 60.0
    return finished if age <= minutes else None


def _value(row, name):
    value = row.get(name)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "as_tuple"):  # Decimal LSNs
        return str(value)
    return value


def plan(session, params, suffix=None, now=None):
    """Everything read, nothing written: (instance, jobs, skipped)."""
    validate(params, suffix)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    container_url = params["container_url"]
    skip_within = params.get("skip_if_backed_up_within")
    # One round trip for what every run reads: the credential, the instance, the databases (and the server's clock).
    reads = [tsql.credential_by_name(container_url), tsql.server_properties(), tsql.list_databases(),
             tsql.hadr_enabled()]
    if skip_within is not None:
        reads.append(tsql.server_time())
    sets = session.query_all(tsql.batch(*reads))
    sets += [[]] * (len(reads) - len(sets))
    hadr_enabled = str((sets[3] or [{}])[0].get("is_hadr_enabled")).strip() in ("1", "True", "true")
    identity = credential_identity(sets[0], container_url, "BACKUP TO URL")
    instance = instance_from_row(sets[1][0])
    warnings = check_instance(instance, params.get("allow_unsupported_instance")) \
        if identity == tsql.MANAGED_IDENTITY else []
    if params["compression"] == "on" and not supports_compression(instance):
        raise PrerequisiteError("compression: on, but %s has no backup compression; use compression: auto or off."
                                % instance.get("edition"))
    compression = params["compression"] == "on" or (params["compression"] == "auto" and supports_compression(instance))
    # Names the user gave are resolved by the server (DB_ID), as every other module's lookups are.
    names = list(params.get("databases") or ()) or list(params.get("exclude_databases") or ())
    named = {name: (session.query(tsql.database_named(name)) or [None])[0] for name in names}
    selected, skipped = select_databases(sets[2], params, named)
    # Always On: without IsHadrEnabled no database can be in a group, and nothing more is read.
    availability = availability_databases_from_rows(session.query(tsql.availability_databases())) \
        if hadr_enabled and selected else {}
    server = instance.get("server_name") or instance.get("machine_name")
    decisions = {}
    for database in list(selected):
        decision = availability_decision(database, availability.get(database), params["type"],
                                         params.get("copy_only"), params.get("backup_on_any_replica"), server)
        if decision["action"] == "skip":
            selected.remove(database)
            skipped.append(dict(database=database, reason=decision["reason"],
                                availability_group=availability[database].get("availability_group")))
        else:
            decisions[database] = decision
    timestamp = now.strftime("%Y%m%dT%H%M%SZ")
    server_now = now
    if skip_within is not None and selected:
        rows = sets[4]
        server_now = rows[0]["now"] if rows and hasattr(rows[0].get("now"), "year") else now
    jobs = []
    for database in selected:
        recent = _recent_backup(session, database, params["type"], params.get("skip_if_backed_up_within"), server_now)
        if recent is not None:
            skipped.append(dict(database=database, reason="a %s backup finished at %s, within %d minutes"
                                % (params["type"], _value(dict(v=recent), "v"), params["skip_if_backed_up_within"])))
            continue
        size = allocated_bytes(session.query(tsql.database_files(database)), params["type"])
        stripes = choose_stripes(size, params, database)
        urls = blob_urls(container_url, params.get("blob_name_template") or DEFAULT_TEMPLATE,
                         instance.get("server_name") or instance.get("machine_name"), database, params["type"],
                         timestamp, stripes)
        for url in urls:
            tsql.quote_string(url, "URL")
        existing = [r["physical_device_name"] for r in session.query(tsql.urls_in_backup_history(urls))]
        if existing and not params.get("overwrite"):
            raise PrerequisiteError(
                "blob %s already holds a backup (msdb backup history); refusing to overwrite it. Use another "
                "blob_name_template or set overwrite: true." % existing[0])
        decision = decisions[database]
        if decision["note"]:
            warnings = list(warnings) + ["database %r: %s" % (database, decision["note"])]
        statement = tsql.backup(database, urls, params["type"], copy_only=decision["copy_only"],
                                compression=compression, checksum=params.get("checksum", True),
                                maxtransfersize=params["max_transfer_size"], blocksize=params["block_size"],
                                overwrite=params.get("overwrite"))
        verify = tsql.restore_verifyonly(urls, checksum=params.get("checksum", True)) if params.get("verify") else None
        jobs.append(dict(database=database, urls=urls, stripes=stripes, estimated_bytes=size, statement=statement,
                         verify=verify, copy_only=decision["copy_only"], copy_only_reason=decision["note"],
                         availability=availability.get(database)))
    return instance, warnings, jobs, skipped


def ensure(session, params, check_mode):
    """Result (no diff): changed when a backup ran (or would run), the values ``backups`` (one per database: URLs,
    stripes, and once run its LSNs, sizes and messages), ``skipped_databases``, ``statements``,
    ``compression_supported``; warnings from the instance check (allow_unsupported_instance)."""
    instance, warnings, jobs, skipped = plan(session, params)
    statements = []
    for job in jobs:
        statements.append(tsql.render(job["statement"]))
        if job["verify"] is not None:
            statements.append(tsql.render(job["verify"]))
    results = []
    if not check_mode:
        for job in jobs:
            results.append(_run_job(session, job, params))
    else:
        results = [_job_facts(j, params) for j in jobs]
    # "skipped" is a reserved key of Ansible task results: the reason is skipped_reason, and per database in
    # skipped_databases.
    replica_skips = [s for s in skipped if "availability_group" in s]
    skipped_reason = None
    if not jobs and replica_skips:
        skipped_reason = " ".join(s["reason"] for s in replica_skips)
    return Result(bool(jobs), warnings=warnings, backups=results, skipped_databases=skipped, statements=statements,
                  compression_supported=supports_compression(instance), skipped_reason=skipped_reason)


def _job_facts(job, params):
    facts = dict(database=job["database"], type=params["type"], urls=job["urls"], stripes=job["stripes"],
                 estimated_bytes=job["estimated_bytes"], copy_only=job["copy_only"])
    if job["copy_only_reason"]:
        facts["copy_only_reason"] = job["copy_only_reason"]
    if job["availability"]:
        facts["availability_group"] = job["availability"].get("availability_group")
        facts["replica_role"] = "PRIMARY" if job["availability"].get("is_primary_replica") else "SECONDARY"
    return facts


def _run_job(session, job, params):
    start = time.time()
    before = len(session.messages)
    session.execute(job["statement"])
    duration = time.time() - start
    messages = session.messages[before:]
    result = _job_facts(job, params)
    result.update(duration_seconds=round(duration, 3), messages=messages)
    rows = session.query(tsql.last_backup_set(job["database"]))
    if rows:
        row = rows[0]
        for key in ("first_lsn", "last_lsn", "database_backup_lsn", "backup_size", "compressed_backup_size",
                    "backup_start_date", "backup_finish_date", "is_copy_only"):
            result[key] = _value(row, key)
    if job["verify"] is not None:
        before = len(session.messages)
        session.execute(job["verify"])
        result["verified"] = True
        result["verify_messages"] = session.messages[before:]
    return result
