# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks' fleet path (documented in the sidecar .yml files; docs/design.md "Fleet path").

Ansible forks a worker for every host of every task, even a skipped one, so a play of 1000 hosts pays for
1000 workers per task before any module runs. The fleet path therefore has no per-host task: two run_once
reads (sqlvm.backup.sqlvm_fleet_info for Azure, sqlvm.backup.sql_fleet_info for SQL Server) cover every host
of the play, and these filters turn hosts, host variables and the two results into what comes next:

- ``fleet_targets``: the ``vms`` and ``servers`` options of the two fleet reads, from each host's variables
  (README "Inventory variables"; with ``prefix='backup_ready_'`` the backup_ready role's variables first);
- ``fleet_entries``: the readiness report's input (readiness_rows), the same entries the per-host path builds
  from registered results, so both paths give the same rows;
- ``fleet_plan``: per host, the backup_ready steps whose state the reads show missing - the hosts that need
  a write, each with its read state for the role; the VMs that cannot qualify, with their reasons; the rest
  is converged and runs nothing.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.sqlvm.backup.plugins.filter.inputs import input_problems
from ansible_collections.sqlvm.backup.plugins.filter.role_decisions import (
    _current_primary,
    ineligible_reasons,
    primary_identity_choice,
    sql_platform_reasons,
    storage_resource_id,
)

# The backup_ready role's defaults (roles/backup_ready/defaults/main.yml) that are not host variables; a
# unit test keeps them equal to the role's file.
ROLE_DEFAULTS = {
    "identity": "auto",
    "identity_exclusive": False,
    "directory_method": "directory_role",
    "storage_scope": "account",
    "logins": [],
    "probe": False,
    "probe_database": "master",
    "probe_blob_prefix": "backup-ready-probe",
    "directory_group_id": "",
    "fail_ineligible": False,
}
# The keys of a backup_ready_logins entry (the role's argument spec, meta/argument_specs.yml).
LOGIN_KEYS = ("name", "object_id", "server_roles", "state")
ROLE_PREFIX = "backup_ready_"
# The steps of backup_ready that write, in the order the role runs them (roles/backup_ready/tasks/main.yml).
WRITE_STEPS = ("identity", "directory", "storage", "logins", "credential", "probe")
# The steps sqlvm.backup.backup_ready_fleet runs for the whole fleet in one task (the probe stays per host), and
# those of them that log in to SQL Server.
FLEET_WRITE_STEPS = ("identity", "directory", "storage", "logins", "credential")
SQL_WRITE_STEPS = ("logins", "credential")
NOT_READ = "not read: the fleet read did not return this host"


def _as_dict(value):
    return value if isinstance(value, dict) else {}


def _get(host, name):
    try:
        value = host.get(name)
    except Exception:  # pylint: disable=broad-except
        # An undefined variable inside a host variable's template: that variable counts as not set.
        return None
    return value


def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def _var(host, prefix, name, inventory_name=None, default=None):
    """The role variable ``prefix + name`` when set, else the host variable ``inventory_name``, else default."""
    for key in ([prefix + name] if prefix else []) + ([inventory_name] if inventory_name else []):
        value = _get(host, key)
        if not _blank(value):
            return value
    return default


def _bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "true", "on", "1", "no", "false", "off", "0"):
        return value.strip().lower() in ("yes", "true", "on", "1")
    if isinstance(value, int):
        return bool(value)
    return None


def host_inputs(name, host, prefix="", default_subscription=""):
    """What the fleet reads need of one host, from its variables (``hostvars[name]``), as the per-host tasks
    take them: the compliance playbook's expressions (prefix '') or the backup_ready role's defaults."""
    host = host if hasattr(host, "get") else {}
    resource_group = _var(host, prefix, "resource_group", "resource_group", "")
    vm_name = _var(host, prefix, "vm_name", "vm_name", name)
    account = _var(host, prefix, "storage_account", "storage_account", "")
    container = _var(host, prefix, "storage_container", "storage_container", "")
    scope_kind = _var(host, prefix, "storage_scope", None, ROLE_DEFAULTS["storage_scope"]) if prefix else "account"
    if prefix:
        urls = _get(host, prefix + "container_urls")
        if urls is None:
            url = _get(host, "container_url")
            urls = [url] if url else []
    else:
        url = _get(host, "container_url")
        urls = [url] if url else []
    return {
        "host": name,
        "subscription_id": _var(host, prefix, "subscription_id", "subscription_id", ""),
        "default_subscription": default_subscription or "",
        "resource_group": resource_group,
        "vm_name": vm_name,
        "sql_vm_name": _var(host, prefix, "sql_vm_name", "sql_vm_name", "") or vm_name,
        "os_type": _var(host, prefix, "os_type", "os_type", ""),
        "sql_version": _var(host, prefix, "sql_version", "sql_version", ""),
        "sql_clustered": _bool(_var(host, prefix, "sql_clustered", "sql_clustered")),
        "storage_account": account,
        "storage_container": container,
        "storage_resource_group": _var(host, prefix, "storage_resource_group", "storage_resource_group",
                                       resource_group),
        "storage_scope": scope_kind,
        "container_urls": [str(u) for u in (urls if isinstance(urls, (list, tuple)) else [urls]) if u],
        "sql": {
            "sql_host": _var(host, prefix, "sql_host", "sql_host", ""),
            "sql_port": _var(host, prefix, "sql_port", "sql_port", 1433),
            "sql_auth": _var(host, prefix, "sql_auth", "sql_auth", "auto"),
            "login_user": _var(host, prefix, "sql_login_user", "sql_login_user", ""),
            "login_password": _var(host, prefix, "sql_login_password", "sql_login_password", ""),
            "odbc_driver": _var(host, prefix, "sql_odbc_driver", "sql_odbc_driver", "ODBC Driver 18 for SQL Server"),
            "encrypt": _var(host, prefix, "sql_encrypt", "sql_encrypt", "yes"),
            "trust_server_certificate": _bool(_var(host, prefix, "sql_trust_server_certificate",
                                                   "sql_trust_server_certificate", False)) or False,
        },
    }


def _url_container(url, account):
    """The container of a blob container URL on ``account`` ('https://acct.blob.<suffix>/backups' -> 'backups')."""
    text = str(url or "")
    if "://" not in text:
        return None
    host, _sep, path = text.split("://", 1)[1].partition("/")
    if host.split(".", 1)[0].lower() != str(account).lower():
        return None
    container = path.split("/", 1)[0].split("?", 1)[0]
    return container or None


def retention_targets(hosts, hostvars, prefix=ROLE_PREFIX):
    """One entry per storage container (and prefix) the hosts back up to, for sqlvm.backup.blob_retention:
    ``{resource_group, storage_account, container, prefix, days}``. Only hosts with ``retention_days`` above 0
    count; when hosts sharing a container ask for different days, the longest wins (deleting later is the safe
    side) and ``asked`` lists what each asked."""
    targets = {}
    for name in hosts or ():
        host = hostvars.get(name) if hasattr(hostvars, "get") else None
        host = host if hasattr(host, "get") else {}
        try:
            days = int(_var(host, prefix, "retention_days", "backup_retention_days", 0) or 0)
        except (TypeError, ValueError):
            raise AnsibleFilterError("%s: %sretention_days must be a whole number of days (0: leave retention alone)"
                                     % (name, prefix))
        if days <= 0:
            continue
        inputs = host_inputs(name, host, prefix)
        account = inputs["storage_account"]
        if _blank(account):
            raise AnsibleFilterError("%s: %sretention_days is set but the host has no storage account (storage_account)"
                                     % (name, prefix))
        containers = [c for c in [_url_container(u, account) for u in inputs["container_urls"]]
                      + [inputs["storage_container"]] if not _blank(c)]
        if not containers:
            raise AnsibleFilterError("%s: %sretention_days is set but no container is known (container_url or "
                                     "storage_container)" % (name, prefix))
        rule_prefix = _var(host, prefix, "retention_prefix", None, "") or ""
        for container in containers:
            key = (inputs["subscription_id"] or "", inputs["storage_resource_group"], account, container, rule_prefix)
            entry = targets.setdefault(key, {"subscription_id": key[0], "resource_group": key[1],
                                             "storage_account": account,
                                             "container": container, "prefix": rule_prefix, "days": days,
                                             "asked": {}})
            entry["asked"][name] = days
            entry["days"] = max(entry["days"], days)
    return [targets[key] for key in sorted(targets)]


def backup_ready_input_problems(role_vars):
    """Every problem of the backup_ready role's input (``role_vars``: the role's variables by name), one message
    each: the role's first task (roles/backup_ready/tasks/input.yml) and the fleet path (fleet_targets, before any
    read) both check with it."""
    v = _as_dict(role_vars).get
    problems = (
        input_problems({"backup_ready_resource_group (host var resource_group)": v("backup_ready_resource_group"),
                        "backup_ready_vm_name": v("backup_ready_vm_name"),
                        "backup_ready_sql_vm_name": v("backup_ready_sql_vm_name")}, "name", required=True)
        + input_problems({"backup_ready_subscription_id": v("backup_ready_subscription_id"),
                          "backup_ready_directory_group_id": v("backup_ready_directory_group_id")}, "guid")
        + input_problems({name: v(name) for name in (
            "backup_ready_os_type", "backup_ready_sql_version", "backup_ready_identity",
            "backup_ready_storage_resource_group", "backup_ready_probe_database", "backup_ready_probe_blob_prefix",
            "backup_ready_sql_host", "backup_ready_sql_login_user", "backup_ready_sql_odbc_driver")}, "name")
        + input_problems({"backup_ready_storage_account": v("backup_ready_storage_account")}, "storage_account")
        + input_problems({"backup_ready_storage_container": v("backup_ready_storage_container")}, "container")
        + input_problems({"backup_ready_container_urls": v("backup_ready_container_urls")}, "container_url")
        + input_problems({"backup_ready_logins": v("backup_ready_logins")}, "name", key="name", required=True)
        + input_problems({"backup_ready_logins": v("backup_ready_logins")}, "guid", key="object_id")
        + input_problems({"backup_ready_logins": v("backup_ready_logins")}, "name", key="server_roles")
        + input_problems({"backup_ready_sql_port": v("backup_ready_sql_port")}, "number", minimum=1, maximum=65535))
    if v("backup_ready_storage_scope") == "container" and not v("backup_ready_storage_container"):
        problems.append("backup_ready_storage_container is empty; give the container (host var storage_container) "
                        "when backup_ready_storage_scope is container.")
    if v("backup_ready_directory_method") == "group" and not v("backup_ready_directory_group_id"):
        problems.append("backup_ready_directory_group_id is empty; give the object id of the role-assignable group "
                        "holding Directory Readers when backup_ready_directory_method is group.")
    return problems


def _role_vars(inputs, role):
    """The backup_ready role's variables of one host, as backup_ready_input_problems takes them."""
    names = {"subscription_id": inputs["subscription_id"], "resource_group": inputs["resource_group"],
             "vm_name": inputs["vm_name"], "sql_vm_name": inputs["sql_vm_name"], "os_type": inputs["os_type"],
             "sql_version": inputs["sql_version"], "storage_account": inputs["storage_account"],
             "storage_container": inputs["storage_container"], "storage_scope": inputs["storage_scope"],
             "storage_resource_group": inputs["storage_resource_group"], "container_urls": inputs["container_urls"],
             "sql_host": inputs["sql"]["sql_host"], "sql_port": inputs["sql"]["sql_port"],
             "sql_login_user": inputs["sql"]["login_user"], "sql_odbc_driver": inputs["sql"]["odbc_driver"]}
    names.update(role)
    return {ROLE_PREFIX + name: value for name, value in names.items()}


def _role_problems(inputs, host):
    role = _role_options(host)
    problems = backup_ready_input_problems(_role_vars(inputs, role))
    logins = role["logins"] if isinstance(role["logins"], (list, tuple)) else []
    for index, login in enumerate(logins):
        unknown = sorted(set(_as_dict(login)) - set(LOGIN_KEYS))
        if unknown:
            problems.append("backup_ready_logins[%d] has unknown keys %s; use %s." % (
                index, ", ".join(unknown), ", ".join(LOGIN_KEYS)))
    return problems


def _sql_facts(sql_host_result):
    """(build, clustered) from a host's sql_info result, as the role's eligibility step reads them."""
    instance = _as_dict(_as_dict(sql_host_result).get("instance"))
    return instance.get("product_version") or "", instance.get("is_clustered")


def _vm_target(inputs, sql_host_result=None):
    if _blank(inputs["resource_group"]):
        # sqlvm_fleet_info refuses the whole list for one bad entry: this host alone is not read.
        raise AnsibleFilterError("%s: resource_group is empty; set the host variable resource_group (README "
                                 "\"Inventory variables\")." % inputs["host"])
    target = {"host": inputs["host"], "resource_group": inputs["resource_group"], "vm_name": inputs["vm_name"],
              "sql_vm_name": inputs["sql_vm_name"]}
    if inputs["subscription_id"]:
        target["subscription_id"] = inputs["subscription_id"]
    build, clustered = _sql_facts(sql_host_result)
    build = build or inputs["sql_version"]
    clustered = clustered if isinstance(clustered, bool) else inputs["sql_clustered"]
    if build:
        target["sql_version"] = str(build)
    if isinstance(clustered, bool):
        target["failover_cluster_instance"] = clustered
    if inputs["storage_account"]:
        container = inputs["storage_container"] if inputs["storage_scope"] == "container" else ""
        target["storage_scope"] = storage_resource_id(
            inputs["storage_account"], inputs["subscription_id"] or inputs["default_subscription"],
            inputs["storage_resource_group"], container=container)
    return target


def _server_target(inputs):
    server = {"host": inputs["host"]}
    for key, value in inputs["sql"].items():
        if not _blank(value):
            server[key] = value
    if "sql_port" in server:
        server["sql_port"] = int(server["sql_port"])
    if inputs["container_urls"]:
        server["container_url"] = inputs["container_urls"][0]
    return server


def fleet_targets(hosts, hostvars, prefix="", default_subscription="", sql=None):
    """The options of the two fleet reads for ``hosts`` (ansible_play_hosts): ``vms`` for sqlvm_fleet_info,
    ``servers`` for sql_fleet_info (hosts with a sql_host), and ``problems`` (host -> why it cannot be read,
    e.g. a storage account without a resource group). ``sql``: a sql_fleet_info result whose builds and
    clustering the Azure read checks, as the backup_ready role does."""
    sql_hosts = _result_hosts(sql)
    targets = {"vms": [], "servers": [], "problems": {}}
    for name in hosts or ():
        name = str(name)
        host = _host(hostvars, name)
        inputs = host_inputs(name, host, prefix, default_subscription)
        problems = _role_problems(inputs, host) if prefix == ROLE_PREFIX else []
        if problems:
            # Not read at all: the role's own input check fails this host before anything of it is read.
            targets["problems"][name] = " ".join(problems)
            continue
        try:
            targets["vms"].append(_vm_target(inputs, sql_hosts.get(name)))
        except AnsibleFilterError as exc:
            targets["problems"][name] = str(exc)
            continue
        if inputs["sql"]["sql_host"]:
            targets["servers"].append(_server_target(inputs))
    return targets


def _host(hostvars, name):
    try:
        return hostvars[name]
    except (KeyError, TypeError):
        return {}


def _result_hosts(result):
    return _as_dict(_as_dict(result).get("hosts"))


def _host_result(result, name, problems=None):
    """A host's part of a fleet read: its dict, or {failed, msg} when the read as a whole failed, the host
    could not be read, or the result does not name it."""
    problems = problems or {}
    if name in problems:
        return {"failed": True, "msg": problems[name]}
    result = _as_dict(result)
    if result.get("failed") or result.get("unreachable"):
        return {"failed": True, "msg": str(result.get("msg") or "the fleet read failed without a message")}
    found = _result_hosts(result).get(name)
    if not isinstance(found, dict):
        return {"failed": True, "msg": NOT_READ}
    return found


def fleet_entries(hosts, hostvars, azure, sql, problems=None):
    """readiness_rows input for ``hosts`` from the two fleet reads: per host ``vm``, ``sqlvm_info`` (its part of
    the sqlvm_fleet_info result), ``sql_info`` (its part of sql_fleet_info, None without a sql_host) and
    ``container_url`` - what readiness_entry takes from the per-host path's registered results."""
    entries = []
    for name in hosts or ():
        name = str(name)
        inputs = host_inputs(name, _host(hostvars, name))
        sql_part = _host_result(sql, name, problems) if inputs["sql"]["sql_host"] else None
        entries.append({"vm": name, "sqlvm_info": _host_result(azure, name, problems), "sql_info": sql_part,
                        "container_url": inputs["container_urls"][0] if inputs["container_urls"] else None})
    return entries


def _login_missing(login, sql_part):
    """Whether sql_login would change ``login`` (an entry of backup_ready_logins) on this SQL Server, as far as
    sql_info shows; what it does not show (roles other than sysadmin, database users) counts as missing."""
    login = _as_dict(login)
    name = str(login.get("name") or "")
    existing = {str(_as_dict(e).get("name")): _as_dict(e) for e in sql_part.get("entra_logins") or ()}
    if str(login.get("state") or "present") == "absent":
        return name in existing
    if name not in existing:
        return True
    wanted_enabled = _bool(login.get("enabled"))
    if wanted_enabled is not None and bool(existing[name].get("enabled", True)) != wanted_enabled:
        return True
    if login.get("databases") or _bool(login.get("server_roles_exclusive")):
        return True
    roles = [str(r).lower() for r in login.get("server_roles") or ()]
    if any(role != "sysadmin" for role in roles):
        return True
    sysadmins = {str(_as_dict(m).get("name")) for m in sql_part.get("sysadmin_members") or ()}
    return "sysadmin" in roles and name not in sysadmins


def host_steps(inputs, azure_part, sql_part, role):
    """The backup_ready steps that would write for one eligible host whose reads succeeded."""
    checks = _as_dict(azure_part.get("checks"))
    steps = []
    wanted = role["identity"]
    choice = primary_identity_choice(azure_part, wanted)
    current = _current_primary(checks)
    identity_ok = bool(_as_dict(checks.get("vm_identity")).get("ready")) and bool(current) and \
        not _bool(role["identity_exclusive"]) and (wanted == "auto" or choice == current)
    if not identity_ok:
        steps.append("identity")
    if not identity_ok or not _as_dict(checks.get("directory_read")).get("ready"):
        steps.append("directory")
    if inputs["storage_account"] and (not identity_ok or not _as_dict(checks.get("storage_access")).get("ready")):
        steps.append("storage")
    if inputs["sql"]["sql_host"]:
        if any(_login_missing(login, sql_part) for login in role["logins"] or ()):
            steps.append("logins")
        credentials = {str(_as_dict(c).get("name")) for c in sql_part.get("credentials") or ()
                       if _as_dict(c).get("managed_identity")}
        if any(url not in credentials for url in inputs["container_urls"]):
            steps.append("credential")
    if _bool(role["probe"]):
        steps.append("probe")
    return steps


def _role_options(host):
    options = {}
    for name, default in ROLE_DEFAULTS.items():
        value = _get(host, ROLE_PREFIX + name)
        options[name] = default if value is None else value
    return options


def fleet_plan(hosts, hostvars, azure, sql, problems=None, default_subscription=""):
    """What backup_ready has to do per host, from the two fleet reads:

    - ``writers``: the hosts that need the role, each ``{host, state, steps}``; ``state`` (``sqlvm_info``,
      ``sql_info``, ``steps``) lets the role skip its own reads and run only those steps. A host whose read
      failed gets state None: the role reads it itself and fails or reports it as on its own;
    - ``ineligible``: host -> why the VM cannot qualify (left untouched, unless backup_ready_fail_ineligible);
    - ``converged``: the hosts with nothing to do;
    - ``steps``: host -> its steps (for the summary)."""
    plan = {"writers": [], "ineligible": {}, "converged": [], "steps": {}, "unread": {}}
    for name in hosts or ():
        name = str(name)
        host = _host(hostvars, name)
        inputs = host_inputs(name, host, ROLE_PREFIX, default_subscription)
        role = _role_options(host)
        azure_part = _host_result(azure, name, problems)
        sql_part = _host_result(sql, name, problems) if inputs["sql"]["sql_host"] else {}
        unread = [part.get("msg") for part in (azure_part, sql_part) if part.get("failed")]
        if unread:
            plan["unread"][name] = "; ".join(str(m) for m in unread)
            plan["writers"].append({"host": name, "state": None, "steps": ["read"]})
            continue
        reasons = ineligible_reasons(azure_part, sql_platform_reasons(sql_part), inputs["os_type"])
        if reasons:
            plan["ineligible"][name] = "; ".join(str(r) for r in reasons)
            if _bool(role["fail_ineligible"]):
                plan["writers"].append({"host": name, "state": _state(azure_part, sql_part, []), "steps": []})
            continue
        steps = host_steps(inputs, azure_part, sql_part, role)
        plan["steps"][name] = steps
        if steps:
            plan["writers"].append({"host": name, "state": _state(azure_part, sql_part, steps), "steps": steps})
        else:
            plan["converged"].append(name)
    return plan


def _state(azure_part, sql_part, steps):
    return {"sqlvm_info": azure_part, "sql_info": sql_part or {}, "steps": list(steps)}


def _tag_selected(step, run_tags, skip_tags):
    """Whether --tags / --skip-tags select the role's task of ``step`` (tagged with the step's name)."""
    run_tags = set(run_tags or ("all",))
    if step in set(skip_tags or ()):
        return False
    return bool(run_tags & {"all", "tagged", step})


def _write_entry(name, host, state, steps, default_subscription):
    """backup_ready_fleet's entry for one host: the options the role's tasks of ``steps`` would pass."""
    inputs = host_inputs(name, host, ROLE_PREFIX, default_subscription)
    role = _role_options(host)
    azure_part, sql_part = _as_dict(state.get("sqlvm_info")), _as_dict(state.get("sql_info"))
    build, clustered = _sql_facts(sql_part)
    clustered = clustered if isinstance(clustered, bool) else inputs["sql_clustered"]
    entry = {"host": name, "steps": list(steps), "resource_group": inputs["resource_group"],
             "vm_name": inputs["vm_name"], "sql_vm_name": inputs["sql_vm_name"],
             "identity": primary_identity_choice(azure_part, role["identity"]),
             "identity_exclusive": bool(_bool(role["identity_exclusive"])),
             "principal_id": azure_part.get("primary_principal_id") or None,
             "directory_method": role["directory_method"],
             "directory_group_id": role["directory_group_id"] or None,
             "storage_account": inputs["storage_account"] or None,
             "storage_resource_group": inputs["storage_resource_group"] or None,
             "storage_container": inputs["storage_container"] if inputs["storage_scope"] == "container" else None,
             "logins": list(role["logins"] or ()), "container_urls": inputs["container_urls"]}
    if inputs["subscription_id"]:
        entry["subscription_id"] = inputs["subscription_id"]
    if build or inputs["sql_version"]:
        entry["sql_version"] = str(build or inputs["sql_version"])
    if isinstance(clustered, bool):
        entry["failover_cluster_instance"] = clustered
    if any(step in SQL_WRITE_STEPS for step in steps):
        server = _server_target(inputs)
        server.pop("host")
        server.pop("container_url", None)
        entry.update(server)
    return entry


def fleet_writes(plan, hostvars, run_tags=None, skip_tags=None, batch=True, default_subscription=""):
    """Who does each writing step of ``plan`` (fleet_plan's result):

    - ``hosts``: the entries of sqlvm.backup.backup_ready_fleet - each host's steps that one task converges for the
      whole fleet (identity, directory, storage, logins, credential), those --tags/--skip-tags select;
    - ``role``: ``{host, state}`` for the hosts the role still runs on - a host whose read failed (state None: the
      role reads it itself), one that fails for being ineligible, and the probe, which needs the host's own tasks.
      With ``batch=False`` every writer is here with all its steps (the per-host writing path)."""
    plan = _as_dict(plan)
    result = {"hosts": [], "role": []}
    for writer in plan.get("writers") or ():
        writer = _as_dict(writer)
        name, state = str(writer.get("host")), writer.get("state")
        steps = list(writer.get("steps") or ())
        if not batch or not isinstance(state, dict):
            result["role"].append({"host": name, "state": state, "steps": steps})
            continue
        batched = [step for step in steps if step in FLEET_WRITE_STEPS]
        selected = [step for step in batched if _tag_selected(step, run_tags, skip_tags)]
        rest = [step for step in steps if step not in FLEET_WRITE_STEPS]
        if selected:
            result["hosts"].append(_write_entry(name, _host(hostvars, name), state, selected, default_subscription))
        if rest or not steps:
            result["role"].append({"host": name, "state": dict(state, steps=rest), "steps": rest})
    return result


class FilterModule:
    def filters(self):
        return {
            "retention_targets": retention_targets,
            "fleet_targets": fleet_targets,
            "fleet_entries": fleet_entries,
            "fleet_plan": fleet_plan,
            "fleet_writes": fleet_writes,
            "backup_ready_input_problems": backup_ready_input_problems,
        }
