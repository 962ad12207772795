# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Instance facts and the managed-identity backup verdict (sql_info, and the pre-flight check that
sql_backup / sql_restore run before any BACKUP or RESTORE through a managed-identity credential).

Contract (common/result.py): ``validate(params)`` before any login, then ``read(session, params) ->
Result`` (never changed, no diff; the facts are its values). The session refuses every write.

Rules, with their sources:
- below SQL Server 2022 CU15 (16.0.4145.4) a backup or restore through a managed-identity credential
  can leave the instance unresponsive (KB5043526) - always refused;
- supported from SQL Server 2022 CU17 (16.0.4175.1) and in SQL Server 2025 (Microsoft Learn "Backup
  and restore to URL using managed identities");
- Windows only, not on a failover cluster instance (same document, "Limitations").
"""
from __future__ import annotations

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import PrerequisiteError, SqlServerError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import tsql
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import storage_suffix

CU15_2022 = (16, 0, 4145, 4)
CU17_2022 = (16, 0, 4175, 1)
RELEASES = {11: "2012", 12: "2014", 13: "2016", 14: "2017", 15: "2019", 16: "2022", 17: "2025"}


def argument_spec():
    return dict(container_url=dict(type="str"), storage_suffix=dict(type="str"))


def validate(params):
    """A container_url, when given, is checked as sql_credential checks its url (imported here only then)."""
    if params.get("container_url"):
        from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_credential import split_container_url
        split_container_url(params["container_url"], storage_suffix(params), "container_url")


def read(session, params):
    """Result: never changed; the facts of gather() are its values."""
    facts = gather(session, params.get("container_url"))
    return Result(False, warnings=facts.pop("warnings", None), **facts)


def read_server(params, connect):
    """sql_info's facts of one server (the values of `read`, and its warnings if any), given its options: `connect(params)` opens the session,
    which refuses every write from then on, and is closed whatever happens - what SqlvmModule.run_sql does around
    `read` for sql_info (validate first: this does not). sql_fleet_info reads each server of a fleet with it."""
    session = connect(params)
    try:
        session.check_mode = True  # a read-only capability: a write would be a bug
        result = read(session, params)
    finally:
        session.close()
    facts = dict(result.values)
    if result.warnings:  # sql_info returns them next to its facts (SqlvmModule.finish)
        facts["warnings"] = list(result.warnings)
    return facts


def parse_version(text):
    parts = []
    for piece in (text or "").split(".")[:4]:
        try:
            parts.append(int(piece))
        except ValueError:
            parts.append(0)
    while len(parts) < 4:
        parts.append(0)
    return tuple(parts)


def _flag(value):
    return str(value).strip() in ("1", "True", "true")


def instance_from_row(props):
    version = props.get("ProductVersion") or ""
    parsed = parse_version(version)
    return dict(
        product_version=version,
        version_tuple=list(parsed),
        release=RELEASES.get(parsed[0], "unknown"),
        product_update_level=props.get("ProductUpdateLevel"),
        product_level=props.get("ProductLevel"),
        edition=props.get("Edition"),
        engine_edition=props.get("EngineEdition"),
        is_clustered=_flag(props.get("IsClustered")),
        default_data_path=props.get("InstanceDefaultDataPath"),
        default_log_path=props.get("InstanceDefaultLogPath"),
        machine_name=props.get("MachineName"),
        server_name=props.get("ServerName"),
        host_platform=props.get("host_platform"),
        login_name=props.get("login_name"),
    )


def managed_identity_verdict(instance):
    """(supported, blocking_reasons, overridable_reasons) for backup/restore with a managed identity."""
    version = tuple(instance["version_tuple"])
    hard, soft = [], []
    if version < CU15_2022:
        hard.append(
            "SQL Server %s (%s) is older than SQL Server 2022 CU15 (16.0.4145.4): a BACKUP or RESTORE through a "
            "managed-identity credential can leave the instance unresponsive (KB5043526). Install SQL Server 2022 "
            "CU17 (16.0.4175.1) or later." % (instance["product_version"], instance["release"]))
    elif version < CU17_2022:
        soft.append(
            "SQL Server %s is older than SQL Server 2022 CU17 (16.0.4175.1), the first build that supports backup and "
            "restore to URL with managed identities. Install CU17 or later." % instance["product_version"])
    if (instance.get("host_platform") or "Windows") != "Windows":
        soft.append("the host platform is %s; server-level managed identities are supported on Windows only."
                    % instance["host_platform"])
    if instance.get("is_clustered"):
        soft.append("the instance is a failover cluster instance; managed identities are not supported with FCI.")
    return (not hard and not soft), hard, soft


def check_instance(instance, allow_unsupported=False):
    """The pre-flight check before any BACKUP/RESTORE through a managed-identity credential, for an instance read
    with instance_from_row: the overridable reasons (warnings), or PrerequisiteError."""
    _supported, hard, soft = managed_identity_verdict(instance)
    if hard:
        raise PrerequisiteError("Refusing to run: " + " ".join(hard), instance=instance)
    if soft and not allow_unsupported:
        raise PrerequisiteError(
            "Refusing to run BACKUP/RESTORE with a managed-identity credential: %s (Backup and restore to URL using "
            "managed identities, Limitations). To run anyway, at your own risk, set "
            "allow_unsupported_instance: true." % " ".join(soft), instance=instance)
    return soft


def supports_compression(instance):
    """Backup compression: Enterprise, Developer, Standard, Evaluation - not Express or Web."""
    edition = (instance.get("edition") or "").lower()
    return not (edition.startswith("express") or edition.startswith("web"))


def _trace_flags(rows):
    flags = {}
    for row in rows:
        values = list(row.values())
        try:
            flag = int(row.get("TraceFlag", values[0]))
        except (TypeError, ValueError):
            continue
        flags[flag] = dict(status=_flag(row.get("Status", values[1] if len(values) > 1 else 0)),
                           global_=_flag(row.get("Global", values[2] if len(values) > 2 else 0)))
    return {str(k): dict(status=v["status"], **{"global": v["global_"]}) for k, v in sorted(flags.items())}


_BACKUP_TYPE_NAMES = {"D": "full", "I": "differential", "L": "log"}


def gather(session, container_url=None):
    # One round trip: every read of the report in one batch, DBCC last (it may answer no result set).
    sets = session.query_all(tsql.batch(tsql.server_properties(), tsql.all_credentials(), tsql.entra_logins(),
                                        tsql.sysadmin_members(), tsql.last_url_backups(), tsql.hadr_enabled(),
                                        tsql.all_trace_flags()))
    sets += [[]] * (7 - len(sets))
    instance = instance_from_row(sets[0][0])
    supported, hard, soft = managed_identity_verdict(instance)
    credentials = [
        dict(name=row["name"], identity=row.get("credential_identity"),
             managed_identity=(row.get("credential_identity") == tsql.MANAGED_IDENTITY),
             create_date=_iso(row.get("create_date")), modify_date=_iso(row.get("modify_date")))
        for row in sets[1]
    ]
    entra = [dict(name=r["name"], type="entra_group" if (r.get("type") or "").strip() == "X" else "entra",
                  enabled=not bool(r.get("is_disabled"))) for r in sets[2]]
    sysadmins = [dict(name=r["name"], type=(r.get("type") or "").strip()) for r in sets[3]]
    flags = _trace_flags(sets[6])
    hadr_enabled = _flag((sets[5] or [{}])[0].get("is_hadr_enabled"))
    groups, ag_databases, ag_warnings = read_availability(session) if hadr_enabled else ([], {}, [])
    last = {}
    for row in sets[4]:  # newest first: keep the first per database and type
        kind = _BACKUP_TYPE_NAMES.get((row.get("type") or "").strip(), row.get("type"))
        last.setdefault(row["database_name"], {}).setdefault(kind, _iso(row.get("backup_finish_date")))

    reasons = list(hard) + list(soft)
    mi_credentials = [c for c in credentials if c["managed_identity"]]
    if container_url:
        if not any(c["name"] == container_url for c in mi_credentials):
            reasons.append("no 'Managed Identity' credential named %s (names are case-sensitive); create it with "
                           "sqlvm.backup.sql_credential." % container_url)
    elif not mi_credentials:
        reasons.append("no 'Managed Identity' credential exists; create one named by the container URL with "
                       "sqlvm.backup.sql_credential.")
    entra_sysadmins = [s for s in sysadmins if s["type"] in ("E", "X")]
    if not entra:
        reasons.append("no Microsoft Entra logins exist; create them for the people and principals who operate backups "
                       "(sqlvm.backup.sql_login).")
    instance.pop("version_tuple", None)
    facts = dict(
        instance=instance,
        managed_identity_backup_supported=supported,
        credentials=credentials,
        entra_logins=entra,
        sysadmin_members=sysadmins,
        entra_sysadmins=[s["name"] for s in entra_sysadmins],
        trace_flags=flags,
        last_url_backups=last,
        is_hadr_enabled=hadr_enabled,
        availability_groups=groups,
        availability_databases=ag_databases,
        ready=not reasons,
        reasons=reasons,
    )
    if ag_warnings:  # read() returns them as the task's warnings
        facts["warnings"] = ag_warnings
    return facts


def read_availability(session):
    """(availability_groups, availability_databases, warnings) of an instance with Always On enabled, in one round trip:
    the groups this instance is a replica of (this replica's role and health, the group's backup preference, its
    databases) and, per availability database, whether this replica is its primary and its preferred backup replica
    (sys.fn_hadr_backup_is_preferred_replica)."""
    warnings = []
    try:
        sets = session.query_all(tsql.batch(tsql.local_availability_groups(), tsql.availability_databases()))
    except SqlServerError as error:
        # sys.dm_hadr_availability_replica_states needs VIEW SERVER STATE (Msg 300 without it); the databases and the
        # preferred-replica function do not, so report those and say what is missing.
        if error.number not in (297, 300):
            raise
        warnings.append("the connecting login may not read sys.dm_hadr_availability_replica_states (it needs VIEW "
                        "SERVER STATE), so availability_groups is empty; availability_databases is complete. Grant "
                        "VIEW SERVER STATE to report the groups.")
        sets = [[], session.query(tsql.availability_databases())]
    sets += [[]] * (2 - len(sets))
    databases = availability_databases_from_rows(sets[1])
    groups = []
    for row in sets[0]:
        name = row.get("name")
        groups.append(dict(
            name=name,
            role=(row.get("role_desc") or "").strip() or None,
            synchronization_health=row.get("synchronization_health_desc"),
            automated_backup_preference=row.get("automated_backup_preference_desc"),
            replica_server_name=row.get("replica_server_name"),
            backup_priority=row.get("backup_priority"),
            databases=sorted(db for db, facts in databases.items() if facts["availability_group"] == name)))
    return groups, databases, warnings


def availability_databases_from_rows(rows):
    """{database: {availability_group, automated_backup_preference, is_primary_replica,
    is_preferred_backup_replica}} from tsql.availability_databases() rows."""
    out = {}
    for row in rows:
        out[row["database_name"]] = dict(
            availability_group=row.get("group_name"),
            automated_backup_preference=row.get("automated_backup_preference"),
            is_primary_replica=_flag(row.get("is_primary_replica")),
            is_preferred_backup_replica=_flag(row.get("is_preferred_backup_replica")))
    return out


def _iso(value):
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
