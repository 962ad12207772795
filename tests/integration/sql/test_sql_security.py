"""Issue 10, SQL side: secrets masked whatever else is wrong, nothing half-written reported as unchanged,
secrets in URLs refused as what they are, bad names refused before any statement, messages that say what happened."""
from _sqlworld import CONTAINER, task

SAS = "sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=U2VjcmV0U2lnbmF0dXJlVmFsdWU"
SIGNATURE = "U2VjcmV0U2lnbmF0dXJlVmFsdWU"
SECRETS = dict(sql_secret="N3w-L0gin'Pa55", conn_secret="C0nn-Pa55-w0rd", sas_secret=SAS,
               azure_secret="Azur3-Cl1ent-S3cret", azure_password="Azur3-Us3r-Pa55", cert_secret="C3rt-Pa55-w0rd")

# Type errors of several kinds (a string where a list of dicts / an int / a bool / a choice is expected), each with
# every secret option given: ansible-core stops collecting no_log values at the first option it cannot convert.
TYPE_ERRORS = [
    ("sql_login", dict(name="svc", login_type="sql", databases="app")),
    ("sql_login", dict(name="svc", login_type="sql", sql_port="not-a-port")),
    ("sql_login", dict(name="svc", login_type="sql", enabled="perhaps")),
    ("sql_login", dict(name="svc", login_type="sql", databases=[{"name": "app", "roles_exclusive": "perhaps"}])),
    ("sql_credential", dict(url=CONTAINER, identity="sas", validate="perhaps")),
    ("sql_credential", dict(url=CONTAINER, identity="sas", state="gone")),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app"], stripes="two")),
    ("sql_restore", dict(urls=CONTAINER + "/a.bak", database="n", file_moves="not-a-dict")),
]


def _with_secrets(module, options):
    options = dict(options, login_password="{{ conn_secret }}", secret="{{ azure_secret }}",
                   password="{{ azure_password }}", client_certificate_password="{{ cert_secret }}")
    if module == "sql_login":
        options["sql_login_password"] = "{{ sql_secret }}"
    if module == "sql_credential":
        options["sas_token"] = "{{ sas_secret }}"
    return options


def _assert_no_secret(result):
    for secret in list(SECRETS.values()) + [SIGNATURE]:
        assert secret not in result.output, "a secret reached the output: %r" % secret[:6]
        assert all(secret not in str(dict(t)) for t in result.tasks), "a secret reached a result: %r" % secret[:6]


def test_secret_options_are_masked_whatever_else_is_wrong(sqlworld, ansible):
    conn = sqlworld.connection(login_user="sa")
    tasks = [task(module, _with_secrets(module, dict(conn, **options))) for module, options in TYPE_ERRORS]
    result = ansible(tasks, verbosity=3, extra_vars=SECRETS)
    assert len(result) == len(TYPE_ERRORS)
    for outcome in result.tasks:
        assert outcome.failed
    # The module saw the secrets (they are in module_args, masked): the test would see them otherwise.
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in str(dict(result[0]))
    _assert_no_secret(result)
    assert sqlworld.backend.requests == []


def test_a_missing_server_role_is_refused_before_the_login_is_created(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([task("sql_login", dict(conn, name="SQL DBAs", login_type="sql", sql_login_password="Pa55-w0rd!x",
                                             server_roles=["nosuchrole"]))])
    assert result[0].failed and not result[0]["changed"]
    assert "nosuchrole" in result[0]["msg"] and "does not exist" in result[0]["msg"]
    assert sqlworld.writes() == []


def test_a_missing_database_role_is_refused_before_the_login_is_created(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([task("sql_login", dict(conn, name="svc_app", login_type="sql", sql_login_password="Pa55-w0rd!x",
                                             databases=[{"name": "app", "roles": ["db_nosuchrole"]}]))])
    assert result[0].failed and not result[0]["changed"]
    assert "db_nosuchrole" in result[0]["msg"] and "app" in result[0]["msg"]
    assert sqlworld.writes() == []


def test_a_failure_after_a_write_reports_changed_and_what_was_done(sqlworld, ansible):
    conn = sqlworld.connection()
    sqlworld.backend.faults.append(dict(vm="vm1", pattern=r"^ALTER SERVER ROLE", action="error", number=1205,
                                        message="Transaction was deadlocked on lock resources with another process "
                                                "and has been chosen as the deadlock victim. Rerun the transaction."))
    options = dict(conn, name="svc_half", login_type="sql", sql_login_password="Pa55-w0rd!x", server_roles=["dbcreator"])
    result = ansible([task("sql_login", options)])
    failed = result[0]
    assert failed.failed and failed["changed"] is True, failed
    assert failed["statements_done"][0].startswith("CREATE LOGIN [svc_half]")
    assert "holds a secret, not shown" in failed["statements_done"][0]
    assert "were made before the failure" in failed["msg"] and "CREATE LOGIN" in failed["msg"]
    sqlworld.backend.faults.clear()
    again = ansible([task("sql_login", options)])
    assert not again[0].failed and again[0]["changed"]
    assert again[0]["statements"][0].startswith("ALTER SERVER ROLE")


def test_a_dropped_connection_during_a_write_says_it_may_have_run(sqlworld, ansible):
    conn = sqlworld.connection()
    sqlworld.backend.faults.append(dict(vm="vm1", pattern=r"^CREATE CREDENTIAL", action="drop"))
    result = ansible([task("sql_credential", dict(conn, url=CONTAINER))])
    failed = result[0]
    assert failed.failed and failed["changed"] is True
    assert "connection to SQL Server was lost" in failed["msg"] and "may or may not have run" in failed["msg"]
    assert "may have run" in failed["msg"] and failed["statements_in_doubt"][0].startswith("CREATE CREDENTIAL")
    assert failed["error"]["connection_lost"] is True
    assert "Unexpected EOF" not in failed["msg"].split("(")[0]


BLOB = CONTAINER + "/VM1/app/app.bak"
# Secrets come from variables, as from a vault (a failing task's playbook lines are printed by Ansible).
URL_VARS = dict(sas="?" + SAS, user_pw="Pa55-Us3r")
SAS_VAR = "{{ sas[1:] }}"
USER_URL = "https://admin:{{ user_pw }}@acct1.blob.core.windows.net/backups"
URL_SECRETS = [
    ("sql_credential", dict(url=CONTAINER + "?" + SAS_VAR), "query string"),
    ("sql_credential", dict(url=CONTAINER + "?" + SAS_VAR, identity="sas", sas_token=SAS_VAR), "query string"),
    ("sql_credential", dict(url=USER_URL), "user name or password"),
    ("sql_backup", dict(container_url=CONTAINER + "?" + SAS_VAR, databases=["app"]), "query string"),
    ("sql_backup", dict(container_url=CONTAINER + "&" + SAS_VAR, databases=["app"]), "shared access signature"),
    ("sql_backup", dict(container_url=USER_URL, databases=["app"]),
     "user name or password"),
    ("sql_restore", dict(urls=[BLOB + "?" + SAS_VAR], database="n"), "query string"),
    ("sql_restore", dict(urls=[BLOB, BLOB.replace(".bak", "2.bak") + "?" + SAS_VAR], database="n"), "query string"),
    ("sql_restore", dict(urls=[USER_URL + "/a.bak"], mode="header_only"),
     "user name or password"),
    ("sql_info", dict(container_url=CONTAINER + "?" + SAS_VAR), "query string"),
]


def test_a_secret_in_a_url_is_refused_as_what_it_is_and_never_echoed(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([task(module, dict(conn, **options)) for module, options, _needle in URL_SECRETS],
                     verbosity=3, diff=True, extra_vars=URL_VARS)
    for (module, options, needle), outcome in zip(URL_SECRETS, result.tasks):
        assert outcome.failed, (module, options)
        msg = outcome["msg"]
        assert needle in msg, (module, msg)
        assert "upper-case" not in msg
        assert outcome["error"]["kind"] == "invalid_input"
        if "query string" in needle:
            assert "sas_token" in msg and "REDACTED" in msg
    # The whole SAS is one credential: none of its values (signature, version, expiry) is shown anywhere.
    for secret in (SIGNATURE, "Pa55-Us3r", "2022-11-02", "2030-01-01T00"):
        assert secret not in result.output, secret
        assert all(secret not in str(dict(t)) for t in result.tasks), secret
    assert sqlworld.backend.requests == []


OID = "11111111-2222-3333-4444-555555555555"
# Bad input that was accepted before (issue 10, item 5): each refused before any login or statement, naming the option.
BAD_SQL_INPUTS = [
    ("sql_login", dict(name="svc", login_type="sql", sql_login_password=""), "sql_login_password is empty"),
    ("sql_login", dict(name="svc", login_type="sql", sql_login_password="   "), "sql_login_password is empty"),
    ("sql_login", dict(name="svc", login_password=""), "login_password is empty"),
    ("sql_login", dict(name="svc", login_password="  "), "login_password is empty"),
    ("sql_login", dict(name="svc\r\nGO"), "control character"),
    ("sql_login", dict(name="svc "), "blanks"),
    ("sql_login", dict(name="ops", object_id=OID + "\n"), "GUID"),
    ("sql_login", dict(name="svc", server_roles=["sysadmin\n"]), "control character"),
    ("sql_login", dict(name="svc", databases=[{"name": "app\n"}]), "control character"),
    ("sql_restore", dict(urls=[CONTAINER + "/a.bak"], database="msdb ", replace=True), "blanks"),
    ("sql_restore", dict(urls=[CONTAINER + "/a.bak"], database="../../Windows/x"), "path separator"),
    ("sql_restore", dict(urls=[CONTAINER + "/a.bak"], database="..\\x"), "path separator"),
    ("sql_restore", dict(urls=[CONTAINER + "/a.bak"], database="x", file_moves={"app": "F:\\data\\..\\..\\x.mdf"}),
     "absolute"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app"], stripes=-1), "between 1 and 64"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app"], skip_if_backed_up_within=-5), "minutes"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app"],
                        blob_name_template="{database}/" + "x" * 1020 + "_{stripe}.bak"), "1024"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app\r\n"]), "control character"),
    ("sql_backup", dict(container_url=CONTAINER + "\n", databases=["app"]), "control character"),
    ("sql_credential", dict(url=CONTAINER + "\n"), "control character"),
    ("sql_info", dict(login_timeout=-1), "login_timeout"),
    ("sql_info", dict(statement_timeout=-1), "statement_timeout"),
]


def test_bad_sql_inputs_are_refused_before_any_login_or_statement(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([task(module, dict(conn, **options)) for module, options, _needle in BAD_SQL_INPUTS])
    for (module, options, needle), outcome in zip(BAD_SQL_INPUTS, result.tasks):
        assert outcome.failed, (module, options)
        assert needle in outcome["msg"], (module, options, outcome["msg"])
        assert outcome["error"]["kind"] == "invalid_input", outcome["msg"]
    assert sqlworld.backend.requests == []


def test_a_database_name_means_the_same_database_to_backup_and_restore(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([
        task("sql_credential", dict(conn, url=CONTAINER)),
        task("sql_backup", dict(conn, container_url=CONTAINER, databases=["APP"]), register="backup"),
        task("sql_restore", dict(conn, urls="{{ backup.backups[0].urls }}", database="APP")),
    ])
    assert not result[1].failed, result[1]["msg"]
    assert result[1]["backups"][0]["database"] == "app" and "/app/app_FULL_" in result[1]["backups"][0]["urls"][0]
    # sql_restore sees [APP] as the existing database app, as sql_backup did.
    assert result[2].failed and "already exists" in result[2]["msg"]


def test_a_backup_that_fails_on_the_second_database_reports_the_first_as_done(sqlworld, ansible):
    conn = sqlworld.connection()
    sqlworld.backend.faults.append(dict(vm="vm1", pattern=r"^BACKUP DATABASE \[simple\]", action="error", number=3201,
                                        message="Cannot open backup device '%s/x.bak'. Operating system error 50(The "
                                                "remote server returned an error: (409) Conflict.)." % CONTAINER))
    result = ansible([task("sql_credential", dict(conn, url=CONTAINER)),
                      task("sql_backup", dict(conn, container_url=CONTAINER, databases=["app", "simple"]))])
    failed = result[1]
    assert failed.failed and failed["changed"] is True
    assert [s.split(" TO ")[0] for s in failed["statements_done"]] == ["BACKUP DATABASE [app]"]
    assert "lease" in failed["msg"] and "no usable credential" not in failed["msg"]
