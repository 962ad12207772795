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
                     "MEDIANAME", "STOPAT", "MEDIADESCRIPTION", "EXPIREDATE", "RETAINDAYS"):
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
RESTORE_OPTS = ("MOVE", "REPLACE", "RECOVERY", "NORECOVERY", "STOPAT", "STATS", "FILE", "CHECKSUM", "NO_CHECKSUM",
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


def _network_check(verb, url, backend, vm_key, account):
    """The storage firewall answers 403 AuthorizationFailure ("This request is not authorized to perform this
    operation.", Azure Storage error codes) to a VM it does not let through, whatever the credential."""
    if backend.blob_network_denial(vm_key, account):
        _fail(verb, 3201, 16, 1, f"Cannot open backup device '{url}'. Operating system error 5(The remote server "
                                 "returned an error: (403) This request is not authorized to perform this operation.).")


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
            _network_check(verb, url, backend, ctx.inst.vm_key, account)
            # BACKUP writes (Storage Blob Data Contributor); RESTORE only reads.
            if not backend.blob_access_allowed(principal, account, container, write=verb.startswith("BACKUP")):
                _fail(verb, 3201, 16, 1, f"Cannot open backup device '{url}'. Operating system error 5(Access is "
                                         "denied.).")
            store = backend.blob_store(account, container, principal=principal)
        elif identity == "shared access signature":
            _network_check(verb, url, backend, ctx.inst.vm_key, account)
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
    if spec["what"] == "LOG":
        if db.recovery_model == "SIMPLE":
            _fail(verb, 4208, 16, 1, "The statement BACKUP LOG is not allowed while the recovery model is SIMPLE. "
                                     "Use BACKUP DATABASE or change the recovery model using ALTER DATABASE.")
        if db.last_full_lsn is None:
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

    started = _dt.datetime.now().replace(microsecond=0)
    t0 = time.monotonic()
    first_lsn = db.lsn
    db.lsn += 1000
    last_lsn = db.lsn
    btype = "L" if spec["what"] == "LOG" else ("I" if differential else "D")
    media_set = str(uuid.uuid4()).upper()
    header = {
        "backup_type": btype, "database_name": db.name, "server_name": cat.server_name,
        "machine_name": cat.machine_name, "user_name": session.login.name, "version": cat.version,
        "name": opts.get("NAME"), "description": opts.get("DESCRIPTION"), "first_lsn": first_lsn,
        "last_lsn": last_lsn, "database_backup_lsn": db.last_full_lsn or 0, "checkpoint_lsn": last_lsn,
        "start": started.isoformat(), "copy_only": bool(opts.get("COPY_ONLY")),
        "compressed": bool(opts.get("COMPRESSION")), "checksum": bool(opts.get("CHECKSUM")),
        "recovery_model": db.recovery_model, "database_created": db.created.isoformat(),
        "backup_size": data_bytes, "media_set_guid": media_set, "family_count": stripes,
        "files": [{"logical": f["name"], "physical": f["physical_name"], "type": "D" if f["type"] == 0 else "L",
                   "size_mb": f["size_mb"], "file_id": f["file_id"]} for f in db.files],
    }
    payload = zlib.compress(json.dumps(db.snapshot(), default=_json_default).encode("utf-8"), 6)
    share = math.ceil(len(payload) / stripes) or 1
    for i, (url, _a, _c, blob, store) in enumerate(opened):
        chunk = payload[i * share:(i + 1) * share]
        head = dict(header, family_sequence=i + 1, payload_length=len(payload),
                    payload_crc=zlib.crc32(payload))
        body = MAGIC + json.dumps(head).encode("utf-8") + b"\n" + chunk
        blocks = [body[o:o + transfer] for o in range(0, len(body), transfer)] or [b""]
        _io(verb, url, store.write, blob, blocks)
    if spec["what"] == "DATABASE" and not differential and not opts.get("COPY_ONLY"):
        db.last_full_lsn = first_lsn
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
    finished = _dt.datetime.now().replace(microsecond=0)
    media_id = len(cat.mediafamilies) + 1
    cat.backupsets.append({
        "backup_set_id": len(cat.backupsets) + 1, "media_set_id": media_id, "name": opts.get("NAME"),
        "database_name": db.name, "type": btype, "backup_start_date": started, "backup_finish_date": finished,
        "backup_size": data_bytes, "compressed_backup_size": len(payload) if opts.get("COMPRESSION") else data_bytes,
        "is_copy_only": bool(opts.get("COPY_ONLY")), "has_backup_checksums": bool(opts.get("CHECKSUM")),
        "first_lsn": first_lsn, "last_lsn": last_lsn, "database_backup_lsn": header["database_backup_lsn"],
        "server_name": cat.server_name, "machine_name": cat.machine_name, "user_name": session.login.name,
        "recovery_model": db.recovery_model})
    for i, (url, *_rest) in enumerate(opened):
        cat.mediafamilies.append({"media_set_id": media_id, "family_sequence_number": i + 1,
                                  "physical_device_name": url, "device_type": URL_DEVICE_TYPE})


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
    if not spec["devices"]:   # RESTORE DATABASE x WITH RECOVERY
        if target is None:
            _fail(verb, 911, 16, 11, f"Database '{name}' does not exist. Make sure that the name is entered correctly.")
        if opts.get("RECOVERY") or not opts.get("NORECOVERY"):
            if target.state == "ONLINE":
                _fail(verb, 3148, 16, 1, "This RESTORE statement is invalid in the current context. The 'Recover "
                                         "Data Only' option is only defined for secondary filegroups when the "
                                         "database is in an online state.")
            target.state = "ONLINE"
        ctx.info(3014, f"{verb} successfully processed 0 pages in 0.001 seconds (0.000 MB/sec).")
        return
    _validate_transfer(opts, verb)
    head, payload, opened = _read_media(ctx, spec, verb)
    t0 = time.monotonic()
    if what == "LOG" or head["backup_type"] in ("L", "I"):
        if target is None or target.state != "RESTORING":
            _fail(verb, 3117, 16, 4, "The log or differential backup cannot be restored because no files are ready "
                                     "to rollforward.")
        if what == "DATABASE" and head["backup_type"] == "L":
            _fail(verb, 3135, 16, 2, "The backup set in file 'url' was created by BACKUP LOG and cannot be used for "
                                     "this restore operation.")
        snap = _decode_payload(verb, head, payload)
        if opts.get("STOPAT") is not None:
            try:
                stopat = _dt.datetime.fromisoformat(str(opts["STOPAT"]).replace("T", " "))
            except ValueError:
                _fail(verb, 241, 16, 1, "Conversion failed when converting date and/or time from character string.")
            if stopat < _dt.datetime.fromisoformat(head["start"]) - _dt.timedelta(days=36500):
                _fail(verb, 4305, 16, 1, "The log in this backup set begins at a later point than STOPAT.")
        _apply(target, snap)
        target.state = "RESTORING" if opts.get("NORECOVERY") else "ONLINE"
        _record_restore(ctx, head, [o[0] for o in opened], target.name, head["backup_type"], opts)
        _stats(ctx, opts)
        ctx.info(4035, f"Processed 2 pages for database '{target.name}', file '{target.files[1]['name']}' on file 1.")
        ctx.info(3014, f"{verb} successfully processed 2 pages in {max(time.monotonic() - t0, 0.001):.3f} seconds "
                       "(0.100 MB/sec).")
        return
    # full database restore: plan the files first (1834/3156 for each, then 3119 + 3013)
    moves = {l.lower(): p for l, p in opts.get("MOVE", [])}
    problems = []
    plan = []
    for f in head["files"]:
        physical = moves.get(f["logical"].lower(), f["physical"])
        plan.append((f, physical))
        for other in cat.databases.values():
            if other is target and opts.get("REPLACE"):
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
    if target is not None and not opts.get("REPLACE"):
        if target.name.lower() != head["database_name"].lower():
            _fail(verb, 3154, 16, 4, f"The backup set holds a backup of a database other than the existing "
                                     f"'{target.name}' database.")
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
    db.state = "RESTORING" if opts.get("NORECOVERY") else "ONLINE"
    db.last_full_lsn = head["first_lsn"]
    _record_restore(ctx, head, [o[0] for o in opened], db.name, "D", opts)
    pages = max(1, head["backup_size"] // 8192)
    _stats(ctx, opts)
    ctx.info(4035, f"Processed {pages} pages for database '{db.name}', file '{db.files[0]['name']}' on file 1.")
    ctx.info(4035, f"Processed 2 pages for database '{db.name}', file '{db.files[1]['name']}' on file 1.")
    elapsed = max(time.monotonic() - t0, 0.001)
    ctx.info(3014, f"RESTORE DATABASE successfully processed {pages + 2} pages in {elapsed:.3f} seconds "
                   f"({(pages + 2) * 8192 / 1048576 / elapsed:.3f} MB/sec).")


def _record_restore(ctx, head, urls, dest, restore_type, opts):
    """msdb: the restored media's backup set (as SQL Server records it) and a restorehistory row."""
    cat = ctx.cat
    media_id = len(cat.mediafamilies) + 1
    set_id = len(cat.backupsets) + 1
    start = _dt.datetime.fromisoformat(head["start"])
    cat.backupsets.append({
        "backup_set_id": set_id, "media_set_id": media_id, "name": head.get("name"),
        "database_name": head["database_name"], "type": head["backup_type"], "backup_start_date": start,
        "backup_finish_date": start, "backup_size": head["backup_size"], "compressed_backup_size": head["backup_size"],
        "is_copy_only": head["copy_only"], "has_backup_checksums": head["checksum"], "first_lsn": head["first_lsn"],
        "last_lsn": head["last_lsn"], "database_backup_lsn": head["database_backup_lsn"],
        "server_name": head["server_name"], "machine_name": head["machine_name"], "user_name": head["user_name"],
        "recovery_model": head["recovery_model"]})
    for i, url in enumerate(urls):
        cat.mediafamilies.append({"media_set_id": media_id, "family_sequence_number": i + 1,
                                  "physical_device_name": url, "device_type": URL_DEVICE_TYPE})
    stop_at = None
    if opts.get("STOPAT") is not None:
        try:
            stop_at = _dt.datetime.fromisoformat(str(opts["STOPAT"]).replace("T", " "))
        except ValueError:
            stop_at = None
    cat.restorehistory.append({
        "restore_history_id": len(cat.restorehistory) + 1, "restore_date": _dt.datetime.now().replace(microsecond=0),
        "destination_database_name": dest, "user_name": ctx.session.login.name, "backup_set_id": set_id,
        "restore_type": restore_type, "replace": bool(opts.get("REPLACE")), "recovery": not opts.get("NORECOVERY"),
        "stop_at": stop_at})


def _apply(db, snap):
    db.tables = snap["tables"]
    db.users = snap["users"]
    db.role_members = {tuple(x) for x in snap["role_members"]}
    db.recovery_model = snap.get("recovery_model", db.recovery_model)
    db.next_principal_id = max([u["principal_id"] for u in db.users.values() if u["principal_id"] < 16384] + [4]) + 1


def _headeronly(ctx, head):
    cols = [("BackupName", C.nvarchar(128)), ("BackupDescription", C.nvarchar(255)), ("BackupType", C.SMALLINT),
            ("Compressed", C.BIT), ("Position", C.SMALLINT), ("DeviceType", C.TINYINT),
            ("UserName", C.nvarchar(128)), ("ServerName", C.nvarchar(128)), ("DatabaseName", C.nvarchar(128)),
            ("DatabaseCreationDate", C.DATETIME), ("BackupSize", C.NUMERIC25), ("FirstLSN", C.NUMERIC25),
            ("LastLSN", C.NUMERIC25), ("CheckpointLSN", C.NUMERIC25), ("DatabaseBackupLSN", C.NUMERIC25),
            ("BackupStartDate", C.DATETIME), ("BackupFinishDate", C.DATETIME), ("SoftwareVersionMajor", C.INT),
            ("SoftwareVersionMinor", C.INT), ("SoftwareVersionBuild", C.INT), ("MachineName", C.nvarchar(128)),
            ("HasBackupChecksums", C.BIT), ("IsCopyOnly", C.BIT), ("RecoveryModel", C.nvarchar(60)),
            ("BackupTypeDescription", C.nvarchar(60)), ("CompressedBackupSize", C.NUMERIC25)]
    v = [int(x) for x in head["version"].split(".")]
    start = _dt.datetime.fromisoformat(head["start"])
    row = [head.get("name"), head.get("description"), {"D": 1, "I": 5, "L": 2}[head["backup_type"]],
           head["compressed"], 1, 9, head["user_name"], head["server_name"], head["database_name"],
           _dt.datetime.fromisoformat(head["database_created"]), head["backup_size"], head["first_lsn"],
           head["last_lsn"], head["checkpoint_lsn"], head["database_backup_lsn"], start, start, v[0], v[1], v[2],
           head["machine_name"], head["checksum"], head["copy_only"], head["recovery_model"],
           {"D": "Database", "I": "Database Differential", "L": "Transaction Log"}[head["backup_type"]],
           head["backup_size"]]
    ctx.result.sets.append((cols, [row]))
    ctx.result.rowcount = 1


def _filelistonly(ctx, head):
    cols = [("LogicalName", C.nvarchar(128)), ("PhysicalName", C.nvarchar(260)), ("Type", C.CHAR1),
            ("FileGroupName", C.nvarchar(128)), ("Size", C.NUMERIC25), ("MaxSize", C.NUMERIC25),
            ("FileId", C.BIGINT)]
    rows = [[f["logical"], f["physical"], f["type"], "PRIMARY" if f["type"] == "D" else None,
             f["size_mb"] * 1048576, 35184372080640, f["file_id"]] for f in head["files"]]
    ctx.result.sets.append((cols, rows))
    ctx.result.rowcount = len(rows)
