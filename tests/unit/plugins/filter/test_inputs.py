"""The role input filters: input_problems (one message per unusable value, secrets redacted) and redact_url."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sqlvm.backup.plugins.filter import inputs

CONTAINER = "https://stsqlbackup01.blob.core.windows.net/backups"
SIG = "sig=Zm9vYmFyYmF6cXV4c2VjcmV0c2lnbmF0dXJl"
SAS = "sv=2022-11-02&ss=b&srt=co&sp=rwl&se=2030-01-01T00:00:00Z&" + SIG


def _one(values, kind, **options):
    problems = inputs.input_problems(values, kind, **options)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize("kind, value, words", [
    ("name", "app ", "leading or trailing blanks"),
    ("name", " app", "leading or trailing blanks"),
    ("name", "app\n", "line break"),
    ("name", "a\rb", "line break"),
    ("name", {"name": "app"}, "dictionary"),
    ("name", True, "not a text"),
    ("guid", "not-a-guid", "not a GUID"),
    ("guid", "00000000-0000-0000-0000-000000000000\n", "line break"),
    ("storage_account", "StSqlBackup01", "lower-case"),
    ("container", "Backups", "lower-case"),
    ("container", "ab", "3-63"),
    ("resource_id", "subscriptions/x", "resource id"),
    ("container_url", CONTAINER + "?" + SAS, "query string"),
    ("container_url", "https://user:pa55word@stsqlbackup01.blob.core.windows.net/backups", "before '@'"),
    ("container_url", "http://stsqlbackup01.blob.core.windows.net/backups", "https://"),
    ("container_url", "https://stsqlbackup01.example.com/backups", "not a blob endpoint"),
    ("container_url", "https://stsqlbackup01.blob.core.windows.net:443/backups", "not a blob endpoint"),
    ("container_url", "https://stsqlbackup01.blob.core.windows.net", "names no container"),
    ("container_url", CONTAINER + "/", "more than the container"),
    ("container_url", CONTAINER + "/x.bak", "more than the container"),
    ("container_url", "https://stsqlbackup01.blob.Core.Windows.net/backups", "upper-case"),
    ("container_url", CONTAINER + " ", "blanks"),
    ("container_url", CONTAINER + "\n", "line breaks"),
    ("blob_url", CONTAINER, "names no blob"),
    ("blob_url", CONTAINER + "/db.bak?" + SAS, "query string"),
    ("blob_url", CONTAINER + "/" + "x" * 1025, "1024"),
])
def test_an_unusable_value_is_named_with_what_to_give(kind, value, words):
    message = _one({"my_var": value}, kind)
    assert message.startswith("my_var "), message
    assert words in message, message
    assert "; give " in message and message.endswith(".")
    assert "sig=" not in message and "pa55word" not in message and "Zm9v" not in message


@pytest.mark.parametrize("kind, value", [
    ("name", "SQL DBAs"), ("name", 2024), ("name", 16.0), ("name", "/var/opt/mssql/data"), ("name", ""), ("name", None),
    ("guid", "6f1c8a52-1b7e-4a3f-9c1d-2e5b8d7f0a11"), ("storage_account", "stsqlbackup01"),
    ("container", "sql-backups"), ("resource_id", "/subscriptions/x/resourceGroups/rg"),
    ("container_url", CONTAINER), ("container_url", "https://acct123.blob.core.sim.test/backups"),
    ("blob_url", CONTAINER + "/sql01/App/App_full_20260101T000000Z_1of2.bak"),
])
def test_a_usable_value_passes(kind, value):
    assert inputs.input_problems({"my_var": value}, kind) == []


def test_a_secret_never_shows_and_the_sas_is_explained():
    message = _one({"backup_ready_container_urls": [CONTAINER, CONTAINER + "?" + SAS]}, "container_url")
    assert message.startswith("backup_ready_container_urls[1] '%s?REDACTED': it has a query string" % CONTAINER)
    assert "sas_token" in message and "managed identity" in message
    assert SIG not in message and "sv=" not in message


def test_lists_and_keys_are_walked_with_their_index():
    logins = [{"name": "SQL DBAs", "server_roles": ["sysadmin", "dbcreator "]},
              {"name": "ops\n", "object_id": "nope"}]
    assert _one({"backup_ready_logins": logins}, "name", key="name").startswith("backup_ready_logins[1].name 'ops\\n'")
    assert _one({"backup_ready_logins": logins}, "name", key="server_roles").startswith(
        "backup_ready_logins[0].server_roles[1] 'dbcreator '")
    assert _one({"backup_ready_logins": logins}, "guid", key="object_id").startswith(
        "backup_ready_logins[1].object_id 'nope'")
    vaults = [{"name": "rsv", "role_assignments": [{"role": "Reader", "scope": "/subscriptions/x"},
                                                   {"role": "Reader", "scope": "rg-sql"}]}]
    assert _one({"vault_identity_vaults": vaults}, "resource_id", key="role_assignments.scope").startswith(
        "vault_identity_vaults[0].role_assignments[1].scope 'rg-sql'")


def test_required_reports_empty_values_and_missing_keys():
    assert _one({"my_rg": ""}, "name", required=True) == "my_rg is empty; give %s." % inputs._WANTED["name"]
    assert _one({"my_urls": []}, "blob_url", required=True).startswith("my_urls is empty; give a blob URL")
    assert _one({"my_vaults": [{"name": "rsv"}]}, "name", key="resource_group", required=True).startswith(
        "my_vaults[0].resource_group is empty")
    assert inputs.input_problems({"my_vaults": [{"name": "rsv"}]}, "name", key="resource_group") == []


@pytest.mark.parametrize("value, options, words", [
    (-1, {"minimum": 0}, "less than 0"),
    ("-3", {"minimum": 0}, "less than 0"),
    (0, {"minimum": 1, "maximum": 65535}, "from 1 to 65535"),
    (70000, {"minimum": 1, "maximum": 65535}, "more than 65535"),
    ("1433x", {}, "not a whole number"),
    (True, {}, "not a whole number"),
])
def test_numbers_out_of_range_or_not_whole_are_refused(value, options, words):
    assert words in _one({"my_number": value}, "number", **options)


def test_numbers_in_range_pass():
    assert inputs.input_problems({"a": 0, "b": "64", "c": 1433}, "number", minimum=0, maximum=65535) == []


def test_a_misused_filter_fails_clearly():
    with pytest.raises(AnsibleFilterError, match="unknown kind"):
        inputs.input_problems({"a": "b"}, "colour")
    with pytest.raises(AnsibleFilterError, match="dict of variable names"):
        inputs.input_problems(["a"], "name")


def test_redact_url():
    assert inputs.redact_url(CONTAINER + "?" + SAS) == CONTAINER + "?REDACTED"
    assert inputs.redact_url("https://u:p@acct.blob.core.windows.net/c") == "https://REDACTED@acct.blob.core.windows.net/c"
    assert inputs.redact_url(CONTAINER) == CONTAINER
    assert inputs.redact_url(None) is None
    assert inputs.FilterModule().filters()["redact_url"] is inputs.redact_url
