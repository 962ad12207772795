# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The managed identities of an ARM resource (VMs, Recovery Services vaults, backup vaults all use one
shape, ``identity: {type, principalId, tenantId, userAssignedIdentities: {id: {principalId, clientId}}}``):
read it, plan the PATCH that adds or removes identities, predict the result, summarize it. Pure functions.

Azure REST API reference: Compute VirtualMachineIdentity (a user-assigned entry set to null detaches it),
Recovery Services vaults and Data Protection backup vaults (``identity`` on PATCH).
"""

from __future__ import annotations

SYSTEM = "system"


def identity_types(identity):
    """(has_system, {lowercased uai id: (original id, entry)}) from an ARM identity object."""
    identity = identity or {}
    kinds = {k.strip().lower() for k in str(identity.get("type") or "None").split(",")}
    uais = {}
    for key, entry in (identity.get("userAssignedIdentities") or {}).items():
        if entry is None:
            continue
        uais[key.lower()] = (key, entry or {})
    return "systemassigned" in kinds, uais


def identity_type_string(system, user, both="SystemAssigned, UserAssigned"):
    if system and user:
        return both
    if system:
        return "SystemAssigned"
    if user:
        return "UserAssigned"
    return "None"


def plan_identity(current, want_system, want_user_ids, exclusive=False, both="SystemAssigned, UserAssigned"):
    """Decide the identity PATCH body that adds (and with ``exclusive`` removes) identities.

    Returns ``(patch_identity or None, added, removed)`` where ``added``/``removed`` name what
    changes: ``'system'`` or user-assigned resource ids. Ids compare case-insensitively because
    ARM echoes resource-group segments in varying case.
    """
    has_system, uais = identity_types(current)
    wanted = {}
    for rid in want_user_ids or ():
        wanted.setdefault(rid.lower(), rid)
    added, removed = [], []
    new_system = has_system
    if want_system and not has_system:
        new_system = True
        added.append(SYSTEM)
    elif exclusive and has_system and not want_system:
        new_system = False
        removed.append(SYSTEM)
    for key, rid in wanted.items():
        if key not in uais:
            added.append(rid)
    if exclusive:
        for key, (rid, _entry) in uais.items():
            if key not in wanted:
                removed.append(rid)
    if not added and not removed:
        return None, [], []
    keep = {k for k in uais if k in wanted or not exclusive}
    final_user = bool(keep or wanted)
    patch = {"type": identity_type_string(new_system, final_user, both)}
    user_map = {}
    for key in wanted:
        if key not in uais:
            user_map[wanted[key]] = {}
    for rid in removed:
        if rid != SYSTEM and final_user:
            user_map[rid] = None  # null detaches it (Compute VirtualMachineIdentity docs)
    if user_map:
        patch["userAssignedIdentities"] = user_map
    return patch, added, removed


def predict_identity(current, patch, uai_details):
    """The identity ARM will report after ``patch`` (principal ids of new ones unknown)."""
    if patch is None:
        return current or {"type": "None"}
    has_system, uais = identity_types(current)
    kinds = {k.strip().lower() for k in patch["type"].split(",")}
    result = {"type": patch["type"]}
    if "systemassigned" in kinds:
        if has_system:
            result["principalId"] = (current or {}).get("principalId")
            result["tenantId"] = (current or {}).get("tenantId")
        else:
            result["principalId"] = None
    user = {}
    if "userassigned" in kinds:
        for rid, entry in uais.values():
            if (patch.get("userAssignedIdentities") or {}).get(rid, {}) is not None:
                user[rid] = entry
        for rid, value in (patch.get("userAssignedIdentities") or {}).items():
            if value is not None and rid.lower() not in uais:
                details = uai_details.get(rid.lower()) or {}
                props = details.get("properties") or {}
                user[rid] = {"principalId": props.get("principalId"), "clientId": props.get("clientId")}
        result["userAssignedIdentities"] = user
    return result


def find_user_identity(identity, rid):
    _system, uais = identity_types(identity)
    found = uais.get(rid.lower())
    return found[1] if found else None


def summarize_identity(identity):
    """Snake-case summary for results and diffs."""
    has_system, uais = identity_types(identity)
    return {
        "type": (identity or {}).get("type") or "None",
        "system_assigned": has_system,
        "principal_id": (identity or {}).get("principalId") if has_system else None,
        "tenant_id": (identity or {}).get("tenantId"),
        "user_assigned": sorted(
            ({"id": rid, "principal_id": entry.get("principalId"), "client_id": entry.get("clientId")}
             for rid, entry in uais.values()),
            key=lambda e: e["id"].lower()),
    }
