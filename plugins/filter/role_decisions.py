# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions the roles take from what sqlvm_info and sql_info read (documented in the sidecar .yml files).

Kept here rather than in Jinja so that each rule is written once, named, and unit-tested:
- ``primary_identity_choice``: which identity backup_ready makes primary for Entra authentication;
- ``storage_resource_id``: the storage account or container resource id the storage role is checked on,
  built by the ARM resource-id helpers (module_utils/azure/arm.py);
- ``sql_platform_reasons``: why SQL Server itself cannot back up to URL with a managed identity;
- ``ineligible_reasons``: every reason a VM cannot qualify, from Azure, SQL Server and the inventory.

The rules come from Microsoft Learn "Backup and restore to URL using managed identities" (Limitations) and
"Enable Microsoft Entra authentication for SQL Server on Azure VMs"; README "How it flows" has the roles' steps.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import resource_id

SYSTEM = "system"
AUTO = "auto"

# sql_info's reasons that backup_ready fixes (tags logins and credential): they do not make a VM ineligible.
_FIXABLE_SQL_REASON = re.compile(r"no 'Managed Identity' credential|no Microsoft Entra logins")
_SQL_VM_UNREAD = "the SQL virtual machine resource could not be read"
_LINUX = "the inventory says the VM runs Linux; backup to URL with a managed identity needs Windows"


def _as_dict(value):
    return value if isinstance(value, dict) else {}


def _checks(sqlvm_info):
    return _as_dict(_as_dict(sqlvm_info).get("checks"))


def _current_primary(checks):
    """The identity already primary for Entra authentication, when it works: 'system', a user-assigned
    identity's resource id, or '' (none, or one the VM does not have)."""
    entra = _as_dict(checks.get("entra_authentication"))
    if not entra.get("ready"):
        return ""
    client_id = entra.get("primary_client_id")
    if client_id == "":
        return SYSTEM
    identities = _as_dict(_as_dict(checks.get("vm_identity")).get("vm_identity"))
    for identity in identities.get("user_assigned") or ():
        # Client ids are GUIDs: compared without regard to case, as sqlvm_info matched them.
        identity = _as_dict(identity)
        if client_id and str(identity.get("client_id") or "").lower() == str(client_id).lower():
            return identity.get("id") or ""
    return ""


def primary_identity_choice(sqlvm_info, wanted=AUTO):
    """The identity to make primary: ``wanted`` unless it is 'auto'; for 'auto' the working primary identity,
    else 'system' when the VM has a system-assigned identity or no user-assigned one, else the VM's first
    user-assigned identity (its resource id)."""
    if wanted != AUTO:
        return wanted
    checks = _checks(sqlvm_info)
    current = _current_primary(checks)
    if current:
        return current
    identities = _as_dict(_as_dict(checks.get("vm_identity")).get("vm_identity"))
    user_assigned = identities.get("user_assigned") or []
    if identities.get("system_assigned") or not user_assigned:
        return SYSTEM
    return _as_dict(user_assigned[0]).get("id") or ""


def storage_resource_id(account, subscription_id, resource_group, container=None):
    """Resource id of the storage account, or of its blob container when ``container`` is given; '' without
    an account (storage access is then not checked)."""
    if not account:
        return ""
    missing = [name for name, value in (("subscription_id", subscription_id), ("resource_group", resource_group))
               if not value]
    if missing:
        raise AnsibleFilterError("storage_resource_id: %s of storage account %r is empty; set the host variable "
                                 "subscription_id (or AZURE_SUBSCRIPTION_ID) and storage_resource_group or "
                                 "resource_group." % (" and ".join(missing), account))
    parts = [("storageAccounts", account)]
    if container:
        parts += [("blobServices", "default"), ("containers", container)]
    return resource_id(subscription_id, resource_group, "Microsoft.Storage", *parts)


def sql_platform_reasons(sql_info):
    """Why SQL Server cannot back up to URL with a managed identity (its version, platform or clustering), from a
    registered sql_info result; [] when it can, or when SQL Server was not read (skipped)."""
    result = _as_dict(sql_info)
    if result.get("managed_identity_backup_supported", True) is not False:
        return []
    return [reason for reason in result.get("reasons") or () if not _FIXABLE_SQL_REASON.match(str(reason))]


def ineligible_reasons(sqlvm_info, sql_reasons=None, os_type=""):
    """Every reason the VM cannot qualify, each once, in order: the SQL virtual machine resource, Azure's
    platform check, SQL Server's own refusals (``sql_reasons``, see sql_platform_reasons), and an inventory
    that says Linux when Azure did not already say so. [] when the VM can qualify."""
    checks = _checks(sqlvm_info)
    sql_vm = _as_dict(checks.get("sql_vm_resource"))
    platform = _as_dict(checks.get("platform"))
    reasons = []
    if not sql_vm.get("ready"):
        reasons.append(sql_vm.get("reason", _SQL_VM_UNREAD))
    platform_ready = platform.get("ready", True)
    if not platform_ready:
        reasons.append(platform.get("reason"))
    reasons += list(sql_reasons or [])
    if str(os_type or "").lower() == "linux" and platform_ready:
        reasons.append(_LINUX)
    unique = []
    for reason in reasons:
        if reason not in unique:
            unique.append(reason)
    return unique


class FilterModule:
    def filters(self):
        return {
            "primary_identity_choice": primary_identity_choice,
            "storage_resource_id": storage_resource_id,
            "sql_platform_reasons": sql_platform_reasons,
            "ineligible_reasons": ineligible_reasons,
        }
