#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sqlvm_fleet_info
short_description: Report, in one task, whether many SQL Server VMs are ready to back up with a managed identity
version_added: 0.2.0
description:
  - The Azure side of M(sqlvm.backup.sqlvm_info) for a whole fleet, read in bulk in one process, without
    changing anything. Run it once per play (for example C(run_once) with the play's hosts) instead of
    once per host.
  - For each VM it returns exactly the report M(sqlvm.backup.sqlvm_info) returns for that VM (the same
    code builds both), or C(failed) with the cause when that VM could not be read; one VM that cannot be
    read never fails the task.
  - "Requests: one C(GET ...?$expand=*) per SQL virtual machine resource, C(concurrency) at a time (the
    list operation does not return the primary identity for Microsoft Entra authentication); one paged
    list of virtual machines per subscription, or per resource group when all the fleet's VMs of a
    subscription are in one group; one list of role assignments per distinct O(vms[].storage_scope);
    and one read of Microsoft Graph for the whole fleet (Directory Readers members and their groups'
    members, Microsoft Graph's application role grants). RV(requests) counts them."
author:
  - sqlvm.backup developers (@sqlvm-backup)
extends_documentation_fragment:
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes.info_module
options:
  vms:
    description:
      - The VMs to check, one entry per host. Invalid entries (a missing O(vms[].resource_group), a name Azure
        would refuse, a bad O(vms[].storage_scope), a repeated O(vms[].host)) fail the task before any request,
        naming the entry, for example C(vms[3].resource_group).
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: The key of this VM in RV(hosts), for example C(inventory_hostname). Required.
        type: str
      subscription_id:
        description: Subscription of this VM; defaults to the task's O(subscription_id).
        type: str
      resource_group:
        description: Resource group of the VM and its SQL virtual machine resource. Required.
        type: str
      vm_name:
        description: Name of the virtual machine. Required.
        type: str
      sql_vm_name:
        description: Name of the SQL virtual machine resource; defaults to O(vms[].vm_name).
        type: str
      storage_scope:
        description:
          - Storage account or container resource id on which the primary identity needs
            C(Storage Blob Data Contributor), in this VM's subscription. Without it, storage access is not checked.
        type: str
      sql_version:
        description: SQL Server build (C(SERVERPROPERTY('ProductVersion'))) to check against 2022 CU17.
        type: str
      failover_cluster_instance:
        description: Whether SQL Server is a failover cluster instance (C(SERVERPROPERTY('IsClustered'))).
        type: bool
  check_directory:
    description: Check through Microsoft Graph whether each primary identity can read the directory.
    type: bool
    default: true
  concurrency:
    description:
      - How many Azure Resource Manager requests are in flight at once (1 to 64); the few Microsoft Graph
        requests run beside them, one at a time.
      - The task's O(timeout) bounds the whole read.
    type: int
    default: 16
notes:
  - Reading Graph needs C(Directory.Read.All) (or Directory Readers) for the account running the task;
    without it every directory check reports the missing permission instead of failing the task.
  - Reading the role assignments of a storage scope needs C(Microsoft.Authorization/roleAssignments/read)
    there (for example Reader).
  - Azure Resource Manager throttles reads per principal and subscription with a token bucket (a burst of 250,
    then 25 per second; Microsoft Learn "Understand how Azure Resource Manager throttles requests"). With one
    GET per SQL VM, 1000 VMs in one subscription take at least about 30 seconds whatever O(concurrency) is;
    throttled requests are retried after the C(Retry-After) Azure gives, within O(timeout).
seealso:
  - module: sqlvm.backup.sqlvm_info
  - module: sqlvm.backup.sqlvm_identity
  - module: sqlvm.backup.entra_directory_reader
  - module: sqlvm.backup.role_assignment
"""

EXAMPLES = r"""
- name: Read the Azure side of every SQL VM of the play, once
  sqlvm.backup.sqlvm_fleet_info:
    vms: >-
      [{% for h in ansible_play_hosts %}
      {"host": {{ h | to_json }}, "resource_group": {{ hostvars[h].resource_group | to_json }},
       "vm_name": {{ hostvars[h].vm_name | to_json }},
       "storage_scope": {{ hostvars[h].storage_scope | default(none) | to_json }}}{{ '' if loop.last else ',' }}
      {% endfor %}]
  run_once: true
  register: fleet

- name: Each host's verdict
  ansible.builtin.debug:
    msg: "{{ fleet.hosts[inventory_hostname].not_ready | default(fleet.hosts[inventory_hostname].msg) }}"

- name: Two VMs, explicitly
  sqlvm.backup.sqlvm_fleet_info:
    vms:
      - host: sql01
        resource_group: rg-sql
        vm_name: sql01
        storage_scope: /subscriptions/{{ subscription_id }}/resourceGroups/rg-storage/providers/Microsoft.Storage/storageAccounts/backupsacct
      - host: sql02
        resource_group: rg-sql
        vm_name: sql02
        sql_version: 16.0.4175.1
"""

RETURN = r"""
hosts:
  description:
    - One entry per O(vms[].host).
    - For a VM that was read, exactly what M(sqlvm.backup.sqlvm_info) returns for it - C(ready), C(not_ready),
      C(checks) and, when the SQL VM resource exists, C(primary_principal_id). A VM without a SQL virtual machine
      resource is such a report, with C(not_ready=[sql_vm_resource]).
    - For a VM that could not be read (its SQL VM resource or VM answered an error, its VM is missing, its storage
      scope does not exist), C(failed=true) and C(msg), the cause and what to do.
  returned: always
  type: dict
  sample:
    sql01: {"ready": false, "not_ready": ["directory_read"], "primary_principal_id": "6f1c...",
            "checks": {"directory_read": {"ready": false, "reason": "the primary identity holds neither ..."}}}
    sql02: {"failed": true, "msg": "virtual machine /subscriptions/.../sql02 (referenced by SQL VM sql02) not found ..."}
requests:
  description:
    - HTTP requests the task sent, per kind (pages of a list included; retries of a request not). C(lists) are ARM
      list pages (virtual machines, role assignments), C(gets) ARM reads of one resource (SQL VM resources, VMs
      outside the listed collections), C(graph) Microsoft Graph requests.
    - C(lists) and C(graph) do not grow with the number of VMs beyond list paging; C(gets) is one per VM.
  returned: always
  type: dict
  sample: {"lists": 2, "gets": 120, "graph": 5}
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_fleet_info as backend
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule

VM_OPTIONS = dict(
    # host, resource_group and vm_name are required, checked by the backend so that the message names the entry
    # (vms[3].resource_group), which ansible-core's check of required suboptions does not.
    host=dict(type="str"),
    subscription_id=dict(type="str"),
    resource_group=dict(type="str"),
    vm_name=dict(type="str"),
    sql_vm_name=dict(type="str"),
    storage_scope=dict(type="str"),
    sql_version=dict(type="str"),
    failover_cluster_instance=dict(type="bool"),
)

ARGUMENT_SPEC = dict(
    vms=dict(type="list", elements="dict", required=True, options=VM_OPTIONS),
    check_directory=dict(type="bool", default=True),
    concurrency=dict(type="int", default=backend.DEFAULT_CONCURRENCY),
)


def main():
    module = SqlvmModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    desired = {key: module.params[key] for key in ARGUMENT_SPEC}
    desired["subscription_id"] = module.params.get("subscription_id")
    module.run_azure(backend, desired)


if __name__ == "__main__":
    main()
