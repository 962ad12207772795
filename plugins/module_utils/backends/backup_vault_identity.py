# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Managed identities of Recovery Services vaults and Data Protection backup vaults.

REST (Azure/azure-rest-api-specs):
- Microsoft.RecoveryServices/vaults: ``PATCH`` with ``identity: {type: SystemAssigned | UserAssigned |
  "SystemAssigned, UserAssigned" | None, userAssignedIdentities: {<id>: {}}}`` (long-running) —
  specification/recoveryservices/resource-manager/Microsoft.RecoveryServices/stable/2023-04-01/vaults.json,
  example PatchVault_WithCMK2.json.
- Microsoft.DataProtection/backupVaults: ``PATCH`` with ``identity`` (DppIdentityDetails; type
  "SystemAssigned,UserAssigned" without a space) answering 202 + Azure-AsyncOperation —
  specification/dataprotection/resource-manager/Microsoft.DataProtection/stable/2024-04-01/dataprotection.json,
  example VaultCRUD/PatchBackupVault.json.
Both kinds of identity may be enabled at once; the system-assigned one is enabled after the vault is
created (Microsoft Learn "Encryption of backup data using customer-managed keys", section "Enable managed
identity for your Recovery Services vault").
"""
from __future__ import annotations

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import (
    NAME_RE,
    USER_ASSIGNED_IDENTITIES,
    api_version,
    arm_get,
    arm_write,
    normalize_user_identity,
    typed_resource_id,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.managed_identity import (
    SYSTEM,
    plan_identity,
    predict_identity,
    summarize_identity,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.diffing import DifferenceTracker
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, PrerequisiteError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result

MSI_API_VERSION = api_version(USER_ASSIGNED_IDENTITIES)

VAULT_KINDS = {
    "recovery_services": {
        "provider": "Microsoft.RecoveryServices/vaults",
        "api_version": api_version("Microsoft.RecoveryServices/vaults"),
        "both": "SystemAssigned, UserAssigned",
        "label": "Recovery Services vault",
    },
    "backup_vault": {
        "provider": "Microsoft.DataProtection/backupVaults",
        "api_version": api_version("Microsoft.DataProtection/backupVaults"),
        "both": "SystemAssigned,UserAssigned",
        "label": "Backup vault",
    },
}


def vault_id(subscription_id, resource_group, kind, name):
    return typed_resource_id(subscription_id, resource_group, VAULT_KINDS[kind]["provider"], name)


def validate(desired):
    kind = desired.get("vault_type") or "recovery_services"
    if kind not in VAULT_KINDS:
        raise InvalidInputError("vault_type must be one of %s" % ", ".join(sorted(VAULT_KINDS)))
    desired["vault_type"] = kind
    for key in ("resource_group", "name"):
        if not desired.get(key) or not NAME_RE.fullmatch(desired[key]):
            raise InvalidInputError(
                "%s %r is not a valid Azure resource name; give the name as the portal shows it: letters, "
                "digits, '-', '_', '.', '(' or ')', starting with a letter or digit" % (key, desired.get(key)))
    if not desired.get("system_assigned") and not desired.get("user_assigned") and not desired.get("exclusive"):
        raise InvalidInputError("nothing to do: set system_assigned=true and/or list user_assigned identities")
    return desired


def principal_ids(identity):
    """{'system': id or None, '<uai id>': principal id, …} — inputs for role_assignment."""
    summary = summarize_identity(identity)
    ids = {"system": summary["principal_id"]}
    for entry in summary["user_assigned"]:
        ids[entry["id"]] = entry["principal_id"]
    return ids


def ensure(session, desired, check_mode):
    """The vault's identities as desired -> Result."""
    validate(desired)
    kind = VAULT_KINDS[desired["vault_type"]]
    sub = session.subscription_id
    users = [normalize_user_identity(u, sub, desired["resource_group"]) for u in desired.get("user_assigned") or []]
    path = vault_id(sub, desired["resource_group"], desired["vault_type"], desired["name"])
    vault = arm_get(session, path, kind["api_version"])
    if vault is None:
        raise PrerequisiteError(
            "%s %s/%s not found; create the vault first or fix name/resource_group/vault_type"
            % (kind["label"], desired["resource_group"], desired["name"]))
    current = vault.get("identity") or {"type": "None"}
    patch, added, removed = plan_identity(current, desired.get("system_assigned"), users,
                                          desired.get("exclusive"), kind["both"])
    details = {}
    for rid in added:
        if rid != SYSTEM:
            uai = arm_get(session, rid, MSI_API_VERSION)
            if uai is None:
                raise InvalidInputError("user-assigned identity %s does not exist; create it first" % rid)
            details[rid.lower()] = uai
    after_identity = predict_identity(current, patch, details)
    if patch is not None and not check_mode:
        updated = arm_write(session, "PATCH", vault.get("id") or path, kind["api_version"], {"identity": patch},
                            operation="enable managed identities on %s %s" % (kind["label"], desired["name"]))
        if not updated or "identity" not in updated:
            updated = arm_get(session, path, kind["api_version"]) or {}
        after_identity = updated.get("identity") or after_identity
    changes = []
    if added:
        changes.append({"action": "enable", "identities": added})
    if removed:
        changes.append({"action": "disable", "identities": removed})
    tracker = DifferenceTracker()
    before, after = summarize_identity(current), summarize_identity(after_identity)
    for key in before:
        tracker.add(key, before[key], after[key], differs=before[key] != after[key])
    return Result(bool(changes), tracker.before(), tracker.after(), identity=after,
                  principal_ids=principal_ids(after_identity), principal_id=after["principal_id"], changes=changes)
