# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention of backup blobs: one named rule in a storage account's lifecycle management policy.

REST (Azure/azure-rest-api-specs, specification/storage/resource-manager/Microsoft.Storage/stable/2023-05-01/
storage.json, "ManagementPolicies"): one policy per account, named ``default``; ``PUT`` replaces the whole
policy (every rule), ``DELETE`` removes it; ``GET`` answers 404 when the account has none. Rules ("Azure Blob
Storage lifecycle management overview"): at least one and at most 100 per policy; a rule name is up to 256
alphanumeric characters, case-sensitive and unique in the policy; a ``prefixMatch`` entry starts with a
container name; up to 10 prefixes per rule.

Only the rule named ``rule_name`` is ours: every other rule of the policy is sent back unchanged. As the PUT
carries the whole policy and has no ETag, two writers of one account can lose each other's rules; the rule is
therefore read back after the write and the read-modify-write repeated when a concurrent writer removed it.
"""
from __future__ import annotations

import random
import re
import time

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import (
    STORAGE_ACCOUNTS,
    api_version,
    arm_get,
    arm_write,
    check_names,
    management_policy_id,
    storage_scope,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.diffing import DifferenceTracker
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, PrerequisiteError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import (
    CONTAINER_RE,
    STORAGE_ACCOUNT_RE,
    check_text,
)

STORAGE_API_VERSION = api_version(STORAGE_ACCOUNTS)
RULE_NAME_RE = re.compile(r"^[A-Za-z0-9]{1,256}\Z")
MAX_RULES = 100
BLOB_NAME_LIMIT = 1024
WRITE_ATTEMPTS = 4


# ---------------------------------------------------------------------------------------------
# pure parts

def default_rule_name(container, prefix=None):
    """'sqlvmbackup' + the container and prefix with every character that is not a letter or digit dropped,
    cut to the 256 characters a rule name may have."""
    return ("sqlvmbackup" + re.sub(r"[^A-Za-z0-9]", "", container + (prefix or "")))[:256]


def prefix_match(container, prefix=None):
    """The lifecycle filter for blobs under ``container/prefix``. Without a prefix the container name ends in
    '/': 'backups' alone would also match the blobs of a container named 'backups-2025'."""
    return "%s/%s" % (container, (prefix or "").lstrip("/"))


def validate(desired):
    """Checked before any request; raises InvalidInputError naming the option."""
    check_names(desired, ("resource_group",), required=("resource_group",))
    account = desired.get("storage_account")
    check_text(account or "", "storage_account", "the storage account name")
    if not STORAGE_ACCOUNT_RE.fullmatch(account or ""):
        raise InvalidInputError("storage_account %r is not a storage account name: give 3-24 lowercase letters and "
                                "digits, as the portal shows it (not the blob endpoint URL)" % account)
    container = desired.get("container")
    check_text(container or "", "container", "the container name")
    if not CONTAINER_RE.fullmatch(container or ""):
        raise InvalidInputError("container %r is not a blob container name: give 3-63 lowercase letters, digits and "
                                "single hyphens, starting and ending with a letter or digit" % container)
    prefix = desired.get("prefix") or ""
    if prefix:
        check_text(prefix, "prefix", "the blob name prefix")
        if prefix.startswith("/") or "\\" in prefix or len(prefix) > BLOB_NAME_LIMIT:
            raise InvalidInputError("prefix %r must be the start of blob names inside the container, without a leading "
                                    "'/' or backslashes, at most %d characters (for example 'sqlvm01/')"
                                    % (prefix, BLOB_NAME_LIMIT))
    desired["rule_name"] = desired.get("rule_name") or default_rule_name(container, prefix)
    if not RULE_NAME_RE.fullmatch(desired["rule_name"]):
        raise InvalidInputError("rule_name %r is not a lifecycle rule name: give 1-256 letters and digits only "
                                "(Azure refuses other characters)" % desired["rule_name"])
    if (desired.get("state") or "present") == "present":
        days = desired.get("days")
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise InvalidInputError("days must be a whole number of days of at least 1 after which backup blobs are "
                                    "deleted; keep it longer than your full backup interval plus the point-in-time "
                                    "window you need (see the module's notes)")
        cool = desired.get("cool_after_days")
        if cool is not None and (isinstance(cool, bool) or not isinstance(cool, int) or cool < 0 or cool >= days):
            raise InvalidInputError("cool_after_days must be a whole number from 0 to days - 1 (%d), or left out"
                                    % (days - 1))
    return desired


def build_rule(desired):
    """The lifecycle rule as ARM takes it."""
    base_blob = {"delete": {"daysAfterModificationGreaterThan": desired["days"]}}
    if desired.get("cool_after_days") is not None:
        base_blob["tierToCool"] = {"daysAfterModificationGreaterThan": desired["cool_after_days"]}
    actions = {"baseBlob": base_blob}
    if desired.get("delete_versions"):
        # With blob versioning on, a deleted backup lives on as a previous version (and is billed) until this
        # action removes it.
        actions["version"] = {"delete": {"daysAfterCreationGreaterThan": desired["days"]}}
    return {"enabled": bool(desired.get("enabled", True)), "name": desired["rule_name"], "type": "Lifecycle",
            "definition": {"filters": {"blobTypes": ["blockBlob"],
                                       "prefixMatch": [prefix_match(desired["container"], desired.get("prefix"))]},
                           "actions": actions}}


def rule_summary(rule):
    """What a rule does, in the form rules are compared in (None for no rule). ARM may add defaults and
    echo lists in another order; only what a rule means is compared."""
    if not rule:
        return None
    definition = rule.get("definition") or {}
    filters = definition.get("filters") or {}
    actions = definition.get("actions") or {}
    base_blob = actions.get("baseBlob") or {}

    def days(action, key="daysAfterModificationGreaterThan"):
        value = (action or {}).get(key)
        return int(value) if isinstance(value, (int, float)) else value

    summary = {
        "name": rule.get("name"),
        "enabled": rule.get("enabled", True) is not False,
        "blob_types": sorted(filters.get("blobTypes") or ()),
        "prefix_match": sorted(filters.get("prefixMatch") or ()),
        "delete_after_days": days(base_blob.get("delete")),
        "cool_after_days": days(base_blob.get("tierToCool")),
        "delete_versions_after_days": days((actions.get("version") or {}).get("delete"), "daysAfterCreationGreaterThan"),
    }
    others = sorted(key for key in base_blob if key not in ("delete", "tierToCool"))
    others += sorted("%s.%s" % (group, key) for group in actions if group not in ("baseBlob", "version")
                     for key in (actions.get(group) or {}))
    others += sorted("version.%s" % key for key in (actions.get("version") or {}) if key != "delete")
    if others:
        summary["other_actions"] = others
    if filters.get("blobIndexMatch"):
        summary["blob_index_match"] = filters["blobIndexMatch"]
    return summary


def plan_rules(rules, desired):
    """(new rule list or None when the policy is to be deleted, our rule before, our rule after)."""
    name = desired["rule_name"]
    ours = [rule for rule in rules if rule.get("name") == name]
    before = ours[0] if ours else None
    others = [rule for rule in rules if rule.get("name") != name]
    if (desired.get("state") or "present") == "absent":
        return (others or None), before, None
    after = build_rule(desired)
    if before is not None:
        # Keep our rule where it was, so the policy reads as before apart from the change.
        index = rules.index(before)
        new = list(rules)
        new[index] = after
    else:
        new = others + [after]
    return new, before, after


def sooner_deleters(rules, desired):
    """Other enabled rules that delete blobs under our prefix sooner than ``days``: a warning, because they,
    not this rule, decide how long the backups live."""
    ours = prefix_match(desired["container"], desired.get("prefix"))
    found = []
    for rule in rules:
        if rule.get("name") == desired["rule_name"] or rule.get("enabled") is False:
            continue
        summary = rule_summary(rule)
        covers = not summary["prefix_match"] or any(ours.startswith(p) or p.startswith(ours)
                                                    for p in summary["prefix_match"])
        if covers and summary["delete_after_days"] is not None and summary["delete_after_days"] < desired["days"]:
            found.append("lifecycle rule %r deletes blobs under %s after %s days, sooner than the %d days asked for"
                         % (rule.get("name"), ", ".join(summary["prefix_match"]) or "the whole account",
                            summary["delete_after_days"], desired["days"]))
    return found


# ---------------------------------------------------------------------------------------------
# reads and writes

def _read_rules(session, path):
    policy = arm_get(session, path, STORAGE_API_VERSION)
    if policy is None:
        return []
    return list((((policy.get("properties") or {}).get("policy") or {}).get("rules")) or ())


def ensure(session, desired, check_mode):
    """The retention rule as desired -> Result."""
    validate(desired)
    sub, group, account = session.subscription_id, desired["resource_group"], desired["storage_account"]
    account_path = storage_scope(sub, group, account)
    if arm_get(session, account_path, STORAGE_API_VERSION) is None:
        raise PrerequisiteError("storage account %s was not found in resource group %s (subscription %s); check "
                                "storage_account and resource_group" % (account, group, sub))
    warnings = []
    container_path = storage_scope(sub, group, account, desired["container"])
    if arm_get(session, container_path, STORAGE_API_VERSION) is None:
        warnings.append("container %s does not exist in %s yet; the rule applies to it once it is created"
                        % (desired["container"], account))
    path = management_policy_id(sub, group, account)
    rules = _read_rules(session, path)
    new_rules, before, after = plan_rules(rules, desired)
    changed = rule_summary(before) != rule_summary(after)
    if after is not None:
        warnings.extend(sooner_deleters(rules, desired))
    if changed and new_rules is not None and len(new_rules) > MAX_RULES:
        raise PrerequisiteError("the lifecycle policy of %s already has %d rules, the most Azure allows; remove "
                                "a rule or give an existing rule's name as rule_name" % (account, MAX_RULES))
    if changed and not check_mode:
        _write(session, path, rules, desired, account)
    tracker = DifferenceTracker()
    tracker.add("rule", rule_summary(before) or {}, rule_summary(after) or {})
    return Result(changed, tracker.before(), tracker.after(), warnings, rule=after,
                  rule_name=desired["rule_name"], policy_id=path)


def _write(session, path, rules, desired, account):
    """PUT (or DELETE) the policy, then read our rule back; when a concurrent writer's PUT of the same policy
    undid ours, plan again on what is there now and write again."""
    operation = "set the lifecycle rule %s on storage account %s" % (desired["rule_name"], account)
    for attempt in range(WRITE_ATTEMPTS):
        new_rules, _before, after = plan_rules(rules, desired)
        if new_rules is None:
            arm_write(session, "DELETE", path, STORAGE_API_VERSION, None, operation=operation, long_running=False)
        else:
            arm_write(session, "PUT", path, STORAGE_API_VERSION, {"properties": {"policy": {"rules": new_rules}}},
                      operation=operation, long_running=False)
        rules = _read_rules(session, path)
        current = [rule for rule in rules if rule.get("name") == desired["rule_name"]]
        if rule_summary(current[0] if current else None) == rule_summary(after):
            return
        if attempt + 1 < WRITE_ATTEMPTS:
            time.sleep(random.uniform(0.5, 2.0) * (attempt + 1))  # nosec B311 - spreading retries, not security
    raise PrerequisiteError("another writer kept replacing the lifecycle policy of %s (%d attempts); run the task "
                            "again when the other change has finished" % (account, WRITE_ATTEMPTS))
