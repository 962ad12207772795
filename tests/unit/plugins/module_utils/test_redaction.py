"""Secrets never survive redact / redact_url, and what is not secret is left readable."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, SqlServerError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.redaction import (
    REDACTED, redact, redact_data, redact_url, url_secret_parts, url_secret_problem)

SIG = "Zm9vYmFyc2VjcmV0c2lnbmF0dXJl%3D"
JWT = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL2V4YW1wbGUifQ.c2lnbmF0dXJlLXBhcnQ"


@pytest.mark.parametrize("text, secret", [
    ("https://acct.blob.core.windows.net/c?sv=2022-11-02&sr=c&sig=%s&se=2030-01-01" % SIG, SIG),
    ("https://acct.blob.core.windows.net/c?SIG=%s" % SIG, SIG),
    ("url 'https://acct.blob.core.windows.net/c?sp=rw&sig=%s' is wrong" % SIG, SIG),
    ("https://admin:Pa55word!@acct.blob.core.windows.net/c", "Pa55word!"),
    ("Authorization: Bearer %s" % JWT, JWT),
    ("token %s expired" % JWT, JWT),
    ("DRIVER={ODBC Driver 18};SERVER=x;UID=sa;PWD=Pa55word!;Encrypt=yes", "Pa55word!"),
    ("DRIVER=x;PWD={Pa;55word};", "Pa;55word"),
    ("grant_type=client_credentials&client_secret=s3cr3tValue&scope=x", "s3cr3tValue"),
    ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=a2V5a2V5a2V5==;", "a2V5a2V5a2V5=="),
])
def test_redact_removes_the_secret(text, secret):
    redacted = redact(text)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize("text", [
    "https://acct.blob.core.windows.net/backups",
    "CREATE LOGIN [dba@contoso.com] FROM EXTERNAL PROVIDER",
    "SQL Server error 18456: Login failed for user 'sa'.",
    "the secret option is missing",
])
def test_redact_keeps_plain_text(text):
    assert redact(text) == text


def test_redact_url_drops_query_and_userinfo():
    assert redact_url("https://u:p@acct.blob.core.windows.net/c?sv=1&sig=%s" % SIG) == \
        "https://%s@acct.blob.core.windows.net/c?%s" % (REDACTED, REDACTED)
    assert redact_url("https://acct.blob.core.windows.net/c") == "https://acct.blob.core.windows.net/c"


@pytest.mark.parametrize("url, problem", [
    ("https://acct.blob.core.windows.net/c?sig=1", "query string"),
    ("https://acct.blob.core.windows.net/c#frag", "query string"),
    ("https://u:p@acct.blob.core.windows.net/c", "user name or password"),
    ("https://acct.blob.core.windows.net/c", None),
])
def test_url_secret_problem(url, problem):
    found = url_secret_problem(url)
    assert (found is None) if problem is None else (problem in found)


def test_redact_data_walks_nested_values():
    data = {"a": ["x?sig=%s" % SIG, ("PWD=p1",)], "b": 3}
    assert SIG not in repr(redact_data(data)) and "p1" not in repr(redact_data(data))
    assert redact_data(data)["b"] == 3


def test_errors_redact_their_message_and_details():
    error = InvalidInputError("url https://a.blob.core.windows.net/c?sig=%s is wrong" % SIG,
                              fix="use https://a.blob.core.windows.net/c?sig=%s" % SIG, url="x?sig=%s" % SIG)
    result = error.to_result()
    assert SIG not in repr(result) and SIG not in str(error)
    sql = SqlServerError(18456, "Login failed; PWD=Pa55word! rejected", "login")
    assert "Pa55word!" not in sql.msg


@pytest.mark.parametrize("url, secret", [
    ("https://acct.blob.core.windows.net/c?sv=2022-11-02&sig=%s" % SIG, SIG),
    ("https://acct.blob.core.windows.net/c&sv=2022-11-02&sig=%s" % SIG, SIG),
    ("https://admin:Pa55word!@acct.blob.core.windows.net/c", "Pa55word!"),
])
def test_url_secret_parts_cover_the_secret_and_url_secret_problem_names_it(url, secret):
    parts = url_secret_parts(url)
    masked = url
    for part in parts:
        masked = masked.replace(part, "****")
    assert secret not in masked and "acct.blob.core.windows.net" in masked
    assert url_secret_problem(url)
