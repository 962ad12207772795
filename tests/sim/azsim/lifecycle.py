"""Storage lifecycle management policies (Microsoft.Storage/storageAccounts/managementPolicies), as
Azure/azure-rest-api-specs specification/storage/resource-manager/Microsoft.Storage/stable/2023-05-01/storage.json
("ManagementPolicies_Get", "_CreateOrUpdate", "_Delete"; examples StorageAccountSetManagementPolicy.json,
StorageAccountGetManagementPolicy.json) and learn.microsoft.com "Azure Blob Storage lifecycle management
overview" describe them:

* one policy per account, whose name is always ``default`` (any other name: 400);
* PUT replaces the whole policy and answers 200 with it and ``lastModifiedTime``; DELETE answers 200 (204 when
  there was none); GET answers 404 when the account has no policy;
* a policy has 1 to 100 rules; a rule name is 1-256 alphanumeric characters, case-sensitive, unique in the
  policy; ``type`` is ``Lifecycle``; a definition has ``actions`` with at least one action; ``blobTypes`` is
  required (``blockBlob`` / ``appendBlob``); up to 10 ``prefixMatch`` entries per rule; day counts are whole
  numbers from 0.
The 404 code for a missing policy is not in the spec; ``ManagementPolicyNotFound`` is what the service's
error reference names for it. The policy is only stored: the world does not run it (Azure runs policies
about once a day).
"""
import copy
import re

from .world import now_iso

RULE_NAME_RE = re.compile(r"^[A-Za-z0-9]{1,256}$")
BLOB_TYPES = ("blockBlob", "appendBlob")
ACTION_GROUPS = {
    "baseBlob": ("tierToCool", "tierToCold", "tierToArchive", "tierToHot", "delete", "enableAutoTierToHotFromCool"),
    "snapshot": ("tierToCool", "tierToCold", "tierToArchive", "tierToHot", "delete"),
    "version": ("tierToCool", "tierToCold", "tierToArchive", "tierToHot", "delete"),
}
DAY_KEYS = ("daysAfterModificationGreaterThan", "daysAfterLastAccessTimeGreaterThan", "daysAfterCreationGreaterThan",
            "daysAfterLastTierChangeGreaterThan")


def rule_problem(rule, index):
    """None, or the message of the 400 a rule earns."""
    where = "rules[%d]" % index
    if not isinstance(rule, dict):
        return "%s must be an object" % where
    name = rule.get("name")
    if not isinstance(name, str) or not RULE_NAME_RE.match(name):
        return "Rule name %r is invalid. A rule name can contain any combination of alpha numeric characters." % name
    if rule.get("type") != "Lifecycle":
        return "The rule type of rule '%s' is invalid. The valid value is Lifecycle." % name
    if "enabled" in rule and not isinstance(rule["enabled"], bool):
        return "The value of 'enabled' of rule '%s' must be a boolean." % name
    definition = rule.get("definition")
    if not isinstance(definition, dict):
        return "Rule '%s' has no definition." % name
    filters = definition.get("filters") or {}
    blob_types = filters.get("blobTypes")
    if not isinstance(blob_types, list) or not blob_types or any(t not in BLOB_TYPES for t in blob_types):
        return "Rule '%s': blobTypes is required and may hold only blockBlob and appendBlob." % name
    prefixes = filters.get("prefixMatch") or []
    if not isinstance(prefixes, list) or len(prefixes) > 10 or any(not isinstance(p, str) or not p for p in prefixes):
        return "Rule '%s': prefixMatch holds up to 10 non-empty prefixes." % name
    actions = definition.get("actions")
    if not isinstance(actions, dict) or not any(actions.get(group) for group in ACTION_GROUPS):
        return "Rule '%s' must have at least one action." % name
    for group, value in actions.items():
        if group not in ACTION_GROUPS or not isinstance(value, dict):
            return "Rule '%s': unknown action group '%s'." % (name, group)
        for action, condition in value.items():
            if action not in ACTION_GROUPS[group]:
                return "Rule '%s': unknown action '%s.%s'." % (name, group, action)
            if action == "enableAutoTierToHotFromCool":
                continue
            if not isinstance(condition, dict) or not condition:
                return "Rule '%s': action '%s.%s' needs a condition." % (name, group, action)
            for key, days in condition.items():
                if key not in DAY_KEYS or isinstance(days, bool) or not isinstance(days, (int, float)) \
                        or days < 0 or days != int(days):
                    return "Rule '%s': '%s' of '%s.%s' must be a whole number of days from 0." % (
                        name, key, group, action)
    return None


def policy_problem(body):
    policy = ((body or {}).get("properties") or {}).get("policy")
    if not isinstance(policy, dict):
        return "The policy is required."
    rules = policy.get("rules")
    if not isinstance(rules, list) or not rules:
        return "At least one rule is required in a policy."
    if len(rules) > 100:
        return "A policy can have at most 100 rules."
    names = set()
    for index, rule in enumerate(rules):
        problem = rule_problem(rule, index)
        if problem:
            return problem
        if rule["name"] in names:
            return "Rule names must be unique within a policy; '%s' appears twice." % rule["name"]
        names.add(rule["name"])
    return None


def policy_body(account):
    stored = account["management_policy"]
    return {"id": account["id"] + "/managementPolicies/default", "name": "DefaultManagementPolicy",
            "type": "Microsoft.Storage/storageAccounts/managementPolicies",
            "properties": {"policy": copy.deepcopy(stored["policy"]), "lastModifiedTime": stored["lastModifiedTime"]}}


def store(account, body):
    rules = []
    for rule in body["properties"]["policy"]["rules"]:
        rule = copy.deepcopy(rule)
        rule.setdefault("enabled", True)
        rules.append(rule)
    account["management_policy"] = {"policy": {"rules": rules}, "lastModifiedTime": now_iso()}
