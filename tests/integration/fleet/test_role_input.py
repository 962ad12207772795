"""Bad role input fails in the role's first task - before anything is read or changed - with a message naming
the variable and what to give, and no secret in the output; the messages that misled (issue 10)."""
import json

import pytest

from _fleet import ELIGIBLE

SIG = "sig=c2VjcmV0LXNpZ25hdHVyZS1vZi10aGUtdGVzdA%3D"
SAS = "sv=2022-11-02&ss=b&srt=co&sp=rwdl&se=2030-01-01T00:00:00Z&st=2026-01-01T00:00:00Z&spr=https&" + SIG
PASSWORD = "Url-Passw0rd-In-Userinfo"


def _container(fleet, vm="sqlvm-fresh"):
    return fleet.hostvars()[vm]["container_url"]


def _failed_messages(run):
    return [str(r["result"].get("msg", "")) for r in run.records if r["status"] == "failed"]


def assert_refused_before_anything(run, host, *words):
    """The play failed for ``host`` in the input check: no request reached Azure or SQL Server (not even a read),
    the message has ``words``, and no secret shows anywhere."""
    assert run.rc != 0 and run.recap[host]["failed"] == 1, run
    assert run.requests == [], [(e.get("service"), e.get("method"), e.get("route")) for e in run.requests]
    failed = [r for r in run.records if r["status"] == "failed"]
    assert [r["task"].split(" : ")[-1] for r in failed] == ["Check the role's input before anything is read or changed"], failed
    message = _failed_messages(run)[0]
    for word in words:
        assert word in message, message
    everything = run.output + json.dumps(run.records)
    for secret in (SIG, SIG.split("=", 1)[1], PASSWORD):
        assert secret not in everything
    return message


@pytest.mark.parametrize("case, extra_vars, words", [
    ("sas", lambda url: {"container_url": url + "?" + SAS},
     ["backup_ready_container_urls[0]", "?REDACTED", "query string", "sas_token"]),
    ("userinfo", lambda url: {"container_url": url.replace("https://", "https://ops:%s@" % PASSWORD)},
     ["backup_ready_container_urls[0]", "https://REDACTED@", "user name or password"]),
    ("login name blank", lambda url: {"backup_ready_logins": [{"name": "SQL DBAs", "server_roles": ["sysadmin"]},
                                                              {"name": "backup-operator-app "}]},
     ["backup_ready_logins[1].name 'backup-operator-app '", "leading or trailing blanks"]),
    ("login object id and role", lambda url: {"backup_ready_logins": [
        {"name": "SQL DBAs", "object_id": "not-a-guid", "server_roles": ["sysadmin\n"]}]},
     ["backup_ready_logins[0].object_id 'not-a-guid': it is not a GUID",
      "backup_ready_logins[0].server_roles[0] 'sysadmin\\n'"]),
    ("login unknown key", lambda url: {"backup_ready_logins": [{"name": "SQL DBAs", "roles": ["sysadmin"]}]},
     ["backup_ready_logins", "roles"]),
    ("names and numbers", lambda url: {"backup_ready_vm_name": "sqlvm-fresh\n", "backup_ready_sql_port": -1},
     ["backup_ready_vm_name 'sqlvm-fresh\\n'", "line break", "backup_ready_sql_port '-1': it is less than 1"]),
])
def test_backup_ready_refuses_bad_input_before_reading_or_writing(fleet, case, extra_vars, words):
    vm = "sqlvm-fresh"
    verbose = ("-vvv",) if case == "sas" else ()  # not even Ansible's verbose output shows the signature
    run = fleet.play("backup_ready.yml", *verbose, limit=vm, extra_vars=extra_vars(_container(fleet, vm)))

    if case == "login unknown key":  # the role's argument spec refuses it, before the input check
        assert run.rc != 0 and run.requests == [], run
        message = _failed_messages(run)[0]
        assert all(word in message for word in words), message
        return
    assert_refused_before_anything(run, vm, *words)


def test_backup_and_restore_refuse_credential_urls_and_bad_numbers_before_reading(fleet, tmp_path):
    vm = "sqlvm-nostorage"
    url = _container(fleet, vm)
    backup = fleet.play("backup.yml", limit=vm, extra_vars={
        "backup_container_url": url + "?" + SAS, "backup_stripes": -2, "backup_databases": ["app", "app\r\n"],
        "backup_manifest_dir": str(tmp_path)})
    assert_refused_before_anything(backup, vm, "backup_container_url '%s?REDACTED': it has a query string" % url,
                                   "backup_stripes '-2': it is less than 0", "backup_databases[1] 'app\\r\\n'")

    restore = fleet.play("restore.yml", limit=vm, extra_vars={
        "restore_urls": [url + "/app/a_1of2.bak?" + SAS, url.replace("https://", "https://ops:%s@" % PASSWORD)
                         + "/app/a_2of2.bak"],
        "restore_database": "app_copy "})
    assert_refused_before_anything(restore, vm, "restore_urls[0] '%s/app/a_1of2.bak?REDACTED'" % url,
                                   "restore_urls[1] 'https://REDACTED@", "restore_database 'app_copy '")


def test_restore_of_a_database_never_backed_up_says_what_is_missing_and_writes_nothing(fleet):
    vm = "sqlvm-nostorage"
    run = fleet.play("restore.yml", limit=vm, extra_vars={"restore_source_database": "app"})

    assert run.rc != 0 and run.recap[vm]["failed"] == 1, run
    assert run.writes == [], run.writes
    message = _failed_messages(run)[0]
    assert "no restore chain of app reaches latest" in message and "no full backup" in message, message
    assert "Nothing was restored" in message, message


def test_vault_identity_refuses_bad_vaults_before_reading(fleet):
    run = fleet.play("vault_identity.yml", extra_vars={"vault_identity_vaults": [
        {"resource_group": "rg-sql", "name": "rsv-sql ", "role_assignments": [
            {"role": "Storage Blob Data Contributor", "scope": "stsqlbackup01"}]}]})

    assert_refused_before_anything(run, "localhost", "vault_identity_vaults[0].name 'rsv-sql '",
                                   "vault_identity_vaults[0].role_assignments[0].scope 'stsqlbackup01'")


def test_backup_reports_the_platform_reason_of_hosts_that_cannot_back_up_and_skips_them(fleet, tmp_path):
    hosts = {"sqlvm-2019": "older than SQL Server 2022", "sqlvm-linux": "Windows only"}
    run = fleet.play("backup.yml", limit=",".join(hosts), extra_vars={"backup_manifest_dir": str(tmp_path)})

    assert run.rc == 0, run
    assert run.writes == []
    for vm, words in hosts.items():
        assert run.recap[vm]["failed"] == 0 and run.recap[vm]["changed"] == 0, run
        reports = [r["result"].get("msg", "") for r in run.tasks(host=vm, name="Report a host that cannot back up")]
        assert reports and words in reports[0], (vm, reports)
        assert "no credential" not in reports[0], reports[0]
        assert [r for r in run.tasks(host=vm, action="sql_backup") if r["status"] != "skipped"] == []


def test_check_mode_with_the_probe_predicts_it_on_a_fresh_vm(fleet):
    vm = "sqlvm-fresh"
    assert vm in ELIGIBLE
    run = fleet.play("backup_ready.yml", "-e", "backup_ready_probe=true", check=True, limit=vm)

    assert run.rc == 0, run
    assert run.writes == []
    predicted = [r["result"]["msg"] for r in run.tasks(host=vm, name="Probe - predict it") if r["status"] == "ok"]
    assert predicted and "would run the probe" in predicted[0], run
    assert "the managed-identity credential" in predicted[0] and "the primary identity" in predicted[0]
    assert [r for r in run.tasks(host=vm, action="sql_backup") if r["status"] != "skipped"] == []
