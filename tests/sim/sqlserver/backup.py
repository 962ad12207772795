"""BACKUP … TO URL and RESTORE … FROM URL with the documented managed-identity chain (seed 002).

Order of checks, as SQL Server meets them for each statement:
  transaction → database/permission → options (stripes, MAXTRANSFERSIZE, BLOCKSIZE) → a credential whose
  name is the container URL (none: Msg 3201 OS error 50, "SQL Server backup to URL best practices and
  troubleshooting", learn.microsoft.com/sql/relational-databases/backup-restore/
  sql-server-backup-to-url-best-practices-and-troubleshooting) → primary managed identity (Msg 37563,
  seed 002) → Storage Blob Data Contributor (Msg 3201 OS error 5 + 3013, seed 002) → existing blob without
  FORMAT (Msg 3201 OS error 80) → 50,000 blocks per blob (FACTS, block blob limit) → write.
Backup files are a self-describing format of this world (not MTF): one blob per stripe, each a JSON
header line followed by its share of a zlib-compressed JSON payload holding the database's rows.
"""
from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import time
import uuid
import zlib
from urllib.parse import urlparse

from . import catalog as C
from . import errors as E
from . import hadr

MAGIC = b"SIMSQL-BACKUP/1\n"
MAX_BLOCKS = 50000
DEFAULT_MAXTRANSFERSIZE = 1024 * 1024   # SQL Server's default transfer size for backup to URL block blobs
URL_DEVICE_TYPE = 9                      # msdb.dbo.backupmediafamily.device_type for URL


# --------------------------------------------------------------------------- parsing

def _device_list(p):
    urls = []
    while True:
        dev = p.kw("URL", "DISK")
        p.op("=")
        urls.append((dev, p.string_or_param()))
        if not p.opt_op(","):
            return urls


def _options(p, allowed):
    opts = {}
    if not p.opt_kw("WITH"):
        return opts
    while True:
        key = p.kw(*allowed)
        if key == "MOVE":
            logical = p.string_or_param()
            p.kw("TO")
            physical = p.string_or_param()
            opts.setdefault("MOVE", []).append((logical, physical))
        elif key in ("STATS",):
            opts[key] = ("lit", 10)
            if p.opt_op("="):
                opts[key] = p.e_primary()
        elif key in ("MAXTRANSFERSIZE", "BLOCKSIZE", "BUFFERCOUNT", "FILE", "NAME", "DESCRIPTION", "CREDENTIAL",
                     "MEDIANAME", "STOPAT", "MEDIADESCRIPTION", "EXPIREDATE", "RETAINDAYS", "STANDBY"):
            p.op("=")
            opts[key] = p.e_primary()
        else:
            opts[key] = ("lit", True)
        if not p.opt_op(","):
            return opts


BACKUP_OPTS = ("FORMAT", "NOFORMAT", "INIT", "NOINIT", "SKIP", "NOSKIP", "COPY_ONLY", "DIFFERENTIAL",
               "COMPRESSION", "NO_COMPRESSION", "CHECKSUM", "NO_CHECKSUM", "CONTINUE_AFTER_ERROR", "STOP_ON_ERROR",
               "STATS", "MAXTRANSFERSIZE", "BLOCKSIZE", "BUFFERCOUNT", "NAME", "DESCRIPTION", "CREDENTIAL",
               "MEDIANAME", "MEDIADESCRIPTION", "NORECOVERY", "NO_TRUNCATE", "EXPIREDATE", "RETAINDAYS")
RESTORE_OPTS = ("MOVE", "REPLACE", "RECOVERY", "NORECOVERY", "STANDBY", "STOPAT", "STATS", "FILE", "CHECKSUM", "NO_CHECKSUM",
                "CONTINUE_AFTER_ERROR", "STOP_ON_ERROR", "CREDENTIAL", "MAXTRANSFERSIZE", "BLOCKSIZE",
                "BUFFERCOUNT", "KEEP_REPLICATION", "RESTRICTED_USER", "NOUNLOAD", "UNLOAD", "REWIND", "NOREWIND")


def parse_backup_restore(p):
    verb = p.kw("BACKUP", "RESTORE")
    if verb == "BACKUP":
        what = p.kw("DATABASE", "LOG")
        name = p.name()
        p.kw("TO")
        devices = _device_list(p)
        opts = _options(p, BACKUP_OPTS)
        spec = {"what": what, "database": name, "devices": devices, "opts": opts}
        return (lambda ctx: ctx.backup(_eval_spec(ctx, spec))), "write", f"BACKUP {what}"
    what = p.kw("DATABASE", "LOG", "HEADERONLY", "FILELISTONLY", "VERIFYONLY")
    name = None
    if what in ("DATABASE", "LOG"):
        name = p.name()
        if p.is_kw("WITH"):
            opts = _options(p, RESTORE_OPTS)
            spec = {"what": what, "database": name, "devices": [], "opts": opts}
            return (lambda ctx: ctx.restore(_eval_spec(ctx, spec))), "write", f"RESTORE {what}"
    p.kw("FROM")
    devices = _device_list(p)
    opts = _options(p, RESTORE_OPTS)
    spec = {"what": what, "database": name, "devices": devices, "opts": opts}
    kind = "read" if what in ("HEADERONLY", "FILELISTONLY", "VERIFYONLY") else "write"
    return (lambda ctx: ctx.restore(_eval_spec(ctx, spec))), kind, f"RESTORE {what}"


def _eval_spec(ctx, spec):
    out = dict(spec)
    out["devices"] = [(d, ctx.eval(e, {})) for d, e in spec["devices"]]
    opts = {}
    for k, v in spec["opts"].items():
        if k == "MOVE":
            opts[k] = [(ctx.eval(a, {}), ctx.eval(b, {})) for a, b in v]
        else:
            opts[k] = ctx.eval(v, {})
    out["opts"] = opts
    return out


# --------------------------------------------------------------------------- shared checks

def _fail(verb, number, klass, state, text):
    raise E.backup_error(number, klass, state, text, verb)


def _split_url(url):
    u = urlparse(url)
    host = u.hostname or ""
    parts = u.path.lstrip("/").split("/", 1)
    if u.scheme.lower() != "https" or ".blob." not in host or len(parts) < 2 or not parts[1]:
        return None
    return host.split(".")[0], parts[0], parts[1]


def _credential_for(cat, url):
    best = None
    for name, cred in cat.credentials.items():
        if url.startswith(name.rstrip("/") + "/") and (best is None or len(name) > len(best["name"])):
            best = cred
    return best


def _open_devices(ctx, spec, verb):
    """Credential → managed identity → RBAC for every URL; returns [(url, account, container, blob, store)]."""
    cat, backend = ctx.cat, ctx.inst.backend
    devices = spec["devices"]
    if len(devices) > 64:
        _fail(verb, 3205, 16, 1, "Too many backup devices specified for backup or restore; only 64 are allowed.")
    opened = []
    explicit = spec["opts"].get("CREDENTIAL")
    for dev, url in devices:
        if dev == "DISK":
            _fail(verb, 3201, 16, 1, f"Cannot open backup device '{url}'. Operating system error 3(The system cannot "
                                     "find the path specified.).")
        parsed = _split_url(url)
        cred = _credential_for(cat, url) if parsed else None
        if explicit is not None:
            named = cat.credentials.get(explicit)
            if named is not None and str(named["identity"]).upper() == "SHARED ACCESS SIGNATURE":
                # FACTS (dbatools #4322): WITH CREDENTIAL is for storage-key credentials only.
                _fail(verb, 3225, 16, 1, "Use of WITH CREDENTIAL syntax is not valid for credentials containing a "
                                         "Shared Access Signature.")
        if cred is None:
            _fail(verb, 3201, 16, 1, f"Cannot open backup device '{url}'. Operating system error 50(The request is "
                                     "not supported.).")
        account, container, blob = parsed
        identity = str(cred["identity"]).lower()
        store = None
        if identity == "managed identity":
            principal = backend.primary_identity(ctx.inst.vm_key)
            if principal is None:
                _fail(verb, 37563, 16, 2, E.PRIMARY_MI_NOT_SELECTED)
            # BACKUP writes (Storage Blob Data Contributor); RESTORE only reads.
            if not backend.blob_access_allowed(principal, account, container, write=verb.startswith("BACKUP")):
                _fail(verb, 3201, 16, 1, f"Cannot open backup device '{url}'. Operating system error 5(Access is "
                                         "denied.).")
            store = backend.blob_store(account, container, principal=principal)
        elif identity == "shared access signature":
            store = backend.blob_store(account, container, sas=cred["secret"])
        else:
            _fail(verb, 3201, 16, 1, f"Cannot open backup device '{url}'. Operating system error 86(The specified "
                                     "network password is not correct.).")
        opened.append((url, account, container, blob, store))
    return opened


def _io(verb, url, fn, *args):
    try:
        return fn(*args)
    except PermissionError:
        _fail(verb, 3201, 16, 1, f"Cannot open backup device '{url}'. Operating system error 5(Access is denied.).")
    except FileNotFoundError:
        _fail(verb, 3201, 16, 1, f"Cannot open backup device '{url}'. Operating system error 2(The system cannot "
                                 "find the file specified.).")
    except E.SqlError:
        raise
    except Exception as exc:  # remote endpoint failures, as SQL Server reports them
        _fail(verb, 3271, 16, 1, f'A nonrecoverable I/O error occurred on file "{url}:" Backup to URL received an '
                                 f"exception from the remote endpoint. Exception Message: {type(exc).__name__}.")


def _stats(ctx, opts):
    step = opts.get("STATS")
    if step:
        step = max(1, min(100, int(step)))
        pct = step
        while pct < 100:
            ctx.info(3211, f"{pct} percent processed.")
            pct += step
        ctx.info(3211, "100 percent processed.")


def _validate_transfer(opts, verb):
    mts = opts.get("MAXTRANSFERSIZE")
    if mts is not None:
        mts = int(mts)
        if mts < 65536 or mts > 4194304 or mts % 65536:
            _fail(verb, 3231, 16, 1, f"The value '{mts}' is not within range for the MAXTRANSFERSIZE parameter.")
    bs = opts.get("BLOCKSIZE")
    if bs is not None:
        bs = int(bs)
        if bs < 512 or bs > 65536 or bs & (bs - 1):
            _fail(verb, 3231, 16, 1, f"The value '{bs}' is not within range for the BLOCKSIZE parameter.")
    return mts or DEFAULT_MAXTRANSFERSIZE


# --------------------------------------------------------------------------- BACKUP

def run_backup(ctx, spec):
    cat, session, opts = ctx.cat, ctx.session, spec["opts"]
    verb = f"BACKUP {spec['what']}"
    if session.tran_count:
        _fail(verb, 3021, 16, 1, "Cannot perform a backup or restore operation within a transaction.")
    db = cat.databases.get(spec["database"].lower())
    if db is None:
        _fail(verb, 911, 16, 11, f"Database '{spec['database']}' does not exist. Make sure that the name is entered "
                                 "correctly.")
    if not (session.is_sysadmin() or session.in_db_role(db, "db_owner")
            or session.in_db_role(db, "db_backupoperator")):
        _fail(verb, 262, 14, 1, f"{verb} permission denied in database '{db.name}'.")
    if db.state != "ONLINE":
        _fail(verb, 927, 14, 2, f"Database '{db.name}' cannot be opened. It is in the middle of a restore.")
    if db.name.lower() == "tempdb":
        _fail(verb, 3147, 16, 1, "Backup and restore operations are not allowed on database tempdb.")
    differential = bool(opts.get("DIFFERENTIAL"))
    replica = hadr.replica_of(cat)
    if hadr.in_group(cat, db.name) and replica.role == "SECONDARY":
        # "Offload supported backups to secondary replicas": copy-only full backups and regular log backups only
        if (spec["what"] == "DATABASE" and (differential or not opts.get("COPY_ONLY"))) or (
                spec["what"] == "LOG" and opts.get("COPY_ONLY")):
            _fail(verb, 3059, 16, 1, "This BACKUP or RESTORE command is not supported on a database mirror or "
                                     "secondary replica.")
    if spec["what"] == "LOG":
        if db.recovery_model == "SIMPLE":
            _fail(verb, 4208, 16, 1, "The statement BACKUP LOG is not allowed while the recovery model is SIMPLE. "
                                     "Use BACKUP DATABASE or change the recovery model using ALTER DATABASE.")
        if db.log_chain_lsn is None:
            _fail(verb, 4214, 16, 1, "BACKUP LOG cannot be performed because there is no current database backup.")
    elif differential and db.last_full_lsn is None:
        _fail(verb, 3035, 16, 1, f'Cannot perform a differential backup for database "{db.name}", because a '
                                 "current database backup does not exist. Perform a full database backup by reissuing "
                                 "BACKUP DATABASE, omitting the WITH DIFFERENTIAL option.")
    if differential and opts.get("COPY_ONLY"):
        _fail(verb, 3032, 16, 1, "One or more of the options (differential, copy_only) are not supported for this "
                                 "statement. Review the documentation for supported options.")
    transfer = _validate_transfer(opts, verb)
    opened = _open_devices(ctx, spec, verb)
    if not opts.get("FORMAT"):
        for url, _a, _c, blob, store in opened:
            if _io(verb, url, store.exists, blob):
                _fail(verb, 3201, 16, 1, f"Cannot open backup device '{url}'. Operating system error 80(The file "
                                         "exists.).")
    stripes = len(opened)
    data_bytes = db.size_bytes() if spec["what"] == "DATABASE" and not differential else max(
        1, db.size_bytes() // 8)
    per_stripe = math.ceil(data_bytes / stripes)
    if math.ceil(per_stripe / transfer) > MAX_BLOCKS:
        url = opened[0][0]
        _fail(verb, 3202, 16, 1, f'Write on "{url}" failed: 1117(Device has reached its limit of allowed blocks.)')

    started = _dt.datetime.now()
    t0 = time.monotonic()
    btype = "L" if spec["what"] == "LOG" else ("I" if differential else "D")
    copy_only = bool(opts.get("COPY_ONLY"))
    # LSNs as "Log Sequence Numbers and Restore Planning" describes them: a data backup holds the database at
    # its checkpoint; LastLSN is the next LSN after the backup set; a log backup holds [FirstLSN, LastLSN)
    # and the next one begins where it ended (a copy-only log backup does not move the chain).
    if btype == "L":
        first_lsn = db.log_chain_lsn
        begins_chain = db.log_chain_lsn == db.log_chain_start
        db.next_lsn()
        checkpoint_lsn = db.last_checkpoint_lsn
        last_lsn = db.lsn
        changes = [c for c in db.changes if first_lsn <= c["lsn"] < last_lsn]
        body = {"changes": changes, "users": db.users, "role_members": sorted(db.role_members),
                "recovery_model": db.recovery_model}
        if not copy_only:
            db.log_chain_lsn = last_lsn
    else:
        checkpoint_lsn = first_lsn = db.next_lsn()
        db.last_checkpoint_lsn = checkpoint_lsn
        db.next_lsn()
        last_lsn = db.lsn
        begins_chain = False
        body = _committed_snapshot(ctx, db)
    previous_full = db.last_full_lsn
    new_base_guid = None
    if btype == "D" and not copy_only:
        new_base_guid = str(uuid.uuid4()).upper()
    header = {
        "backup_type": btype, "database_name": db.name, "server_name": cat.server_name,
        "machine_name": cat.machine_name, "user_name": session.login.name, "version": cat.version,
        "name": opts.get("NAME"), "description": opts.get("DESCRIPTION"), "first_lsn": first_lsn,
        "last_lsn": last_lsn, "checkpoint_lsn": checkpoint_lsn,
        "database_backup_lsn": previous_full or 0,
        "differential_base_lsn": previous_full if btype == "I" else None,
        "differential_base_guid": db.diff_base_guid if btype == "I" else None,
        "establishes_diff_base_guid": new_base_guid, "begins_log_chain": begins_chain,
        "tail_norecovery": btype == "L" and bool(opts.get("NORECOVERY")),
        "backup_set_guid": str(uuid.uuid4()).upper(), "database_guid": db.database_guid,
        "family_guid": db.family_guid, "start": started.isoformat(), "copy_only": copy_only,
        "compressed": bool(opts.get("COMPRESSION")), "checksum": bool(opts.get("CHECKSUM")),
        "recovery_model": db.recovery_model, "database_created": db.created.isoformat(),
        "backup_size": data_bytes, "media_set_guid": str(uuid.uuid4()).upper(), "family_count": stripes,
        "files": [{"logical": f["name"], "physical": f["physical_name"], "type": "D" if f["type"] == 0 else "L",
                   "size_mb": f["size_mb"], "file_id": f["file_id"]} for f in db.files],
    }
    payload = zlib.compress(json.dumps(body, default=_json_default).encode("utf-8"), 6)
    header["compressed_size"] = len(payload) if opts.get("COMPRESSION") else data_bytes
    header["finish"] = _dt.datetime.now().isoformat()
    share = math.ceil(len(payload) / stripes) or 1
    for i, (url, _a, _c, blob, store) in enumerate(opened):
        chunk = payload[i * share:(i + 1) * share]
        head = dict(header, family_sequence=i + 1, payload_length=len(payload),
                    payload_crc=zlib.crc32(payload))
        blob_body = MAGIC + json.dumps(head).encode("utf-8") + b"\n" + chunk
        blocks = [blob_body[o:o + transfer] for o in range(0, len(blob_body), transfer)] or [b""]
        _io(verb, url, store.write, blob, blocks)
    if btype == "L" and opts.get("NORECOVERY"):
        # a tail-log backup: the database is left RESTORING, so a restore sequence can start over it
        db.state = "RESTORING"
        db.redo_lsn = last_lsn
        db.redo_time = started
        db.restored_base_guid = db.diff_base_guid
    if btype == "D" and not copy_only:
        db.last_full_lsn = checkpoint_lsn
        db.diff_base_guid = new_base_guid
        if db.log_chain_lsn is None:
            db.log_chain_lsn = db.log_chain_start = first_lsn
    pages = max(1, data_bytes // 8192)
    _stats(ctx, opts)
    if spec["what"] == "DATABASE":
        ctx.info(4035, f"Processed {pages} pages for database '{db.name}', file '{db.files[0]['name']}' on file 1.")
    ctx.info(4035, f"Processed 2 pages for database '{db.name}', file '{db.files[1]['name']}' on file 1.")
    elapsed = max(time.monotonic() - t0, 0.001)
    what = "BACKUP DATABASE" if spec["what"] == "DATABASE" else "BACKUP LOG"
    if differential:
        what = "BACKUP DATABASE WITH DIFFERENTIAL"
    ctx.info(3014, f"{what} successfully processed {pages + 2} pages in {elapsed:.3f} seconds "
                   f"({(pages + 2) * 8192 / 1048576 / elapsed:.3f} MB/sec).")
    _record_backupset(cat, header, [o[0] for o in opened])


def _committed_snapshot(ctx, db):
    """The database as a restore of this backup recovers it: changes of transactions still open are rolled
    back (a data backup carries the log needed to undo them)."""
    from types import SimpleNamespace
    from .instance import undo_change
    snap = db.snapshot()
    replica = hadr.replica_of(ctx.cat)
    instances = [r.instance for r in replica.group.replicas] if replica is not None else [ctx.inst]
    shim = SimpleNamespace(tables=snap["tables"])
    for inst in instances:
        for session in list(inst.sessions):
            for changed_db, change in reversed(session.pending):
                if changed_db is db:
                    undo_change(shim, change)
    return snap


def _flags(head):
    """HEADERONLY Flags / backupset.flags bits: 16 backup checksums, 64 tail-log backup, 256 with NORECOVERY."""
    return (16 if head["checksum"] else 0) | (64 | 256 if head.get("tail_norecovery") else 0)


def _record_backupset(cat, head, urls):
    """msdb.dbo.backupset, backupmediaset and backupmediafamily rows for one backup set ("backupset
    (Transact-SQL)", "backupmediafamily (Transact-SQL)"): what BACKUP writes, and what RESTORE writes for the
    media it read."""
    media_id = max([m["media_set_id"] for m in cat.mediasets] + [0]) + 1
    set_id = len(cat.backupsets) + 1
    v = [int(x) for x in head["version"].split(".")]
    start = _dt.datetime.fromisoformat(head["start"])
    finish = _dt.datetime.fromisoformat(head.get("finish") or head["start"])
    cat.mediasets.append({"media_set_id": media_id, "media_uuid": head["media_set_guid"],
                          "media_family_count": len(urls), "name": None, "description": None,
                          "software_name": "Microsoft SQL Server", "software_vendor_id": 4608,
                          "MTF_major_version": 1, "mirror_count": 1, "is_password_protected": False,
                          "is_compressed": head["compressed"], "is_encrypted": False})
    cat.backupsets.append({
        "backup_set_id": set_id, "backup_set_uuid": head["backup_set_guid"], "media_set_id": media_id,
        "first_family_number": 1, "first_media_number": 1, "last_family_number": len(urls), "last_media_number": 1,
        "catalog_family_number": 1, "catalog_media_number": 1, "position": 1, "expiration_date": None,
        "software_vendor_id": 4608, "name": head.get("name"), "description": head.get("description"),
        "user_name": head["user_name"], "software_major_version": v[0], "software_minor_version": v[1],
        "software_build_version": v[2], "time_zone": 0, "mtf_minor_version": 0,
        "first_lsn": head["first_lsn"], "last_lsn": head["last_lsn"], "checkpoint_lsn": head["checkpoint_lsn"],
        "database_backup_lsn": head["database_backup_lsn"],
        "database_creation_date": _dt.datetime.fromisoformat(head["database_created"]),
        "backup_start_date": start, "backup_finish_date": finish, "type": head["backup_type"], "sort_order": 52,
        "code_page": 0, "compatibility_level": 160, "database_version": 957, "backup_size": head["backup_size"],
        "database_name": head["database_name"], "server_name": head["server_name"],
        "machine_name": head["machine_name"], "flags": _flags(head), "unicode_locale": 1033,
        "unicode_compare_style": 196609, "collation_name": "SQL_Latin1_General_CP1_CI_AS",
        "is_password_protected": False, "recovery_model": head["recovery_model"], "has_bulk_logged_data": False,
        "is_snapshot": False, "is_readonly": False, "is_single_user": False,
        "has_backup_checksums": head["checksum"], "is_damaged": False,
        "begins_log_chain": head.get("begins_log_chain", False), "has_incomplete_metadata": False,
        "is_force_offline": bool(head.get("tail_norecovery")), "is_copy_only": head["copy_only"],
        "first_recovery_fork_guid": head.get("family_guid"), "last_recovery_fork_guid": head.get("family_guid"),
        "fork_point_lsn": None, "database_guid": head.get("database_guid"), "family_guid": head.get("family_guid"),
        "differential_base_lsn": head.get("differential_base_lsn"),
        "differential_base_guid": head.get("differential_base_guid"),
        "compressed_backup_size": head.get("compressed_size", head["backup_size"]), "key_algorithm": None,
        "encryptor_thumbprint": None, "encryptor_type": None,
        "last_valid_restore_time": start if head["backup_type"] == "L" else None,
        "compression_algorithm": "MS_XPRESS" if head["compressed"] else None})
    for i, url in enumerate(urls):
        cat.mediafamilies.append({"media_set_id": media_id, "family_sequence_number": i + 1,
                                  "media_family_id": head["media_set_guid"], "media_count": 1,
                                  "logical_device_name": None, "physical_device_name": url,
                                  "device_type": URL_DEVICE_TYPE, "physical_block_size": 65536, "mirror": 0})
    return set_id


def _json_default(o):
    if isinstance(o, (bytes, bytearray)):
        return {"$b": base64.b64encode(bytes(o)).decode()}
    if isinstance(o, (_dt.datetime, _dt.date)):
        return {"$d": o.isoformat()}
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def _json_hook(d):
    if "$b" in d and len(d) == 1:
        return base64.b64decode(d["$b"])
    if "$d" in d and len(d) == 1:
        return _dt.datetime.fromisoformat(d["$d"])
    return d


# --------------------------------------------------------------------------- RESTORE

def _read_media(ctx, spec, verb):
    opened = _open_devices(ctx, spec, verb)
    heads, chunks = [], {}
    for url, _a, _c, blob, store in opened:
        if not _io(verb, url, store.exists, blob):
            _fail(verb, 3201, 16, 1, f"Cannot open backup device '{url}'. Operating system error 2(The system cannot "
                                     "find the file specified.).")
        data = _io(verb, url, store.read, blob)
        if not data.startswith(MAGIC):
            _fail(verb, 3241, 16, 0, f"The media family on device '{url}' is incorrectly formed. SQL Server cannot "
                                     "process this media family.")
        nl = data.index(b"\n", len(MAGIC))
        head = json.loads(data[len(MAGIC):nl])
        heads.append(head)
        chunks[head["family_sequence"]] = data[nl + 1:]
    first = heads[0]
    if any(h["media_set_guid"] != first["media_set_guid"] for h in heads):
        _fail(verb, 3231 + 0, 16, 1, "The media loaded on \"%s\" is formatted to support 1 media families, but 2 "
                                     "media families are expected according to the backup device specification."
              % opened[0][0])
    if len(chunks) != first["family_count"]:
        _fail(verb, 3132, 16, 1, f"The media set has {first['family_count']} media families but only {len(chunks)} "
                                 "are provided. All members must be provided.")
    payload = b"".join(chunks[i] for i in sorted(chunks))
    return first, payload, opened


def _decode_payload(verb, head, payload):
    if zlib.crc32(payload) != head["payload_crc"] or len(payload) != head["payload_length"]:
        _fail(verb, 3189, 16, 1, "Damage to the backup set was detected.")
    return json.loads(zlib.decompress(payload).decode("utf-8"), object_hook=_json_hook)


def _stopat(verb, value):
    """STOPAT = 'time' (a string in one of SQL Server's date formats, or a datetime parameter)."""
    if value is None or isinstance(value, _dt.datetime):
        return value
    text = str(value).strip()
    try:
        parsed = _dt.datetime.fromisoformat(text.replace("T", " "))
        # datetime takes ISO 8601 with Z ("datetime (Transact-SQL)"), not another offset
        if parsed.tzinfo is None or parsed.utcoffset() == _dt.timedelta(0):
            return parsed.replace(tzinfo=None)
    except ValueError:
        pass
    for fmt in ("%b %d, %Y %I:%M:%S %p", "%b %d %Y %I:%M%p", "%Y%m%d %H:%M:%S", "%m/%d/%Y %H:%M:%S"):
        try:
            return _dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    _fail(verb, 241, 16, 1, "Conversion failed when converting date and/or time from character string.")


def _lsn(value):
    return str(value)


def _recover(db):
    """Recovery: the database comes online (or read-only in STANDBY) and its log chain continues from the
    point it was rolled forward to."""
    db.state = "ONLINE"
    db.standby_file = None
    db.lsn = max(db.lsn, db.redo_lsn or db.lsn)
    db.log_chain_lsn = db.log_chain_start = db.next_lsn()
    db.database_guid = str(uuid.uuid4()).upper()


STOP_POINT_LATER = ("This backup set contains records that were logged before the designated point in time. The "
                    "database is being left in the restoring state so that more roll forward can be performed.")


def _finish_state(db, opts, verb, ctx=None, stop_point_later=False):
    if stop_point_later:
        # the stop point lies after this backup: more log can be restored, so no recovery
        ctx.info(4322, STOP_POINT_LATER)
        if opts.get("STANDBY") is not None and not opts.get("NORECOVERY"):
            db.state = "ONLINE"
            db.standby_file = str(opts["STANDBY"])
        elif not db.read_only:
            db.state = "RESTORING"
        return
    if opts.get("STANDBY") is not None:
        if opts.get("NORECOVERY"):
            _fail(verb, 3023, 16, 1, "Options NORECOVERY and STANDBY are mutually exclusive.")   # sys.messages text
        db.state = "ONLINE"
        db.standby_file = str(opts["STANDBY"])
    elif opts.get("NORECOVERY"):
        db.state = "RESTORING"
        db.standby_file = None
    else:
        _recover(db)


def run_restore(ctx, spec):
    what = spec["what"]
    verb = "RESTORE DATABASE" if what == "DATABASE" else ("RESTORE LOG" if what == "LOG" else f"RESTORE {what}")
    cat, session, opts = ctx.cat, ctx.session, spec["opts"]
    if session.tran_count:
        _fail(verb, 3021, 16, 1, "Cannot perform a backup or restore operation within a transaction.")
    if what in ("HEADERONLY", "FILELISTONLY", "VERIFYONLY"):
        if not (session.has_server_perm("CREATE ANY DATABASE")):
            _fail(verb, 3110, 14, 1, "User does not have permission to RESTORE database 'master'.")
        _validate_transfer(opts, verb)
        head, payload, opened = _read_media(ctx, spec, verb)
        if what == "HEADERONLY":
            _headeronly(ctx, head)
        elif what == "FILELISTONLY":
            _filelistonly(ctx, head)
        else:
            _decode_payload(verb, head, payload)
            _stats(ctx, opts)
            ctx.info(3262, "The backup set on file 1 is valid.")
        return
    name = spec["database"]
    target = cat.databases.get(name.lower())
    if target is not None:
        allowed = session.is_sysadmin() or session.has_server_perm("CREATE ANY DATABASE") or session.in_db_role(
            target, "db_owner")
    else:
        allowed = session.has_server_perm("CREATE ANY DATABASE")
    if not allowed:
        _fail(verb, 3110, 14, 1, f"User does not have permission to RESTORE database '{name}'.")
    if target is not None and hadr.in_group(cat, target.name):
        _fail(verb, 3104, 16, 1, f"RESTORE cannot operate on database '{target.name}' because it is configured for "
                                 "database mirroring or has joined an availability group. If you intend to restore "
                                 "the database, use ALTER DATABASE to remove mirroring or to remove the database "
                                 "from its availability group.")
    rolling_forward = target is not None and (target.state == "RESTORING" or target.read_only)
    if not spec["devices"]:   # RESTORE DATABASE x WITH RECOVERY | STANDBY = 'file'
        if target is None:
            _fail(verb, 911, 16, 11, f"Database '{name}' does not exist. Make sure that the name is entered correctly.")
        if not opts.get("NORECOVERY"):
            if not rolling_forward:
                _fail(verb, 3148, 16, 1, "This RESTORE statement is invalid in the current context. The 'Recover "
                                         "Data Only' option is only defined for secondary filegroups when the "
                                         "database is in an online state.")
            _finish_state(target, opts, verb)
        ctx.info(3014, f"{verb} successfully processed 0 pages in 0.001 seconds (0.000 MB/sec).")
        return
    _validate_transfer(opts, verb)
    head, payload, opened = _read_media(ctx, spec, verb)
    urls = [o[0] for o in opened]
    stopat = _stopat(verb, opts.get("STOPAT"))
    t0 = time.monotonic()
    if what == "LOG" and head["backup_type"] != "L":
        _fail(verb, 3135, 16, 2, f"The backup set in file '{urls[0]}' was created by BACKUP DATABASE and cannot be "
                                 "used for this restore operation.")
    if head["backup_type"] in ("L", "I"):
        if what == "DATABASE" and head["backup_type"] == "L":
            _fail(verb, 3135, 16, 2, f"The backup set in file '{urls[0]}' was created by BACKUP LOG and cannot be "
                                     "used for this restore operation.")
        if not rolling_forward:
            _fail(verb, 3117, 16, 1, "The log or differential backup cannot be restored because no files are ready "
                                     "to rollforward.")
        if head["backup_type"] == "I":
            if head.get("differential_base_guid") is None or head["differential_base_guid"] != target.restored_base_guid:
                _fail(verb, 3136, 16, 1, "This differential backup cannot be restored because the database has not "
                                         "been restored to the correct earlier state.")
            if stopat is not None and _dt.datetime.fromisoformat(head["start"]) > stopat:
                _fail(verb, 4338, 16, 1, "The STOPAT clause specifies a point too early to allow this backup set to be "
                                         "restored. Choose a different stop point or use RESTORE DATABASE WITH "
                                         "RECOVERY to recover at the current point.")
            snap = _decode_payload(verb, head, payload)
            _apply(target, snap)
            target.redo_lsn = head["last_lsn"]
            target.redo_time = _dt.datetime.fromisoformat(head["start"])
            _finish_state(target, opts, verb, ctx, stop_point_later=stopat is not None)
            pages = max(1, head["backup_size"] // 8192)
        else:
            # "Log Sequence Numbers and Restore Planning": the log must include the LSN the database is at
            redo = target.redo_lsn
            if head["first_lsn"] > redo:
                _fail(verb, 4305, 16, 1, f"The log in this backup set begins at LSN {_lsn(head['first_lsn'])}, which "
                                         "is too recent to apply to the database. An earlier log backup that includes "
                                         f"LSN {_lsn(redo)} can be restored.")
            if head["last_lsn"] <= redo:
                _fail(verb, 4326, 16, 1, f"The log in this backup set terminates at LSN {_lsn(head['last_lsn'])}, "
                                         "which is too early to apply to the database. A more recent log backup that "
                                         f"includes LSN {_lsn(redo)} can be restored.")
            if stopat is not None and target.redo_time is not None and stopat < target.redo_time:
                _fail(verb, 4335, 16, 2, "The specified STOPAT time is too early. All or part of the database is "
                                         "already rolled forward beyond that point.")
            body = _decode_payload(verb, head, payload)
            log_end = _dt.datetime.fromisoformat(head["start"])
            stop_inside = stopat is not None and stopat < log_end
            applied_to = head["last_lsn"]
            for change in sorted(body["changes"], key=lambda c: c["lsn"]):
                if change["lsn"] < redo:
                    continue
                if stop_inside and change["time"] > stopat:
                    applied_to = change["lsn"]   # the first record after the stop point is not redone
                    break
                _apply_change(target, change)
            target.users = body["users"]
            target.role_members = {tuple(x) for x in body["role_members"]}
            target.redo_lsn = applied_to
            target.redo_time = stopat if stop_inside else log_end
            _finish_state(target, opts, verb, ctx, stop_point_later=stopat is not None and not stop_inside)
            pages = 2
        _record_restore(ctx, head, urls, target.name, head["backup_type"], opts, stopat)
        _stats(ctx, opts)
        data_or_log = target.files[0 if head["backup_type"] == "I" else 1]["name"]
        ctx.info(4035, f"Processed {pages} pages for database '{target.name}', file '{data_or_log}' on file 1.")
        ctx.info(3014, f"{verb} successfully processed {pages} pages in {max(time.monotonic() - t0, 0.001):.3f} "
                       "seconds (0.100 MB/sec).")
        return
    # full database restore
    if stopat is not None and _dt.datetime.fromisoformat(head["start"]) > stopat:
        _fail(verb, 4338, 16, 1, "The STOPAT clause specifies a point too early to allow this backup set to be "
                                 "restored. Choose a different stop point or use RESTORE DATABASE WITH RECOVERY to "
                                 "recover at the current point.")
    # plan the files first (1834/3156 for each, then 3119 + 3013)
    moves = {logical.lower(): physical for logical, physical in opts.get("MOVE", [])}
    problems = []
    plan = []
    restarting = target is not None and rolling_forward
    for f in head["files"]:
        physical = moves.get(f["logical"].lower(), f["physical"])
        plan.append((f, physical))
        for other in cat.databases.values():
            if other is target and (opts.get("REPLACE") or restarting):
                continue
            for of in other.files:
                if of["physical_name"].lower() == physical.lower():
                    problems.append((1834, 16, 1, f"The file '{physical}' cannot be overwritten.  It is being used by "
                                                  f"the database '{other.name}'."))
                    problems.append((3156, 16, 4, f"File '{f['logical']}' cannot be restored to '{physical}'. Use WITH "
                                                  "MOVE to identify a valid location for the file."))
    if problems:
        raise E.SqlError(*problems[0][:2], problems[0][2], problems[0][3],
                         problems[1:] + [(3119, 16, 1, "Problems were identified while planning for the RESTORE "
                                                       "statement. Previous messages provide details."),
                                         E.terminating(verb)])
    if target is not None and not opts.get("REPLACE") and not restarting:
        if target.name.lower() != head["database_name"].lower():
            _fail(verb, 3154, 16, 4, f"The backup set holds a backup of a database other than the existing "
                                     f"'{target.name}' database.")
    # "MSSQLSERVER_3159": under the full or bulk-logged recovery model the tail of the log must be backed up
    # first, unless REPLACE or STOPAT says to overwrite it
    if target is not None and not opts.get("REPLACE") and not restarting and stopat is None \
            and target.recovery_model != "SIMPLE":
        _fail(verb, 3159, 16, 1, f'The tail of the log for the database "{target.name}" has not been backed up. Use '
                                 "BACKUP LOG WITH NORECOVERY to backup the log if it contains work you do not want to "
                                 "lose. Use the WITH REPLACE or WITH STOPAT clause of the RESTORE statement to just "
                                 "overwrite the contents of the log.")
    if target is not None and any(s is not session and s.database.lower() == target.name.lower()
                                  for s in list(ctx.inst.sessions)):
        _fail(verb, 3101, 16, 1, "Exclusive access could not be obtained because the database is in use.")
    snap = _decode_payload(verb, head, payload)
    if target is not None:
        del cat.databases[target.name.lower()]
    db = cat.add_database(name, size_mb=snap.get("size_mb", 16), recovery=snap.get("recovery_model", "FULL"))
    if target is not None:
        db.database_id = target.database_id
        cat.next_database_id -= 1
    _apply(db, snap)
    for f, (src, physical) in zip(db.files, plan):
        f["name"] = src["logical"]
        f["physical_name"] = physical
    db.lsn = head["last_lsn"]
    db.redo_lsn = head["last_lsn"]
    db.redo_time = _dt.datetime.fromisoformat(head["start"])
    db.restored_base_guid = head.get("establishes_diff_base_guid")
    db.last_full_lsn = head["checkpoint_lsn"] if not head["copy_only"] else None
    db.diff_base_guid = head.get("establishes_diff_base_guid")
    db.family_guid = head.get("family_guid") or db.family_guid
    _finish_state(db, opts, verb, ctx, stop_point_later=stopat is not None)
    _record_restore(ctx, head, urls, db.name, "D", opts, stopat)
    pages = max(1, head["backup_size"] // 8192)
    _stats(ctx, opts)
    ctx.info(4035, f"Processed {pages} pages for database '{db.name}', file '{db.files[0]['name']}' on file 1.")
    ctx.info(4035, f"Processed 2 pages for database '{db.name}', file '{db.files[1]['name']}' on file 1.")
    elapsed = max(time.monotonic() - t0, 0.001)
    ctx.info(3014, f"RESTORE DATABASE successfully processed {pages + 2} pages in {elapsed:.3f} seconds "
                   f"({(pages + 2) * 8192 / 1048576 / elapsed:.3f} MB/sec).")


def _record_restore(ctx, head, urls, dest, restore_type, opts, stopat):
    """msdb: the restored media's backup set (as SQL Server records it) and a restorehistory row."""
    cat = ctx.cat
    set_id = _record_backupset(cat, head, urls)
    cat.restorehistory.append({
        "restore_history_id": len(cat.restorehistory) + 1, "restore_date": _dt.datetime.now(),
        "destination_database_name": dest, "user_name": ctx.session.login.name, "backup_set_id": set_id,
        "restore_type": restore_type, "replace": bool(opts.get("REPLACE")), "recovery": not opts.get("NORECOVERY"),
        "restart": False, "stop_at": stopat, "device_count": len(urls), "stop_at_mark_name": None,
        "stop_before": False})


def _apply(db, snap):
    db.tables = snap["tables"]
    db.users = snap["users"]
    db.role_members = {tuple(x) for x in snap["role_members"]}
    db.recovery_model = snap.get("recovery_model", db.recovery_model)
    db.next_principal_id = max([u["principal_id"] for u in db.users.values() if u["principal_id"] < 16384] + [4]) + 1


def _apply_change(db, change):
    from .instance import apply_change
    if change.get("ddl") or change["table"] in db.tables:
        apply_change(db, change)


HEADERONLY_COLUMNS = [
    ("BackupName", C.nvarchar(128)), ("BackupDescription", C.nvarchar(255)), ("BackupType", C.SMALLINT),
    ("ExpirationDate", C.DATETIME), ("Compressed", C.BIT), ("Position", C.SMALLINT), ("DeviceType", C.TINYINT),
    ("UserName", C.nvarchar(128)), ("ServerName", C.nvarchar(128)), ("DatabaseName", C.nvarchar(128)),
    ("DatabaseVersion", C.INT), ("DatabaseCreationDate", C.DATETIME), ("BackupSize", C.NUMERIC20),
    ("FirstLSN", C.NUMERIC25), ("LastLSN", C.NUMERIC25), ("CheckpointLSN", C.NUMERIC25),
    ("DatabaseBackupLSN", C.NUMERIC25), ("BackupStartDate", C.DATETIME), ("BackupFinishDate", C.DATETIME),
    ("SortOrder", C.SMALLINT), ("CodePage", C.SMALLINT), ("UnicodeLocaleId", C.INT),
    ("UnicodeComparisonStyle", C.INT), ("CompatibilityLevel", C.TINYINT), ("SoftwareVendorId", C.INT),
    ("SoftwareVersionMajor", C.INT), ("SoftwareVersionMinor", C.INT), ("SoftwareVersionBuild", C.INT),
    ("MachineName", C.nvarchar(128)), ("Flags", C.INT), ("BindingID", C.GUID), ("RecoveryForkID", C.GUID),
    ("Collation", C.nvarchar(128)), ("FamilyGUID", C.GUID), ("HasBulkLoggedData", C.BIT), ("IsSnapshot", C.BIT),
    ("IsReadOnly", C.BIT), ("IsSingleUser", C.BIT), ("HasBackupChecksums", C.BIT), ("IsDamaged", C.BIT),
    ("BeginsLogChain", C.BIT), ("HasIncompleteMetaData", C.BIT), ("IsForceOffline", C.BIT), ("IsCopyOnly", C.BIT),
    ("FirstRecoveryForkID", C.GUID), ("ForkPointLSN", C.NUMERIC25), ("RecoveryModel", C.nvarchar(60)),
    ("DifferentialBaseLSN", C.NUMERIC25), ("DifferentialBaseGUID", C.GUID),
    ("BackupTypeDescription", C.nvarchar(60)), ("BackupSetGUID", C.GUID), ("CompressedBackupSize", C.BIGINT),
    ("containment", C.TINYINT), ("KeyAlgorithm", C.nvarchar(32)), ("EncryptorThumbprint", C.varbinary(20)),
    ("EncryptorType", C.nvarchar(32)), ("LastValidRestoreTime", C.DATETIME), ("TimeZone", C.nvarchar(32)),
    ("CompressionAlgorithm", C.nvarchar(32))]


def _headeronly(ctx, head):
    """One row per backup set on the media ("RESTORE HEADERONLY (Transact-SQL)", Result sets)."""
    v = [int(x) for x in head["version"].split(".")]
    start = _dt.datetime.fromisoformat(head["start"])
    finish = _dt.datetime.fromisoformat(head.get("finish") or head["start"])
    btype = head["backup_type"]
    fork = head.get("family_guid")
    values = {
        "BackupName": head.get("name"), "BackupDescription": head.get("description"),
        "BackupType": {"D": 1, "I": 5, "L": 2}[btype], "ExpirationDate": None, "Compressed": head["compressed"],
        "Position": 1, "DeviceType": URL_DEVICE_TYPE, "UserName": head["user_name"], "ServerName": head["server_name"],
        "DatabaseName": head["database_name"], "DatabaseVersion": 957,
        "DatabaseCreationDate": _dt.datetime.fromisoformat(head["database_created"]),
        "BackupSize": head["backup_size"], "FirstLSN": head["first_lsn"], "LastLSN": head["last_lsn"],
        "CheckpointLSN": head["checkpoint_lsn"], "DatabaseBackupLSN": head["database_backup_lsn"],
        "BackupStartDate": start, "BackupFinishDate": finish, "SortOrder": 52, "CodePage": 0,
        "UnicodeLocaleId": 1033, "UnicodeComparisonStyle": 196609, "CompatibilityLevel": 160,
        "SoftwareVendorId": 4608, "SoftwareVersionMajor": v[0], "SoftwareVersionMinor": v[1],
        "SoftwareVersionBuild": v[2], "MachineName": head["machine_name"], "Flags": _flags(head),
        "BindingID": head.get("database_guid"), "RecoveryForkID": fork, "Collation": "SQL_Latin1_General_CP1_CI_AS",
        "FamilyGUID": head.get("family_guid"), "HasBulkLoggedData": False, "IsSnapshot": False, "IsReadOnly": False,
        "IsSingleUser": False, "HasBackupChecksums": head["checksum"], "IsDamaged": False,
        "BeginsLogChain": bool(head.get("begins_log_chain")), "HasIncompleteMetaData": False,
        "IsForceOffline": bool(head.get("tail_norecovery")), "IsCopyOnly": head["copy_only"],
        "FirstRecoveryForkID": fork,
        "ForkPointLSN": None, "RecoveryModel": head["recovery_model"],
        "DifferentialBaseLSN": head.get("differential_base_lsn"),
        "DifferentialBaseGUID": head.get("differential_base_guid"),
        "BackupTypeDescription": {"D": "Database", "I": "Database Differential", "L": "Transaction Log"}[btype],
        "BackupSetGUID": head.get("backup_set_guid"),
        "CompressedBackupSize": head.get("compressed_size", head["backup_size"]), "containment": 0,
        "KeyAlgorithm": None, "EncryptorThumbprint": None, "EncryptorType": None,
        # a log backup holds what committed before it began
        "LastValidRestoreTime": start if btype == "L" else None, "TimeZone": "0",
        "CompressionAlgorithm": "MS_XPRESS" if head["compressed"] else None}
    ctx.result.sets.append((HEADERONLY_COLUMNS, [[values[n] for n, _t in HEADERONLY_COLUMNS]]))
    ctx.result.rowcount = 1


FILELISTONLY_COLUMNS = [
    ("LogicalName", C.nvarchar(128)), ("PhysicalName", C.nvarchar(260)), ("Type", C.CHAR1),
    ("FileGroupName", C.nvarchar(128)), ("Size", C.NUMERIC20), ("MaxSize", C.NUMERIC20), ("FileId", C.BIGINT),
    ("CreateLSN", C.NUMERIC25), ("DropLSN", C.NUMERIC25), ("UniqueId", C.GUID), ("ReadOnlyLSN", C.NUMERIC25),
    ("ReadWriteLSN", C.NUMERIC25), ("BackupSizeInBytes", C.BIGINT), ("SourceBlockSize", C.INT),
    ("FileGroupId", C.INT), ("LogGroupGUID", C.GUID), ("DifferentialBaseLSN", C.NUMERIC25),
    ("DifferentialBaseGUID", C.GUID), ("IsReadOnly", C.BIT), ("IsPresent", C.BIT), ("TDEThumbprint", C.varbinary(32)),
    ("SnapshotUrl", C.nvarchar(360))]


def _filelistonly(ctx, head):
    """One row per database file in the backup set ("RESTORE FILELISTONLY (Transact-SQL)", Result sets)."""
    rows = []
    for f in head["files"]:
        data = f["type"] == "D"
        rows.append([f["logical"], f["physical"], f["type"], "PRIMARY" if data else None, f["size_mb"] * 1048576,
                     35184372080640 if data else 2199023255552, f["file_id"], 0, 0,
                     str(uuid.uuid5(uuid.NAMESPACE_URL, f"{head.get('family_guid')}:{f['file_id']}")).upper(), 0, 0,
                     head["backup_size"] if data else 0, 512, 1 if data else 0, None,
                     (head.get("differential_base_lsn") or 0) if data else 0,
                     head.get("differential_base_guid") if data else None, False, True, None, None])
    ctx.result.sets.append((FILELISTONLY_COLUMNS, rows))
    ctx.result.rowcount = len(rows)
