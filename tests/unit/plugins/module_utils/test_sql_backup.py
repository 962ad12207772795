"""sql_backup: stripes, URLs, pre-flight refusals, database selection, check mode."""
import datetime

import pytest

from _sqlfake import instance_answers, session
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_backup as sb
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_info
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_restore
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, PrerequisiteError

C = "https://acct1.blob.core.windows.net/backups"
GB = 1024 ** 3
NOW = datetime.datetime(2026, 11, 22, 3, 0, 0, tzinfo=datetime.timezone.utc)


def params(**kw):
    base = dict(databases=["app"], all_user_databases=False, exclude_databases=[], type="full", container_url=C,
                storage_suffix=None, blob_name_template=sb.DEFAULT_TEMPLATE, stripes=None,
                max_transfer_size=4194304, block_size=65536, compression="auto", checksum=True, copy_only=False,
                overwrite=False, verify=False, skip_if_backed_up_within=None, allow_unsupported_instance=False)
    base.update(kw)
    return base


DBS = [dict(name="master", state_desc="ONLINE", database_id=1, recovery_model_desc="SIMPLE"),
       dict(name="tempdb", state_desc="ONLINE", database_id=2, recovery_model_desc="SIMPLE"),
       dict(name="model", state_desc="ONLINE", database_id=3, recovery_model_desc="FULL"),
       dict(name="msdb", state_desc="ONLINE", database_id=4, recovery_model_desc="SIMPLE"),
       dict(name="app", state_desc="ONLINE", database_id=5, recovery_model_desc="FULL"),
       dict(name="old", state_desc="OFFLINE", database_id=6, recovery_model_desc="FULL"),
       dict(name="simple db", state_desc="ONLINE", database_id=7, recovery_model_desc="SIMPLE")]


def _named(_sql, params):
    # DB_ID resolves a name as the server's default collation does: without regard to case.
    return [d for d in DBS if d["name"].lower() == params[0].lower()]


def world(size=10 * GB, identity="Managed Identity", history=(), **inst):
    return [(r"sys.credentials", [dict(name=C, credential_identity=identity, create_date=None, modify_date=None)]),
            *instance_answers(**inst),
            (r"FROM sys.databases WHERE database_id = DB_ID", _named),
            (r"FROM sys.databases", DBS),
            (r"sys.master_files", [dict(type=0, size=size // 8192), dict(type=1, size=0)]),
            (r"backupmediafamily WHERE physical_device_name IN", [dict(physical_device_name=h) for h in history]),
            (r"ORDER BY backup_finish_date DESC", [])]


@pytest.mark.parametrize("size,mts,expected", [
    (0, 4194304, 1), (195 * GB, 4194304, 1), (196 * GB, 4194304, 2), (12 * 1024 * GB, 4194304, 63),
    (10 * GB, 65536, 4),
])
def test_stripes_keep_every_blob_under_50000_blocks(size, mts, expected):
    n = sb.stripes_needed(size, mts)
    assert n == expected
    assert size / n <= 50000 * mts


def test_too_big_for_64_stripes():
    with pytest.raises(PrerequisiteError, match="more than the 64"):
        sb.choose_stripes(13 * 1024 * GB, params(), "big")


def test_given_stripes_must_suffice():
    with pytest.raises(InvalidInputError, match="at least 2"):
        sb.choose_stripes(300 * GB, params(stripes=1), "db")


def test_urls_from_template():
    urls = sb.blob_urls(C, sb.DEFAULT_TEMPLATE, "VM1\\INST", "my db", "full", "20261122T030000Z", 2)
    assert urls == [C + "/VM1$INST/my%20db/my%20db_FULL_20261122T030000Z_1of2.bak",
                    C + "/VM1$INST/my%20db/my%20db_FULL_20261122T030000Z_2of2.bak"]


@pytest.mark.parametrize("kw,match", [
    (dict(stripes=65), "between 1 and 64"),
    (dict(stripes=0), "between 1 and 64"),
    (dict(max_transfer_size=1000000), "multiple of 65536"),
    (dict(max_transfer_size=8388608), "multiple of 65536"),
    (dict(block_size=1000), "block_size"),
    (dict(databases=None), "either databases"),
    (dict(all_user_databases=True), "either databases"),
    (dict(databases=["tempdb"]), "tempdb"),
    (dict(databases=["a]" * 65]), "128"),
    (dict(blob_name_template="{server}/{nope}.bak"), "unknown placeholders"),
    (dict(blob_name_template="/abs/{database}.bak"), "relative"),
    (dict(databases=["a", "b"], blob_name_template="x.bak"), "{database}"),
    (dict(container_url=C + "/"), "trailing slash"),
    (dict(container_url=C.upper()), "upper-case"),
    (dict(skip_if_backed_up_within=-1), "minutes"),
    (dict(stripes=-2), "between 1 and 64"),
    (dict(databases=["app "]), "blanks"),
    (dict(databases=["app\n"]), "control character"),
    (dict(container_url=C + "?sv=2022-11-02&se=2030-01-01T00:00:00Z&sig=abcd"), "query string"),
    (dict(container_url=C + "\n"), "control character"),
    (dict(blob_name_template="{database}/" + "x" * 1020 + "{stripe}.bak"), "1024"),
    (dict(blob_name_template="/".join(["d"] * 260) + "/{database}.bak"), "254 segments"),
    (dict(blob_name_template="{database}\n.bak"), "control character"),
])
def test_bad_input_fails_before_any_statement(kw, match):
    s, conn = session([])
    with pytest.raises(InvalidInputError, match=match):
        sb.ensure(s, params(**kw), False)
    assert conn.log == []


@pytest.mark.parametrize("inst,match", [
    (dict(version="16.0.4135.4"), "unresponsive"),
    (dict(version="15.0.4415.2"), "unresponsive"),
    (dict(version="16.0.4165.4"), "CU17"),
    (dict(platform="Linux"), "Windows only"),
    (dict(clustered="1"), "failover cluster"),
])
def test_preflight_refuses_without_any_write(inst, match):
    s, conn = session(world(**inst))
    with pytest.raises(PrerequisiteError, match=match):
        sb.ensure(s, params(), False)
    assert conn.writes() == []


def test_override_allows_cu16_but_never_below_cu15():
    s, conn = session(world(version="16.0.4165.4"))
    result = sb.ensure(s, params(allow_unsupported_instance=True), True)
    assert result.warnings and result.changed
    s, conn = session(world(version="16.0.4100.1"))
    with pytest.raises(PrerequisiteError, match="unresponsive"):
        sb.ensure(s, params(allow_unsupported_instance=True), True)


def test_sas_credential_needs_no_preflight():
    s, conn = session(world(identity="SHARED ACCESS SIGNATURE", version="15.0.4415.2"))
    assert sb.ensure(s, params(), True).changed


def test_missing_credential_is_explained():
    s, conn = session([(r"sys.credentials", [])])
    with pytest.raises(PrerequisiteError, match="sql_credential"):
        sb.ensure(s, params(), False)


def test_check_mode_returns_statements_and_writes_nothing():
    s, conn = session(world(size=300 * GB), check_mode=True)
    result = sb.ensure(s, params(verify=True), True)
    assert conn.writes() == []
    assert result.values["backups"][0]["stripes"] == 2
    assert result.values["statements"][0].startswith("BACKUP DATABASE [app] TO URL = N'%s/sqlvm1/app/app_FULL_" % C)
    assert "COMPRESSION, CHECKSUM, MAXTRANSFERSIZE = 4194304, BLOCKSIZE = 65536" in result.values["statements"][0]
    assert result.values["statements"][1].startswith("RESTORE VERIFYONLY FROM URL")


def test_all_user_databases_skips_with_reasons():
    s, conn = session(world(), check_mode=True)
    result = sb.ensure(s, params(databases=None, all_user_databases=True, type="log"), True)
    assert [b["database"] for b in result.values["backups"]] == ["app"]
    reasons = {x["database"]: x["reason"] for x in result.values["skipped_databases"]}
    assert "tempdb" in reasons and "OFFLINE" in reasons["old"] and "SIMPLE" in reasons["simple db"]


def test_existing_blob_is_never_overwritten_unless_asked(monkeypatch):
    s, conn = session(world(history=[C + "/fixed.bak"]))
    with pytest.raises(PrerequisiteError, match="overwrite"):
        sb.ensure(s, params(blob_name_template="fixed.bak"), False)
    assert conn.writes() == []
    s, conn = session(world(history=[C + "/fixed.bak"]))
    result = sb.ensure(s, params(blob_name_template="fixed.bak", overwrite=True), True)
    assert "FORMAT" in result.values["statements"][0]


def test_express_gets_no_compression():
    s, conn = session(world(edition="Express Edition (64-bit)", identity="SHARED ACCESS SIGNATURE"))
    result = sb.ensure(s, params(), True)
    assert "NO_COMPRESSION" in result.values["statements"][0]


def test_real_run_sends_backup_with_parameters():
    last = dict(first_lsn=1, last_lsn=2, database_backup_lsn=0, backup_size=10, compressed_backup_size=5,
                backup_start_date=NOW, backup_finish_date=NOW, is_copy_only=False)
    s, conn = session(world() + [(r"TOP \(1\)", [last])])
    result = sb.ensure(s, params(), False)
    sql, p = [(q, p) for q, p in conn.log if q.startswith("BACKUP")][0]
    assert sql.startswith("BACKUP DATABASE [app] TO URL = ? WITH") and p[0].startswith(C + "/sqlvm1/app/")
    assert result.values["backups"][0]["last_lsn"] == 2


def test_verdict_table():
    base = dict(product_version="", release="2022", host_platform="Windows", is_clustered=False)
    for version, ok in [("16.0.4175.1", True), ("16.0.4215.2", True), ("17.0.1000.7", True), ("16.0.4165.4", False),
                        ("16.0.4145.4", False), ("15.0.4430.1", False)]:
        inst = dict(base, product_version=version, version_tuple=list(sql_info.parse_version(version)))
        assert sql_info.managed_identity_verdict(inst)[0] is ok, version


def test_skip_if_backed_up_within_uses_the_servers_clock():
    local_now = datetime.datetime(2026, 11, 22, 9, 0, 0)  # the server runs 6 hours ahead of UTC
    answers = [(r"GETDATE", [dict(now=local_now)]),
               (r"ORDER BY backup_finish_date DESC", [dict(backup_finish_date=local_now - datetime.timedelta(minutes=30))])]
    s, conn = session(answers + world())
    result = sb.ensure(s, params(skip_if_backed_up_within=60), False)
    assert not result.changed and conn.writes() == [] and "within 60 minutes" in result.values["skipped_databases"][0]["reason"]
    s, conn = session(answers + world())
    assert sb.ensure(s, params(skip_if_backed_up_within=10), True).changed


def test_a_name_is_resolved_as_the_server_resolves_it():
    s, _conn = session(world(), check_mode=True)
    result = sb.ensure(s, params(databases=["APP"]), True)
    assert result.values["backups"][0]["database"] == "app"
    assert result.values["statements"][0].startswith("BACKUP DATABASE [app] TO URL = N'%s/sqlvm1/app/app_FULL_" % C)
    s, _conn = session(world(), check_mode=True)
    with pytest.raises(InvalidInputError, match="twice"):
        sb.ensure(s, params(databases=["APP", "app"]), True)


def test_a_blob_name_longer_than_azure_allows_is_refused_before_any_write():
    long_name = "d" * 128
    DBS.append(dict(name=long_name, state_desc="ONLINE", database_id=9, recovery_model_desc="FULL"))
    try:
        s, conn = session(world())
        template = "{database}/{database}/{database}/{database}/{database}/{database}/{database}/{database}_{stripe}.bak"
        with pytest.raises(InvalidInputError, match="1024"):
            sb.ensure(s, params(databases=[long_name], blob_name_template=template), False)
        assert conn.writes() == []
    finally:
        DBS.pop()


def test_exclude_databases_names_are_resolved_by_the_server_too():
    s, _conn = session(world(), check_mode=True)
    result = sb.ensure(s, params(databases=None, all_user_databases=True, exclude_databases=["APP"]), True)
    assert dict(database="app", reason="listed in exclude_databases") in result.values["skipped_databases"]
    assert "app" not in [b["database"] for b in result.values["backups"]]


@pytest.mark.parametrize("module", [sb, sql_restore])
def test_backup_and_restore_allow_a_day_by_default(module):
    # BACKUP / RESTORE of a large database take hours; the task-wide deadline must not cut them at 300 s.
    assert module.argument_spec()["timeout"] == dict(type="int", default=24 * 3600)
