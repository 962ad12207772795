# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: sql_vms
short_description: SQL Server on Azure VMs as hosts, one per SQL virtual machine resource
version_added: 0.2.0
description:
  - Lists the SQL virtual machine resources (C(Microsoft.SqlVirtualMachine/sqlVirtualMachines)) of one or more
    subscriptions and makes one host of each, in the group C(sql_vms), with every variable the collection's roles
    and playbooks read (README "Inventory variables") and the facts Azure Resource Manager already knows about
    the VM, prefixed C(sqlvm_).
  - Reads by listing, never VM by VM. Per subscription (or per resource group when O(resource_groups) is given) it
    reads one paged list each of SQL virtual machines, virtual machines and network interfaces, and of public IP
    addresses only with O(sql_host_source=public_ip), following C(nextLink). A subscription of 1000 SQL VMs costs
    a few dozen requests, whatever its size in hosts.
  - The list of SQL virtual machines does not return their Microsoft Entra authentication settings
    (C(serverConfigurationsManagementSettings) comes only with a GET of one resource with C($expand=*)). The
    Entra state is therefore reported only with O(sql_vm_details=true), which costs one request per SQL VM.
  - Authentication is the modules' (the same options, environment variables, clouds and token cache); an AWX
    inventory source "Sourced from a project" with the I(Microsoft Azure Resource Manager) credential needs no
    other setting.
  - The inventory file's name must end with C(sql_vms.yml) or C(sql_vms.yaml).
author:
  - sqlvm.backup developers (@sqlvm-backup)
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - sqlvm.backup.azure_auth
options:
  plugin:
    description: The name of this plugin; marks the file as this plugin's.
    type: str
    required: true
    choices: [sqlvm.backup.sql_vms]
  subscriptions:
    description:
      - The subscriptions to list, by id.
      - V(all) lists every subscription the identity can read (C(GET /subscriptions)).
      - Without it, the credential's subscription - O(subscription_id) or E(AZURE_SUBSCRIPTION_ID), else the only
        subscription the identity can see.
    type: list
    elements: str
  resource_groups:
    description:
      - Only these resource groups (names, compared without case). Each is then listed on its own, so an identity
        with C(Reader) on these resource groups only is enough.
      - Without it every resource group of each subscription (C(Reader) on the subscription).
    type: list
    elements: str
    default: []
  include_tags:
    description:
      - Keep only SQL VMs that carry every one of these tags. A value of V(null) accepts any value, a list accepts
        any of its values.
      - The tags are the VM's with the SQL virtual machine resource's on top; names are compared without case
        (Azure does), values with case.
    type: dict
    default: {}
  exclude_tags:
    description:
      - Leave out SQL VMs that carry any one of these tags (values as for O(include_tags)).
    type: dict
    default: {}
  hostnames:
    description:
      - The inventory host name of each SQL VM.
      - V(vm_name) the VM's name; V(sql_vm_name) the SQL virtual machine resource's name (usually the same);
        V(resource_id) the SQL virtual machine resource's id, unique across subscriptions.
      - Two SQL VMs with the same name (in two resource groups or subscriptions) fail the inventory with
        V(vm_name) or V(sql_vm_name), rather than merging two machines into one host.
    type: str
    choices: [vm_name, sql_vm_name, resource_id]
    default: vm_name
  sql_host_source:
    description:
      - Where the variable C(sql_host) (how the controller reaches SQL Server) comes from.
      - V(private_ip) the private IP address of the primary IP configuration of the VM's primary network interface.
      - V(public_ip) the public IP address attached to that IP configuration (one more list per subscription);
        none is set when it has no public IP.
      - V(none) sets no C(sql_host); give it with O(compose) (for example a DNS name built from C(vm_name)).
    type: str
    choices: [private_ip, public_ip, none]
    default: private_ip
  sql_vm_details:
    description:
      - Also read each SQL virtual machine resource on its own (C(GET) with C($expand=*)), at most O(concurrency)
        at a time, to report its Microsoft Entra authentication state (C(sqlvm_entra_auth_enabled),
        C(sqlvm_entra_primary_identity)).
      - This is one request per SQL VM; leave it off for large fleets, where the C(compliance) playbook reads the
        Entra state.
    type: bool
    default: false
  concurrency:
    description: How many list pages or (with O(sql_vm_details)) SQL VM reads run at the same time.
    type: int
    default: 8
notes:
  - Host variables, role inputs - C(subscription_id), C(resource_group), C(vm_name), C(sql_vm_name), C(os_type)
    (V(Windows) or V(Linux)), C(sql_host) (unless O(sql_host_source=none), or the VM has no such address).
  - Host variables, facts - C(sqlvm_resource_id), C(sqlvm_vm_resource_id), C(sqlvm_vm_unique_id), C(sqlvm_location),
    C(sqlvm_tags), C(sqlvm_vm_size), C(sqlvm_computer_name), C(sqlvm_image) (publisher, offer, sku, version),
    C(sqlvm_sql_image_offer), C(sqlvm_sql_image_sku), C(sqlvm_sql_license_type), C(sqlvm_sql_management),
    C(sqlvm_provisioning_state), C(sqlvm_identity_type), C(sqlvm_system_assigned_principal_id),
    C(sqlvm_identity_tenant_id), C(sqlvm_user_assigned_identities) (resource_id, name, principal_id, client_id),
    C(sqlvm_nic_id), C(sqlvm_private_ip), C(sqlvm_subnet_id), C(sqlvm_public_ip) (with O(sql_host_source=public_ip)),
    C(sqlvm_power_state) (only when the VM list carries the instance view); with O(sql_vm_details)
    C(sqlvm_entra_auth_enabled) and C(sqlvm_entra_primary_identity) (kind, client_id, principal_id, resource_id).
  - A VM's system-assigned identity has no client id on the VM resource (Azure returns only its principal id).
  - The group C(sql_vms) gets C(ansible_connection=local) and the controller's Python, as the collection's
    playbooks run every task on the controller; host variables and O(compose) override them.
  - Least privilege - C(Reader) on the subscriptions (or on the resource groups of O(resource_groups)).
  - Secrets never reach the inventory, its cache or its messages.
seealso:
  - name: README, Inventory variables
    description: The variables the roles read.
    link: https://github.com/sqlvm-backup/sqlvm.backup#inventory-variables
"""

EXAMPLES = r"""
# inventory/prod.sql_vms.yml - every SQL VM of the credential's subscription
plugin: sqlvm.backup.sql_vms

---
# inventory/estate.sql_vms.yml - all subscriptions, two resource groups, production only, grouped by location
plugin: sqlvm.backup.sql_vms
subscriptions: all
resource_groups: [rg-sql-prod, rg-sql-dr]
include_tags:
  environment: [prod, production]
exclude_tags:
  backup: null
keyed_groups:
  - key: sqlvm_location
    prefix: location
  - key: sqlvm_tags.team | default('none')
    prefix: team
groups:
  sql2025: sqlvm_sql_image_offer is match('SQL2025')
compose:
  storage_account: "'stbackup' ~ sqlvm_location"
  container_url: "'https://stbackup' ~ sqlvm_location ~ '.blob.core.windows.net/sql'"

---
# inventory/dns.sql_vms.yml - reach SQL Server by a DNS name instead of an address
plugin: sqlvm.backup.sql_vms
sql_host_source: none
compose:
  sql_host: vm_name ~ '.corp.contoso.com'

---
# Cache the lists for an hour (Ansible's inventory cache, e.g. jsonfile)
plugin: sqlvm.backup.sql_vms
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-inventory
cache_timeout: 3600
"""

import os

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19: a plain string is a template already
    def trust_as_template(value):
        return value

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import SqlvmBackupError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import check_text, is_guid

GROUP = "sql_vms"
HOSTNAME_CHOICES = ("vm_name", "sql_vm_name", "resource_id")
SQL_HOST_SOURCES = ("private_ip", "public_ip", "none")
# Resource types read, each with one paged list per subscription (or resource group).
SQL_VMS = "Microsoft.SqlVirtualMachine/sqlVirtualMachines"
VMS = "Microsoft.Compute/virtualMachines"
NICS = "Microsoft.Network/networkInterfaces"
PUBLIC_IPS = "Microsoft.Network/publicIPAddresses"
# Microsoft.Network's api-version: specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/
# networkInterface.json and publicIpAddress.json.
NETWORK_API_VERSION = "2024-05-01"


class InventoryConfigError(ValueError):
    """A setting of the inventory file that cannot work; the message says what to write instead."""


# ---------------------------------------------------------------------------------------------
# Pure parts: checking the settings, filtering, naming and the host variables (unit-tested)

def check_settings(settings):
    """The inventory's own settings, normalised; InventoryConfigError before any request."""
    out = dict(settings)
    subscriptions = [str(s).strip() for s in (settings.get("subscriptions") or [])]
    if any(s.lower() == "all" for s in subscriptions):
        if len(subscriptions) != 1:
            raise InventoryConfigError("subscriptions: 'all' cannot be combined with subscription ids; give either "
                                       "'all' or a list of subscription ids.")
        subscriptions = "all"
    else:
        for value in subscriptions:
            if not is_guid(value):
                raise InventoryConfigError("subscriptions: %r is not a subscription id (a GUID); give ids as "
                                           "'az account list --query [].id' shows them, or 'all'." % value)
    out["subscriptions"] = subscriptions or None
    groups = []
    for value in settings.get("resource_groups") or []:
        try:
            groups.append(check_text(value, "resource_groups", "a resource group name"))
        except SqlvmBackupError as exc:
            raise InventoryConfigError(str(exc)) from None
    out["resource_groups"] = groups
    for option in ("include_tags", "exclude_tags"):
        tags = settings.get(option) or {}
        if not isinstance(tags, dict):
            raise InventoryConfigError("%s must be a mapping of tag name to value (null: any value; a list: any of "
                                       "its values), not %r." % (option, tags))
        out[option] = {str(name): _tag_values(option, name, value) for name, value in tags.items()}
    if settings.get("hostnames", "vm_name") not in HOSTNAME_CHOICES:
        raise InventoryConfigError("hostnames must be one of %s." % ", ".join(HOSTNAME_CHOICES))
    if settings.get("sql_host_source", "private_ip") not in SQL_HOST_SOURCES:
        raise InventoryConfigError("sql_host_source must be one of %s." % ", ".join(SQL_HOST_SOURCES))
    concurrency = settings.get("concurrency", 8)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise InventoryConfigError("concurrency=%r: give a number of parallel requests from 1 to 64." % (concurrency,))
    return out


def _tag_values(option, name, value):
    """None (any value) or a tuple of accepted values."""
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if any(isinstance(v, (dict, list)) for v in values):
        raise InventoryConfigError("%s.%s: a tag value is text (or a list of texts, or null for any value), not %r."
                                   % (option, name, value))
    return tuple(str(v) for v in values)


def merged_tags(sql_vm, vm):
    """The VM's tags with the SQL virtual machine resource's on top."""
    tags = dict((vm or {}).get("tags") or {})
    tags.update(sql_vm.get("tags") or {})
    return tags


def _tag_matches(tags, name, accepted):
    for key, value in tags.items():
        if key.lower() == name.lower():
            return accepted is None or str(value) in accepted
    return False


def tags_selected(tags, include, exclude):
    """Whether tags pass the include (all must match) and exclude (none may match) filters."""
    if not all(_tag_matches(tags, name, accepted) for name, accepted in include.items()):
        return False
    return not any(_tag_matches(tags, name, accepted) for name, accepted in exclude.items())


def resource_group_of(resource_id):
    """The resource group name in an ARM id ('/subscriptions/s/resourceGroups/<rg>/...'), else None."""
    parts = (resource_id or "").split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower() == "resourcegroups":
            return parts[index + 1]
    return None


def subscription_of(resource_id):
    parts = (resource_id or "").split("/")
    return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else None


def by_id(resources):
    """{lower-case id: resource}: ARM ids are case-insensitive and come back in varying case."""
    return {str(r.get("id", "")).lower(): r for r in resources or () if r.get("id")}


def _primary(items, key="primary"):
    """The item marked primary, else the first (Azure marks one when there are several)."""
    items = list(items or ())
    for item in items:
        if (item.get("properties") or {}).get(key) is True or item.get(key) is True:
            return item
    return items[0] if items else None


def primary_ip_configuration(vm, nics_by_id):
    """(nic, ip configuration) of the VM's primary network interface, or (None, None)."""
    refs = ((vm or {}).get("properties") or {}).get("networkProfile", {}).get("networkInterfaces") or []
    ref = _primary(refs)
    nic = nics_by_id.get(str((ref or {}).get("id", "")).lower())
    if nic is None:
        return None, None
    return nic, _primary((nic.get("properties") or {}).get("ipConfigurations"))


def identity_facts(vm):
    """sqlvm_identity_* facts from a VM's `identity` (VirtualMachineIdentity)."""
    identity = (vm or {}).get("identity") or {}
    users = []
    for resource_id, value in sorted((identity.get("userAssignedIdentities") or {}).items()):
        value = value or {}
        users.append({"resource_id": resource_id, "name": resource_id.rstrip("/").rsplit("/", 1)[-1],
                      "principal_id": value.get("principalId"), "client_id": value.get("clientId")})
    return {"sqlvm_identity_type": identity.get("type") or "None",
            "sqlvm_system_assigned_principal_id": identity.get("principalId"),
            "sqlvm_identity_tenant_id": identity.get("tenantId"),
            "sqlvm_user_assigned_identities": users}


def entra_facts(details, identities):
    """sqlvm_entra_* facts from a SQL VM read with $expand=* and the VM's identity facts.

    AADAuthenticationSettings.clientId (sqlvm.json 2023-10-01): '' = the system-assigned identity is primary,
    a GUID = the user-assigned identity with that client id; no azureAdAuthenticationSettings = Entra auth off."""
    settings = (((details or {}).get("properties") or {}).get("serverConfigurationsManagementSettings") or {})
    entra = settings.get("azureAdAuthenticationSettings")
    if entra is None:
        return {"sqlvm_entra_auth_enabled": False, "sqlvm_entra_primary_identity": None}
    client_id = entra.get("clientId") or ""
    if not client_id:
        primary = {"kind": "system", "client_id": None,
                   "principal_id": identities.get("sqlvm_system_assigned_principal_id"), "resource_id": None}
    else:
        found = next((u for u in identities.get("sqlvm_user_assigned_identities") or ()
                      if str(u.get("client_id") or "").lower() == client_id.lower()), {})
        primary = {"kind": "user", "client_id": client_id, "principal_id": found.get("principal_id"),
                   "resource_id": found.get("resource_id")}
    return {"sqlvm_entra_auth_enabled": True, "sqlvm_entra_primary_identity": primary}


def power_state(vm):
    """'running', 'deallocated', ... when the VM body carries its instance view (lists do only when asked)."""
    statuses = (((vm or {}).get("properties") or {}).get("instanceView") or {}).get("statuses") or []
    for status in statuses:
        code = str(status.get("code") or "")
        if code.startswith("PowerState/"):
            return code.split("/", 1)[1]
    return None


def host_variables(sql_vm, vm, nics_by_id, public_ips_by_id, sql_host_source, details=None):
    """The host variables of one SQL virtual machine resource: the role inputs, then sqlvm_ facts."""
    props = sql_vm.get("properties") or {}
    vm_id = props.get("virtualMachineResourceId") or (vm or {}).get("id")
    vm_props = (vm or {}).get("properties") or {}
    variables = {
        "subscription_id": subscription_of(sql_vm["id"]),
        "resource_group": resource_group_of(sql_vm["id"]),
        "vm_name": (vm or {}).get("name") or (vm_id or "").rstrip("/").rsplit("/", 1)[-1] or sql_vm["name"],
        "sql_vm_name": sql_vm["name"],
    }
    os_type = (vm_props.get("storageProfile") or {}).get("osDisk", {}).get("osType")
    if os_type:
        variables["os_type"] = os_type
    image = (vm_props.get("storageProfile") or {}).get("imageReference") or {}
    variables.update({
        "sqlvm_resource_id": sql_vm["id"],
        "sqlvm_vm_resource_id": vm_id,
        "sqlvm_vm_unique_id": vm_props.get("vmId"),
        "sqlvm_location": sql_vm.get("location") or (vm or {}).get("location"),
        "sqlvm_tags": merged_tags(sql_vm, vm),
        "sqlvm_vm_size": (vm_props.get("hardwareProfile") or {}).get("vmSize"),
        "sqlvm_computer_name": (vm_props.get("osProfile") or {}).get("computerName"),
        "sqlvm_image": {key: image.get(key) for key in ("publisher", "offer", "sku", "version")} if image else None,
        "sqlvm_sql_image_offer": props.get("sqlImageOffer"),
        "sqlvm_sql_image_sku": props.get("sqlImageSku"),
        "sqlvm_sql_license_type": props.get("sqlServerLicenseType"),
        "sqlvm_sql_management": props.get("sqlManagement"),
        "sqlvm_provisioning_state": props.get("provisioningState"),
    })
    identities = identity_facts(vm)
    variables.update(identities)
    state = power_state(vm)
    if state:
        variables["sqlvm_power_state"] = state
    nic, ip_config = primary_ip_configuration(vm, nics_by_id)
    ip_props = (ip_config or {}).get("properties") or {}
    variables["sqlvm_nic_id"] = (nic or {}).get("id")
    variables["sqlvm_private_ip"] = ip_props.get("privateIPAddress")
    variables["sqlvm_subnet_id"] = (ip_props.get("subnet") or {}).get("id")
    if sql_host_source == "public_ip":
        public_id = str((ip_props.get("publicIPAddress") or {}).get("id") or "").lower()
        public = public_ips_by_id.get(public_id) or {}
        variables["sqlvm_public_ip"] = (public.get("properties") or {}).get("ipAddress")
    address = {"private_ip": variables["sqlvm_private_ip"],
               "public_ip": variables.get("sqlvm_public_ip")}.get(sql_host_source)
    if address:
        variables["sql_host"] = address
    if details is not None:
        variables.update(entra_facts(details, identities))
    return variables


def host_name(variables, hostnames):
    return {"vm_name": variables["vm_name"], "sql_vm_name": variables["sql_vm_name"],
            "resource_id": variables["sqlvm_resource_id"]}[hostnames]


def build_hosts(data, settings):
    """[(host name, variables)] from the listed resources, filtered, in a stable order.

    data: {"sql_vms", "vms", "nics", "public_ips": [resources], "details": {lower SQL VM id: body}}."""
    vms, nics, public_ips = by_id(data.get("vms")), by_id(data.get("nics")), by_id(data.get("public_ips"))
    details = data.get("details")
    groups = {g.lower() for g in settings.get("resource_groups") or ()}
    hosts, seen = [], {}
    for sql_vm in sorted(data.get("sql_vms") or (), key=lambda r: str(r.get("id", "")).lower()):
        if groups and str(resource_group_of(sql_vm.get("id")) or "").lower() not in groups:
            continue
        vm = vms.get(str((sql_vm.get("properties") or {}).get("virtualMachineResourceId") or "").lower())
        if not tags_selected(merged_tags(sql_vm, vm), settings.get("include_tags") or {},
                             settings.get("exclude_tags") or {}):
            continue
        detail = None if details is None else details.get(sql_vm["id"].lower(), {})
        variables = host_variables(sql_vm, vm, nics, public_ips, settings.get("sql_host_source", "private_ip"), detail)
        name = host_name(variables, settings.get("hostnames", "vm_name"))
        other = seen.get(name.lower())
        if other is not None:
            raise InventoryConfigError(
                "two SQL VMs would both be the host %r: %s and %s. Set hostnames: resource_id, or narrow the "
                "inventory with resource_groups or subscriptions." % (name, other, sql_vm["id"]))
        seen[name.lower()] = sql_vm["id"]
        hosts.append((name, variables))
    return hosts


# ---------------------------------------------------------------------------------------------
# Reading Azure: one paged list per resource type and subscription (or resource group)

def list_scopes(subscriptions, resource_groups):
    """The ARM scopes to list: the subscriptions, or each resource group in each of them."""
    scopes = []
    for subscription in subscriptions:
        if resource_groups:
            scopes += ["/subscriptions/%s/resourceGroups/%s" % (subscription, group) for group in resource_groups]
        else:
            scopes.append("/subscriptions/%s" % subscription)
    return scopes


class ThreadSessions:
    """What arm.list_all and arm_get need of a session (`arm`, `deadline`), with one ARM pipeline client - and so
    one HTTP connection - per thread: the collection's transport keeps one connection per host and is not shared
    between threads. The credential (and the token it already holds), the cloud and the deadline are shared."""

    def __init__(self, session):
        import threading
        self._session = session
        self._local = threading.local()
        self.deadline = session.deadline

    @property
    def arm(self):
        client = getattr(self._local, "arm", None)
        if client is None:
            from ansible_collections.sqlvm.backup.plugins.module_utils.azure.pipeline import arm_client
            client = self._local.arm = arm_client(self._session.credential, self._session.cloud, self.deadline)
        return client


def read_azure(session, settings, run_parallel):
    """The raw lists build_hosts takes. `run_parallel(functions)` -> their results, in order, each function
    called with a session of its own thread (ThreadSessions)."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import (
        SUBSCRIPTIONS_PATH, api_version, arm_get, collection_path, list_all)

    def lister(scope, resource_type, version):
        def read(thread_session):
            # None: the scope does not exist (404), e.g. a resource group of resource_groups that is not there.
            return list_all(thread_session, collection_path(scope, resource_type), version,
                            operation="list %s" % resource_type.split("/", 1)[1], resource=scope)
        return read

    subscriptions = settings["subscriptions"]
    if subscriptions == "all":
        listed = list_all(session, SUBSCRIPTIONS_PATH, api_version("Microsoft.Resources/subscriptions"),
                          operation="list subscriptions") or []
        subscriptions = [s["subscriptionId"] for s in listed if s.get("state", "Enabled") == "Enabled"]
    elif not subscriptions:
        subscriptions = [session.subscription_id]
    types = [(SQL_VMS, api_version(SQL_VMS)), (VMS, api_version(VMS)), (NICS, NETWORK_API_VERSION)]
    if settings.get("sql_host_source") == "public_ip":
        types.append((PUBLIC_IPS, NETWORK_API_VERSION))
    jobs, keys = [], []
    for scope in list_scopes(subscriptions, settings.get("resource_groups")):
        for resource_type, version in types:
            jobs.append(lister(scope, resource_type, version))
            keys.append((scope, resource_type))
    # The first list runs alone: it signs in (or reads the cached token) once for all the others.
    results = [jobs[0](session)] + run_parallel(jobs[1:]) if jobs else []
    data = {"sql_vms": [], "vms": [], "nics": [], "public_ips": [], "subscriptions": subscriptions, "missing": []}
    names = {SQL_VMS: "sql_vms", VMS: "vms", NICS: "nics", PUBLIC_IPS: "public_ips"}
    for (scope, resource_type), items in zip(keys, results):
        if items is None:
            if scope not in data["missing"]:
                data["missing"].append(scope)
            continue
        data[names[resource_type]].extend(items)
    if settings.get("sql_vm_details"):
        version = api_version(SQL_VMS)

        def detail(resource_id):
            return lambda thread_session: arm_get(thread_session, resource_id, version, params={"$expand": "*"}) or {}
        wanted = [r["id"] for r in data["sql_vms"]]
        data["details"] = {rid.lower(): body for rid, body in zip(wanted, run_parallel([detail(r) for r in wanted]))}
    return data


def run_parallel(session, functions, workers):
    """function(thread session) for each function, at most `workers` at a time; the results in order. The first
    exception is raised once all have ended."""
    if not functions:
        return []
    sessions = ThreadSessions(session)
    if len(functions) == 1 or workers <= 1:
        return [function(sessions) for function in functions]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=min(workers, len(functions))) as pool:
        futures = [pool.submit(function, sessions) for function in functions]
    return [future.result() for future in futures]


def not_found(missing, subscriptions, settings):
    """What to warn about among the scopes that answered 404: a subscription, or a resource group that is in none
    of the subscriptions (with several subscriptions a group usually lives in only one of them)."""
    missing = {scope.lower() for scope in missing}
    out = [scope for scope in ("/subscriptions/%s" % s for s in subscriptions) if scope.lower() in missing]
    for group in settings.get("resource_groups") or ():
        scopes = ["/subscriptions/%s/resourceGroups/%s" % (s, group) for s in subscriptions]
        if scopes and all(scope.lower() in missing for scope in scopes):
            out.append("resource group %s" % group if len(scopes) > 1 else scopes[0])
    return out


def read_fingerprint(settings):
    """The settings that decide what read_azure reads: a cached read made with others is not used."""
    return {"subscriptions": settings.get("subscriptions"), "resource_groups": sorted(
        g.lower() for g in settings.get("resource_groups") or ()),
        "public_ips": settings.get("sql_host_source") == "public_ip", "details": bool(settings.get("sql_vm_details"))}


def mask(text, secrets):
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "sqlvm.backup.sql_vms"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("sql_vms.yml", "sql_vms.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            settings = check_settings(self.get_options())
        except InventoryConfigError as exc:
            raise AnsibleParserError("%s: %s" % (path, exc)) from None

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        data = None
        if use_cache:
            try:
                data = self._cache[cache_key]
            except KeyError:
                data = None
            if data is not None and data.get("read_with") != read_fingerprint(settings):
                data = None  # the file now asks for other lists than the cached ones
        if data is None:
            data = self._read(settings)
            data["read_with"] = read_fingerprint(settings)
            if self.get_option("cache"):
                self._cache[cache_key] = data
        for scope in not_found(data.get("missing") or (), data.get("subscriptions") or (), settings):
            self.display.warning("sqlvm.backup.sql_vms: %s does not exist (or the identity cannot see it); it adds no "
                                 "host." % scope)
        try:
            hosts = build_hosts(data, settings)
        except InventoryConfigError as exc:
            raise AnsibleParserError("%s: %s" % (path, exc)) from None
        self._populate(hosts)

    def _read(self, settings):
        from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth import AuthSettings
        from ansible_collections.sqlvm.backup.plugins.module_utils.azure.session import AzureSession

        secrets = []
        try:
            # Every option goes to the modules' resolver, which takes the authentication ones (and their
            # environment fallbacks, AWX's names first) and ignores the inventory's own.
            auth = AuthSettings.from_options_and_env(self.get_options(), os.environ)
            secrets = auth.secret_values()
            session = AzureSession(auth)
            return read_azure(session, settings,
                              lambda jobs: run_parallel(session, jobs, settings.get("concurrency", 8)))
        except SqlvmBackupError as exc:
            raise AnsibleError("sqlvm.backup.sql_vms: %s" % mask(str(exc), secrets)) from None
        except ImportError as exc:
            raise AnsibleError("sqlvm.backup.sql_vms needs azure-identity, azure-core and azure-mgmt-core on the "
                               "controller (pip install -r requirements.txt of the collection): %s" % exc) from None
        except Exception as exc:  # pylint: disable=broad-except
            # Whatever it is, its text must not carry a secret to the inventory update's output.
            detail = mask(str(exc), secrets)
            raise AnsibleError("sqlvm.backup.sql_vms: unexpected %s: %s" % (type(exc).__name__, detail)) from None

    def _populate(self, hosts):
        strict = self.get_option("strict")
        self.inventory.add_group(GROUP)
        self.inventory.set_variable(GROUP, "ansible_connection", "local")
        self.inventory.set_variable(GROUP, "ansible_python_interpreter", trust_as_template("{{ ansible_playbook_python }}"))
        for name, variables in hosts:
            self.inventory.add_host(name, group=GROUP)
            # What Azure returns (tags above all) is data, never a template run on the controller.
            variables = wrap_var(variables)
            for key, value in variables.items():
                self.inventory.set_variable(name, key, value)
            self._set_composite_vars(self.get_option("compose"), variables, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), variables, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, name, strict=strict)
