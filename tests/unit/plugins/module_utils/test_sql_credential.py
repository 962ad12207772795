"""sql_credentials: URL validation, SAS rules, validate with trace flag 4675."""
import pytest

from _sqlfake import session
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_credential as sc
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, SqlServerError

URL = "https://acct1.blob.core.windows.net/backups"
SAS = "sv=2022-11-02&ss=b&srt=co&sp=rwdl&se=2030-01-01T00:00:00Z&sig=abc%2Bdef"
SUFFIX = "core.windows.net"


def params(**kw):
    base = dict(url=URL, state="present", identity="managed_identity", sas_token=None, update_secret="on_create",
                validate=False, storage_suffix=None)
    base.update(kw)
    return base


@pytest.mark.parametrize("url,match", [
    ("http://acct1.blob.core.windows.net/backups", "https://"),
    ("https://acct1.blob.core.windows.net/backups/", "trailing slash"),
    ("https://acct1.blob.core.windows.net/Backups", "upper-case"),
    ("https://acct1.blob.core.windows.net/backups/sub", "after the container"),
    ("https://acct1.blob.core.windows.net/backups/db.bak", "after the container"),
    ("https://acct1.blob.core.windows.net", "no container"),
    ("https://acct1.blob.core.windows.net/backups?sv=1", "query"),
    ("https://acct1.blob.core.usgovcloudapi.net/backups", "blob endpoint of this cloud"),
    ("https://acct1.file.core.windows.net/backups", "blob endpoint"),
    ("https://acct1.blob.core.windows.net:443/backups", "port"),
    ("https://a.blob.core.windows.net/backups", "3-24"),
    ("https://acct1.blob.core.windows.net/ba", "3-63"),
    ("https://acct1.blob.core.windows.net/back--ups", "3-63"),
    ("https://acct1.blob.core.windows.net/back]ups", "3-63"),
    (" https://acct1.blob.core.windows.net/backups", "spaces"),
    ("https://acct1.blob.core.windows.net/backups\n", "control character"),
    ("https://acct1.blob.core.windows.net/backups?sv=2022-11-02&se=2030-01-01T00:00:00Z&sig=abc", "query string"),
    ("https://u:p@acct1.blob.core.windows.net/backups", "user name or password"),
])
def test_bad_urls_fail_before_any_statement(url, match):
    s, conn = session([])
    with pytest.raises(InvalidInputError, match=match):
        sc.ensure(s, params(url=url), False)
    assert conn.log == []


@pytest.mark.parametrize("kw,match", [
    (dict(identity="sas"), "needs sas_token"),
    (dict(identity="sas", sas_token="?" + SAS), "leading"),
    (dict(identity="sas", sas_token="hello"), "does not look like"),
    (dict(sas_token=SAS), "identity: sas only"),
    (dict(identity="sas", sas_token=SAS, validate=True), "does not apply"),
])
def test_bad_sas_options(kw, match):
    s, conn = session([])
    with pytest.raises(InvalidInputError, match=match) as info:
        sc.ensure(s, params(**kw), False)
    assert SAS not in str(info.value)
    assert conn.log == []


def test_other_cloud_suffix():
    assert sc.split_container_url("https://acct1.blob.core.usgovcloudapi.net/backups", "core.usgovcloudapi.net") == \
        ("acct1", "backups")


def test_create_then_idempotent():
    s, conn = session([(r"sys.credentials", [])])
    result = sc.ensure(s, params(), False)
    assert result.changed and conn.writes() == [
        "CREATE CREDENTIAL [%s] WITH IDENTITY = N'Managed Identity'" % URL]
    s, conn = session([(r"sys.credentials", [dict(name=URL, credential_identity="Managed Identity", create_date=None,
                                                  modify_date=None)])])
    result = sc.ensure(s, params(), False)
    assert not result.changed and conn.writes() == []


def test_sas_secret_update_policy_and_secrecy():
    existing = [(r"sys.credentials", [dict(name=URL, credential_identity="SHARED ACCESS SIGNATURE", create_date=None,
                                           modify_date=None)])]
    s, conn = session(existing)
    assert not sc.ensure(s, params(identity="sas", sas_token=SAS), False).changed
    s, conn = session(existing)
    result = sc.ensure(s, params(identity="sas", sas_token=SAS, update_secret="always"), False)
    assert result.changed and conn.writes()[0].startswith("ALTER CREDENTIAL")
    assert SAS not in repr(result) and "sig=" not in repr(result)


def test_switching_identity_recreates():
    s, conn = session([(r"sys.credentials", [dict(name=URL, credential_identity="SHARED ACCESS SIGNATURE",
                                                  create_date=None, modify_date=None)])])
    sc.ensure(s, params(), False)
    assert conn.writes() == ["DROP CREDENTIAL [%s]" % URL,
                             "CREATE CREDENTIAL [%s] WITH IDENTITY = N'Managed Identity'" % URL]


def test_validate_turns_trace_flag_on_and_back_off():
    s, conn = session([(r"sys.credentials", []), (r"TRACESTATUS", [dict(TraceFlag=4675, Status=0, Global=0, Session=0)])])
    result = sc.ensure(s, params(validate=True), False)
    assert result.values["validated"]
    assert conn.writes() == ["DBCC TRACEON(4675, -1)", "CREATE CREDENTIAL [%s] WITH IDENTITY = N'Managed Identity'" % URL,
                             "DBCC TRACEOFF(4675, -1)"]


def test_validate_failure_restores_flag_and_credential():
    cred = [dict(name=URL, credential_identity="Managed Identity", create_date=None, modify_date=None)]
    state = {"created": 0}

    def fail_first(sql, params):
        state["created"] += 1
        return None
    s, conn = session([(r"sys.credentials", cred), (r"TRACESTATUS", [dict(TraceFlag=4675, Status=0, Global=0, Session=0)])],
                      failures=[(r"^CREATE CREDENTIAL", (37563, "The primary managed identity is not selected for this "
                                                                "server."))])
    with pytest.raises(SqlServerError) as info:
        sc.ensure(s, params(validate=True), False)
    assert info.value.number == 37563 and "sqlvm_identity" in info.value.msg
    writes = conn.writes()
    assert writes[0] == "DBCC TRACEON(4675, -1)" and "DBCC TRACEOFF(4675, -1)" in writes
    assert writes[-1].startswith("CREATE CREDENTIAL")  # put back without the flag


def test_a_failed_validation_that_put_everything_back_reports_no_write_done():
    cred = [dict(name=URL, credential_identity="Managed Identity", create_date=None, modify_date=None)]
    s, conn = session([(r"sys.credentials", cred), (r"TRACESTATUS", [dict(TraceFlag=4675, Status=0, Global=0, Session=0)])],
                      failures=[(r"^CREATE CREDENTIAL", (37563, "The primary managed identity is not selected."))])
    real_cursor = conn.cursor

    def cursor():
        cur = real_cursor()
        if any(sql.startswith("CREATE CREDENTIAL") for sql, _params in conn.log):
            conn.failures = []  # only the checked CREATE fails; the credential is put back
        return cur
    conn.cursor = cursor
    with pytest.raises(SqlServerError):
        sc.ensure(s, params(validate=True), False)
    assert conn.writes()[-1].startswith("CREATE CREDENTIAL")
    # Trace flag off again, credential created again as it was: nothing is left changed.
    assert s.writes_done == []


def test_a_credential_dropped_and_not_created_again_is_reported_as_done():
    cred = [dict(name=URL, credential_identity="Managed Identity", create_date=None, modify_date=None)]
    s, _conn = session([(r"sys.credentials", cred), (r"TRACESTATUS", [dict(TraceFlag=4675, Status=0, Global=0, Session=0)])],
                       failures=[(r"^CREATE CREDENTIAL", (37563, "The primary managed identity is not selected."))])
    with pytest.raises(SqlServerError):
        sc.ensure(s, params(validate=True), False)
    assert s.writes_done == ["DROP CREDENTIAL [%s]" % URL]


def test_validate_keeps_flag_that_was_on():
    s, conn = session([(r"sys.credentials", []), (r"TRACESTATUS", [dict(TraceFlag=4675, Status=1, Global=1, Session=0)])])
    sc.ensure(s, params(validate=True), False)
    assert not any("TRACEO" in w for w in conn.writes())


def test_check_mode_skips_validation_and_writes():
    s, conn = session([(r"sys.credentials", [])], check_mode=True)
    result = sc.ensure(s, params(validate=True), True)
    assert result.changed and conn.writes() == [] and "skipped" in result.values["validation"]
