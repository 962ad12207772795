# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only backup-readiness of many SQL VMs in one task: what sqlvm_info reports for each VM, from reads
made in bulk (docs/design.md; issue "fleet scale").

Each host's report is built by sqlvm_info.evaluate, the function sqlvm_info itself uses, so the two
modules agree by construction; only the reads differ:

- SQL virtual machine resources: one ``GET …/sqlVirtualMachines/{name}?$expand=*`` per VM, concurrently
  (at most ``concurrency`` at a time). The list operations (SqlVirtualMachines_List,
  SqlVirtualMachines_ListByResourceGroup in Azure/azure-rest-api-specs, specification/sqlvirtualmachine/
  resource-manager/Microsoft.SqlVirtualMachine/stable/2023-10-01/sqlvm.json) take no ``$expand`` and do
  not return serverConfigurationsManagementSettings, which holds the primary identity for Microsoft
  Entra authentication (compare the examples ListSubscriptionSqlVirtualMachine.json and
  GetSqlVirtualMachine.json), so a list cannot replace the GETs.
- Virtual machines: one paged list (``nextLink``) per subscription - or per resource group when all the
  fleet's VMs of that subscription are in one group, which is never more requests and often fewer
  (the subscription may hold many VMs outside the fleet). When the subscription's list is refused (403:
  the identity reads only some resource groups), the fleet's resource groups there are listed instead.
  A VM that its SQL VM resource places outside the listed collections is read with one GET.
- Role assignments: one ``{scope}/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()``
  list per distinct storage scope (every principal's assignments at or above it; the storage check only
  counts those), not per VM or principal.
- Microsoft Graph, once for the fleet: the members of Directory Readers, the transitive members of each
  group among them, Microsoft Graph's service principal and the application roles granted on it
  (``appRoleAssignedTo``); each primary identity's verdict is then computed without a request.

The HTTP transport keeps one connection per host and is not shared between threads: each worker thread
builds its own ARM pipeline client (same credential, cloud and task deadline), see azure/threads.py.
One VM that cannot be read is that host's ``{"failed": true, "msg": ...}``; it never fails the task.
"""
from __future__ import annotations

import threading

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import (
    ROLE_ASSIGNMENTS,
    VIRTUAL_MACHINES,
    arm_get,
    collection_path,
    list_all,
    parse_resource_id,
    resource_id,
    scope_contains,
    scope_key,
    sqlvm_id,
    vm_id,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.threads import ThreadClients
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.threads import prepare_for_threads as _prepare_for_threads
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_info
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    AzureApiError,
    InvalidInputError,
    PrerequisiteError,
    SqlvmBackupError,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.redaction import redact
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import is_guid

DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 64
REQUEST_KINDS = ("lists", "gets", "graph", "network")

_GROUP_TYPE = "#microsoft.graph.group"
_ROLE_TYPE = "#microsoft.graph.directoryRole"


# ---------------------------------------------------------------------------------------------
# input (pure)

def validate(desired):
    """The fleet's entries, each checked as sqlvm_info checks its options, named ``vms[i].<option>``;
    InvalidInputError before any request. Returns [(entry, normalized storage scope or None)]."""
    concurrency = desired.get("concurrency", DEFAULT_CONCURRENCY)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidInputError("concurrency=%r is not a number of concurrent requests from 1 to %d; the default %d "
                                "suits most fleets" % (concurrency, MAX_CONCURRENCY, DEFAULT_CONCURRENCY))
    vms = desired.get("vms")
    if not isinstance(vms, list):
        raise InvalidInputError("vms must be a list of {host, resource_group, vm_name, ...} entries")
    seen, planned = {}, []
    for index, entry in enumerate(vms):
        prefix = "vms[%d]." % index
        if not isinstance(entry, dict):
            raise InvalidInputError("vms[%d] must be a dict with host, resource_group and vm_name" % index)
        host = entry.get("host")
        if not isinstance(host, str) or not host.strip():
            raise InvalidInputError("%shost is required: the key of this VM in the result (e.g. inventory_hostname)"
                                    % prefix)
        if host in seen:
            raise InvalidInputError("%shost %r is also vms[%d].host; each host may appear once" % (prefix, host, seen[host]))
        seen[host] = index
        subscription = entry.get("subscription_id") or desired.get("subscription_id")
        if entry.get("subscription_id") and not is_guid(entry["subscription_id"]):
            raise InvalidInputError("%ssubscription_id %r is not a GUID" % (prefix, entry["subscription_id"]))
        scope = sqlvm_info.validate(entry, subscription, prefix=prefix)
        planned.append((entry, scope))
    return planned


# ---------------------------------------------------------------------------------------------
# planning (pure)

def _resource_groups(entries, default_subscription):
    """{subscription (lower case): (subscription, {resource group (lower case): resource group})}."""
    groups = {}
    for entry in entries:
        subscription = entry.get("subscription_id") or default_subscription
        groups.setdefault(subscription.lower(), (subscription, {}))[1].setdefault(
            entry["resource_group"].lower(), entry["resource_group"])
    return groups


def vm_collections(entries, default_subscription):
    """The VM list requests for the fleet: per subscription, its one resource group's collection when all the
    fleet's VMs there are in one group, else the subscription's. Returns sorted collection scopes."""
    scopes = []
    for subscription, resource_groups in _resource_groups(entries, default_subscription).values():
        if len(resource_groups) == 1:
            scopes.append(resource_id(subscription, next(iter(resource_groups.values()))))
        else:
            scopes.append(resource_id(subscription))
    return sorted(scopes, key=str.lower)


def resource_group_collections(entries, default_subscription, subscription_scope):
    """The fleet's resource groups in the subscription of ``subscription_scope``, as collection scopes: what is
    listed instead when the identity may not read the whole subscription (Reader on resource groups only)."""
    wanted = parse_resource_id(subscription_scope).subscription_id.lower()
    subscription, resource_groups = _resource_groups(entries, default_subscription).get(wanted, (None, {}))
    return sorted((resource_id(subscription, name) for name in resource_groups.values()), key=str.lower)


def _denied(outcome):
    return isinstance(outcome, AzureApiError) and outcome.status == 403


def storage_scopes(planned):
    """Distinct storage scopes (compared without case, as ARM does), the first spelling kept."""
    found = {}
    for _entry, scope in planned:
        if scope:
            found.setdefault(scope_key(scope), scope)
    return [found[key] for key in sorted(found)]


def principal_memberships(principal_id, readers, reader_groups):
    """What transitiveMemberOf would say of ``principal_id`` as far as Directory Readers goes, from the role's
    members (``readers``) and each member group's transitive members (``reader_groups``: {group id: (group,
    members)}): the Directory Readers groups it is in, sorted by id, and the role when it holds it."""
    principal = str(principal_id).lower()
    direct = any(str(m.get("id", "")).lower() == principal for m in readers)
    via = [group for _gid, (group, members) in sorted(reader_groups.items())
           if any(str(m.get("id", "")).lower() == principal for m in members)]
    found = [dict({"@odata.type": _GROUP_TYPE}, id=g.get("id"), displayName=g.get("displayName")) for g in via]
    if direct or via:
        from ansible_collections.sqlvm.backup.plugins.module_utils.azure.graph import DIRECTORY_READERS_TEMPLATE_ID
        found.append({"@odata.type": _ROLE_TYPE, "roleTemplateId": DIRECTORY_READERS_TEMPLATE_ID,
                      "displayName": "Directory Readers"})
    return found


class DirectorySnapshot:
    """The fleet's one Graph read, and each principal's verdict from it (entra_directory_reader.read_verdict, as
    sqlvm_info gives it). A failed read is kept and raised for every principal, so each host reports it."""

    def __init__(self, readers=(), reader_groups=None, graph_sp=None, app_role_grants=(), error=None):
        self.readers = list(readers)
        self.reader_groups = dict(reader_groups or {})
        self.graph_sp = graph_sp or {}
        self.app_role_grants = list(app_role_grants)
        self.error = error

    def verdict(self, principal_id):
        from ansible_collections.sqlvm.backup.plugins.module_utils.backends import entra_directory_reader as directory
        if self.error is not None:
            raise self.error
        transitive = principal_memberships(principal_id, self.readers, self.reader_groups)
        ok, reason = directory.read_verdict(transitive)
        if ok:
            return ok, reason
        mine = [a for a in self.app_role_grants if str(a.get("principalId", "")).lower() == str(principal_id).lower()]
        return directory.read_verdict(transitive, directory.granted_app_roles(
            mine, self.graph_sp.get("id"), directory.app_role_ids(self.graph_sp)))


# ---------------------------------------------------------------------------------------------
# requests

class RequestCounter:
    """HTTP requests sent, per kind (pages included; retries inside the pipeline are not requests of ours)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(REQUEST_KINDS, 0)

    def add(self, kind):
        with self._lock:
            self.counts[kind] += 1


class _CountingClient:
    """A pipeline client whose requests are counted as ``kind``; send_json needs only these two methods."""

    def __init__(self, client, counter, kind):
        self._client = client
        self._counter = counter
        self._kind = kind

    def format_url(self, url, **kwargs):
        return self._client.format_url(url, **kwargs)

    def send_request(self, request, **kwargs):
        self._counter.add(self._kind)
        return self._client.send_request(request, **kwargs)


class _Reader:
    """What arm.py and graph calls need of a session - arm, graph, subscription_id, deadline - with this thread's
    ARM client, counting each request as ``kind``."""

    def __init__(self, session, clients, counter, kind):
        self._session = session
        self._clients = clients
        self._counter = counter
        self._kind = kind
        self.subscription_id = session.subscription_id
        self.deadline = session.deadline

    @property
    def arm(self):
        return _CountingClient(self._clients.client("arm"), self._counter, self._kind)

    @property
    def graph(self):
        return _CountingClient(self._session.graph, self._counter, "graph")


def _outcome(call, *args):
    """call(*args), or the domain error it raised (kept for the hosts that depend on it)."""
    try:
        return call(*args)
    except SqlvmBackupError as err:
        return err


def read_directory(reader):
    """The DirectorySnapshot of the tenant (Graph requests: a constant number, whatever the fleet's size)."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure.graph import DIRECTORY_READERS_TEMPLATE_ID
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import entra_directory_reader as directory
    try:
        readers = directory.directory_role_members(reader, DIRECTORY_READERS_TEMPLATE_ID)
        reader_groups = {}
        for member in readers:
            if member.get("@odata.type") == _GROUP_TYPE:
                reader_groups[str(member["id"]).lower()] = (member, directory.group_transitive_members(reader, member["id"]))
        graph_sp = directory.graph_service_principal(reader)
        grants = directory.app_role_assigned_to(reader, graph_sp["id"])
    except SqlvmBackupError as err:
        return DirectorySnapshot(error=err)
    return DirectorySnapshot(readers, reader_groups, graph_sp, grants)


def _list_vms(reader, scope):
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sqlvm_identity import COMPUTE_API_VERSION
    items = list_all(reader, collection_path(scope, VIRTUAL_MACHINES), COMPUTE_API_VERSION,
                     operation="list virtual machines", resource=scope)
    if items is None:
        raise PrerequisiteError("%s does not exist (listing its virtual machines answered 404)" % scope,
                                fix="check resource_group and subscription_id of the VMs in it.")
    return items


def _list_assignments_at_scope(reader, scope):
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends.role_assignment import AUTHORIZATION_API_VERSION
    items = list_all(reader, collection_path(scope, ROLE_ASSIGNMENTS), AUTHORIZATION_API_VERSION,
                     params={"$filter": "atScope()"}, operation="list role assignments", resource=scope)
    if items is None:  # the message sqlvm_info gives (role_assignment.list_for_principal)
        raise InvalidInputError("scope %s does not exist; create the resource first or fix the scope" % scope)
    return items


def _get_sqlvm(reader, subscription, entry):
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sqlvm_identity import SQLVM_API_VERSION
    # $expand=* as sqlvm_info reads it: the primary identity is only in the expanded resource.
    return arm_get(reader, sqlvm_id(subscription, entry["resource_group"], entry.get("sql_vm_name") or entry["vm_name"]),
                   SQLVM_API_VERSION, params={"$expand": "*"})


def _get_vm(reader, rid):
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sqlvm_identity import COMPUTE_API_VERSION
    return arm_get(reader, rid, COMPUTE_API_VERSION)


def read(session, desired, make_client=None):
    """{hosts, requests} -> Result (never changed). ``make_client``: builds a worker thread's ARM client
    (default: pipeline.arm_client on the session's credential, cloud and deadline)."""
    from concurrent.futures import ThreadPoolExecutor

    planned = validate(desired)
    default_subscription = desired.get("subscription_id") or session.subscription_id
    # The storage scopes now also against each VM's subscription, as sqlvm_info checks its own.
    planned = [(entry, sqlvm_info.validate(entry, entry.get("subscription_id") or default_subscription,
                                           prefix="vms[%d]." % index) if scope else None)
               for index, (entry, scope) in enumerate(planned)]
    counter = RequestCounter()
    clients = ThreadClients(session, make_client and (lambda _kind: make_client()))
    if planned:
        _prepare_for_threads(session)

    def reader(kind):
        return _Reader(session, clients, counter, kind)

    with ThreadPoolExecutor(max_workers=desired.get("concurrency") or DEFAULT_CONCURRENCY) as pool:
        sqlvms = [pool.submit(_outcome, _get_sqlvm, reader("gets"), entry.get("subscription_id") or default_subscription,
                              entry) for entry, _scope in planned]
        vm_lists = {scope: pool.submit(_outcome, _list_vms, reader("lists"), scope)
                    for scope in (vm_collections([e for e, _s in planned], default_subscription) if planned else ())}
        assignments = {scope_key(scope): pool.submit(_outcome, _list_assignments_at_scope, reader("lists"), scope)
                       for scope in storage_scopes(planned)}
        directory = None
        if planned and desired.get("check_directory", True):
            directory = read_directory(reader("graph"))
        sqlvms = [future.result() for future in sqlvms]
        vm_lists = {scope: future.result() for scope, future in vm_lists.items()}
        entries = [entry for entry, _scope in planned]
        for denied in [scope for scope, items in vm_lists.items() if _denied(items) and "/resourcegroups/" not in
                       scope.lower()]:
            del vm_lists[denied]
            narrower = {rg: pool.submit(_outcome, _list_vms, reader("lists"), rg)
                        for rg in resource_group_collections(entries, default_subscription, denied)}
            vm_lists.update({rg: future.result() for rg, future in narrower.items()})
        assignments = {key: future.result() for key, future in assignments.items()}
        vms, missing = _index_vms(planned, sqlvms, vm_lists, default_subscription)
        extra = {rid: pool.submit(_outcome, _get_vm, reader("gets"), rid) for rid in missing}
        vms.update({rid.lower(): future.result() for rid, future in extra.items()})

    hosts = {}
    check_directory = desired.get("check_directory", True)
    check_network = desired.get("check_network", True)
    network = None
    if planned and check_network:
        network = _fleet_network(reader("network"), {entry.get("subscription_id") or default_subscription
                                                     for entry, _scope in planned})
    for (entry, scope), sqlvm_resource in zip(planned, sqlvms):
        hosts[entry["host"]] = host_report(dict(entry, check_directory=check_directory, check_network=check_network),
                                           scope, sqlvm_resource, vms, vm_lists, assignments, directory,
                                           entry.get("subscription_id") or default_subscription,
                                           network=network and (lambda vm, scope=scope: network(vm, scope)))
    return Result(False, hosts=hosts, requests=dict(counter.counts))


def _fleet_network(reader, subscriptions):
    """network(vm, scope) -> the VM's network checks, from one shared cache primed with four listings per
    subscription (network interfaces, public IPs, virtual networks, NSGs), so each VM then costs no request and
    each storage account and private endpoint is read once. A listing that is refused (403) leaves the cache to
    read resource by resource; what cannot be read is that check's "cannot tell"."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import network_readiness

    cache = network_readiness.NetworkReadCache()
    for subscription in sorted(subscriptions):
        try:
            network_readiness.prime_subscription(reader, cache, subscription)
        except SqlvmBackupError:
            pass

    def network(vm, scope):
        return network_readiness.network_checks(reader, vm, scope, cache)
    return network


def _vm_resource_id(sqlvm_resource, entry, subscription):
    return (sqlvm_resource.get("properties") or {}).get("virtualMachineResourceId") or vm_id(
        subscription, entry["resource_group"], entry["vm_name"])


def _index_vms(planned, sqlvms, vm_lists, default_subscription):
    """({lower-case VM id: VM}, [VM ids outside every listed collection, to GET one by one])."""
    vms = {}
    for items in vm_lists.values():
        if isinstance(items, list):
            vms.update({str(vm.get("id", "")).lower(): vm for vm in items})
    missing = []
    for (entry, _scope), sqlvm_resource in zip(planned, sqlvms):
        if not isinstance(sqlvm_resource, dict):
            continue
        rid = _vm_resource_id(sqlvm_resource, entry, entry.get("subscription_id") or default_subscription)
        if not any(scope_contains(scope, rid) for scope in vm_lists) and rid.lower() not in {m.lower() for m in missing}:
            missing.append(rid)
    return vms, missing


def host_report(entry, scope, sqlvm_resource, vms, vm_lists, assignments, directory, subscription, network=None):
    """One host's sqlvm_info report from the fleet's reads, or {failed, msg} when what it needs could not be read."""
    try:
        if isinstance(sqlvm_resource, SqlvmBackupError):
            raise sqlvm_resource
        vm = None
        if sqlvm_resource is not None:
            rid = _vm_resource_id(sqlvm_resource, entry, subscription)
            vm = vms.get(rid.lower())
            if isinstance(vm, SqlvmBackupError):
                raise vm
            if vm is None:
                for listed, items in vm_lists.items():
                    if scope_contains(listed, rid) and isinstance(items, SqlvmBackupError):
                        raise items
                raise PrerequisiteError(
                    "virtual machine %s (referenced by SQL VM %s) not found" % (rid, sqlvm_resource.get("name")),
                    fix="check vm_name and resource_group, or re-register the VM with the SQL IaaS Agent extension.")

        def storage_assignments(_principal):
            found = assignments[scope_key(scope)]
            if isinstance(found, SqlvmBackupError):
                raise found
            return found

        return sqlvm_info.evaluate(entry, sqlvm_resource, vm, scope,
                                   directory_verdict=directory.verdict if directory is not None else None,
                                   storage_assignments=storage_assignments, network=network)
    except SqlvmBackupError as err:
        return {"failed": True, "msg": err.msg}
    except Exception as err:  # pylint: disable=broad-except  # one host's surprise is that host's failure
        return {"failed": True, "msg": redact("unexpected error reading this VM: %s: %s" % (type(err).__name__, err))}
