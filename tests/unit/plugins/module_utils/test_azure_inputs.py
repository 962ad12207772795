"""Azure-side bad inputs are refused before any request, whatever validator they meet: a GUID or
name with a trailing newline (`re.match` with `$` let it through), CR/LF or other control characters
in names and scopes, a negative principal_wait."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import arm, auth
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import entra_directory_reader as directory
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_info as readiness
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import role_assignment as ra
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_identity as sqlvm
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import backup_vault_identity as vault_identity
from ansible_collections.sqlvm.backup.plugins.module_utils.common import validation
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError

SUB = "11111111-2222-3333-4444-555555555555"
PID = "22222222-2222-3333-4444-555555555555"
ACCOUNT = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct" % SUB


class NoRequests:
    """A session that fails the test if anything asks Azure."""

    subscription_id = SUB

    def __getattr__(self, name):
        raise AssertionError("a request was about to be sent (%s)" % name)


@pytest.mark.parametrize("value", [PID + "\n", PID + "\r\n", "\n" + PID, PID[:-1] + "\n"])
def test_guids_with_line_breaks_are_not_guids(value):
    assert not validation.is_guid(value)


@pytest.mark.parametrize("options,fragment", [
    ({"subscription_id": SUB + "\n"}, "subscription_id"),
    ({"client_id": PID + "\n"}, "client_id"),
])
def test_auth_guids_with_a_trailing_newline_are_refused(options, fragment):
    with pytest.raises(InvalidInputError, match=fragment):
        auth.AuthSettings.from_options_and_env(options, {})


@pytest.mark.parametrize("name", ["rg\n", "rg\r", "r\ng", "rg\t", "rg ", " rg", "rg\x00"])
def test_names_with_line_breaks_or_blanks_are_refused_naming_the_option(name):
    with pytest.raises(InvalidInputError, match="resource_group .* without spaces or line breaks"):
        sqlvm.validate({"resource_group": name, "vm_name": "vm1", "system_assigned": True})
    with pytest.raises(InvalidInputError, match="vm_name"):
        sqlvm.validate({"resource_group": "rg", "vm_name": name, "system_assigned": True})
    with pytest.raises(InvalidInputError, match="vm_name"):
        directory.validate({"resource_group": "rg", "vm_name": name})
    with pytest.raises(InvalidInputError, match="resource_group"):
        readiness.read(NoRequests(), {"resource_group": name, "vm_name": "vm1"})
    with pytest.raises(InvalidInputError, match="name"):
        vault_identity.validate({"resource_group": "rg", "name": name})


@pytest.mark.parametrize("desired,fragment", [
    ({"principal_id": PID + "\n", "scope": ACCOUNT, "role": "Reader"}, "principal_id"),
    ({"principal_id": PID, "scope": ACCOUNT + "\n/x", "role": "Reader"}, "scope .* line break"),
    ({"principal_id": PID, "scope": "/subscriptions/%s\r/resourceGroups/rg" % SUB, "role": "Reader"}, "scope .* line break"),
    ({"principal_id": PID, "scope": ACCOUNT + "\n", "role": "Reader"}, "scope .* line break"),
    ({"principal_id": PID, "scope": ACCOUNT, "role": "Reader\n"}, "role .* line break"),
    ({"principal_id": PID, "resource_group": "rg\n", "storage_account": "acct", "role": "Reader"}, "resource_group"),
    ({"principal_id": PID, "resource_group": "rg", "storage_account": "ac\nct", "role": "Reader"}, "storage_account"),
    ({"principal_id": PID, "resource_group": "rg", "storage_account": "acct", "container": "c\r\n",
      "role": "Reader"}, "container"),
    ({"principal_id": PID, "scope": ACCOUNT, "role": "acdd72a7-3385-48ef-bd42-f606fba81ae7\n/x"}, "role"),
    ({"principal_id": PID, "scope": ACCOUNT, "role": "Reader", "principal_wait": -1}, "principal_wait=-1"),
])
def test_role_assignment_inputs_are_refused(desired, fragment):
    with pytest.raises(InvalidInputError, match=fragment):
        ra.validate_desired(dict(desired), SUB)


@pytest.mark.parametrize("value", [
    "/subscriptions/%s/resourceGroups/r\ng/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id" % SUB,
    "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id\n" % SUB,
    "id-sql\r\nx",
    "id-sql\n",
    " id-sql",
])
def test_user_assigned_identities_with_line_breaks_or_blanks_are_refused_naming_the_option(value):
    # Refused, not trimmed: a value that is not what the option says never names an identity silently.
    with pytest.raises(InvalidInputError, match="user_assigned_identity .*(line break|blanks)"):
        arm.normalize_user_identity(value, SUB, "rg", option="user_assigned_identity")


def test_valid_inputs_still_pass():
    assert validation.is_guid(PID) and validation.is_guid(PID.upper())
    sqlvm.validate({"resource_group": "rg-sql.(x)_1", "vm_name": "vm1", "system_assigned": True})
    desired = ra.validate_desired({"principal_id": PID, "resource_group": "rg", "storage_account": "acct",
                                   "container": "backups", "role": "Reader", "principal_wait": 0}, SUB)
    assert desired["scope"].endswith("/containers/backups")
