"""Bad input fails clearly before any statement runs; secrets never reach results, diffs or -vvv output."""
from _sqlworld import CONTAINER, OPS_OID, task

SAS = "sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=U2VjcmV0U2lnbmF0dXJlVmFsdWU"
SQL_PASSWORD = "N3w-L0gin'Pa55"
BLOB = CONTAINER + "/VM1/app/app.bak"

# (module, options, what the message must say). Each fails before the module sends any statement.
BAD = [
    ("sql_login", dict(name="a" * 129), "128"),
    ("sql_login", dict(name=""), "empty"),
    ("sql_login", dict(name="ops", object_id="not-a-guid"), "GUID"),
    ("sql_login", dict(name="ops", object_id="11111111-2222-3333-4444-55555555555'"), "GUID"),
    ("sql_login", dict(name="ops", object_id="{%s}" % OPS_OID), "GUID"),
    ("sql_login", dict(name="svc", login_type="sql"), "sql_login_password"),
    ("sql_login", dict(name="ops", sql_login_password="x"), "SQL logins only"),
    ("sql_login", dict(name="ops", server_roles=["public"]), "public"),
    ("sql_login", dict(name="CONTOSO\\ops"), "Windows"),
    ("sql_login", dict(name="ops", databases=[{"name": "x]" * 65}]), "128"),
    ("sql_credential", dict(url=CONTAINER + "/"), "trailing slash"),
    ("sql_credential", dict(url=CONTAINER.replace("backups", "Backups")), "upper-case"),
    ("sql_credential", dict(url=CONTAINER.replace("https", "http")), "https://"),
    ("sql_credential", dict(url=CONTAINER + "/folder"), "after the container"),
    ("sql_credential", dict(url="https://acct1.blob.core.usgovcloudapi.net/backups"), "blob endpoint"),
    ("sql_credential", dict(url=CONTAINER + "?sv=1"), "query"),
    ("sql_credential", dict(url="https://acct1.blob.core.windows.net/b]'--"), "3-63"),
    ("sql_credential", dict(url=CONTAINER, identity="sas", sas_token="?" + SAS), "leading"),
    ("sql_credential", dict(url=CONTAINER, identity="sas"), "needs sas_token"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app"], stripes=65), "between 1 and 64"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app"], max_transfer_size=1000000), "multiple of 65536"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app"], max_transfer_size=8388608), "4194304"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app"], block_size=3000), "block_size"),
    ("sql_backup", dict(container_url=CONTAINER), "either databases"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["tempdb"]), "tempdb"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app"], blob_name_template="{db}.bak"), "placeholders"),
    ("sql_backup", dict(container_url=CONTAINER, databases=["app", "simple"], blob_name_template="x.bak"),
     "{database}"),
    ("sql_restore", dict(urls=[BLOB], database="app]'; DROP DATABASE app; --" * 5), "128"),
    ("sql_restore", dict(urls=[CONTAINER + "/x%d.bak" % i for i in range(65)], database="n"), "at most 64"),
    ("sql_restore", dict(urls=[BLOB, "https://acct2.blob.core.windows.net/backups/a.bak"], database="n"),
     "several containers"),
    ("sql_restore", dict(urls=[BLOB], database="master"), "system databases"),
    ("sql_restore", dict(urls=[BLOB], database="n", stopat="yesterday"), "date and time"),
    ("sql_restore", dict(urls=[BLOB], database="n", data_path="relative\\dir"), "absolute"),
    ("sql_restore", dict(urls=[BLOB]), "needs database"),
]


def test_bad_inputs_fail_before_any_statement(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([task(module, dict(conn, **options)) for module, options, _needle in BAD])
    assert len(result) == len(BAD) >= 25
    for (module, options, needle), outcome in zip(BAD, result):
        assert outcome.failed, (module, options)
        assert needle.lower() in outcome["msg"].lower(), (module, needle, outcome["msg"])
        assert outcome["error"]["kind"] == "invalid_input", outcome["msg"]
    # Validation happens before connecting: the world saw no login and no statement at all.
    assert sqlworld.backend.requests == []


def test_restoring_onto_an_existing_database_is_refused_before_any_write(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([
        task("sql_credential", dict(conn, url=CONTAINER)),
        task("sql_backup", dict(conn, container_url=CONTAINER, databases=["app"]), register="backup"),
        task("sql_restore", dict(conn, urls="{{ backup.backups[0].urls }}", database="app")),
    ])
    writes_before = len(sqlworld.writes())
    assert result[2].failed and "already exists" in result[2]["msg"] and "replace: true" in result[2]["msg"]
    assert len(sqlworld.writes()) == writes_before
    assert not [w for w in sqlworld.writes() if w["text"].startswith("RESTORE DATABASE")]


def test_secrets_never_in_results_diffs_or_verbose_output(sqlworld, ansible):
    # Secrets come from variables, as from a vault: when a task fails, Ansible prints the playbook lines
    # around it, so secrets typed literally into a playbook would show there whatever a module does.
    conn = sqlworld.connection(driver="msodbc", login_password="{{ sa_password }}")
    secrets = dict(sa_password=sqlworld.connection()["login_password"], new_password=SQL_PASSWORD, sas=SAS,
                   wrong_password="Wr0ng-" + SQL_PASSWORD, sas_with_mark="?" + SAS)
    result = ansible([
        task("sql_login", dict(conn, name="svc_reader", login_type="sql", sql_login_password="{{ new_password }}")),
        task("sql_login", dict(conn, name="svc_reader", login_type="sql", sql_login_password="{{ new_password }}",
                               update_password="always")),
        task("sql_credential", dict(conn, url=CONTAINER, identity="sas", sas_token="{{ sas }}")),
        task("sql_credential", dict(conn, url=CONTAINER, identity="sas", sas_token="{{ sas }}", update_secret="always")),
        task("sql_credential", dict(conn, url=CONTAINER, identity="sas", sas_token="{{ sas_with_mark }}")),
        task("sql_login", dict(conn, login_password="{{ wrong_password }}", name="x")),
    ], verbosity=3, diff=True, extra_vars=secrets)
    assert result[0]["changed"] and result[2]["changed"] and result[3]["changed"]
    assert not result[1].failed, result[1]["msg"] if result[1].failed else ""
    assert result[4].failed and result[5].failed and result[5]["error"]["number"] == 18456
    for secret in (SQL_PASSWORD, SAS, "U2VjcmV0U2lnbmF0dXJlVmFsdWU", "Wr0ng-", secrets["sa_password"]):
        assert secret not in result.output, "a secret reached the output"
        assert all(secret not in str(dict(t)) for t in result.tasks)
    assert "holds a secret, not shown" in str(result[2]["statements"])
