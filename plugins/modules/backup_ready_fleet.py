#!/usr/bin/python
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: backup_ready_fleet
short_description: Converge many SQL Server VMs to backup-ready in one task, only the steps each one misses
version_added: 0.3.0
description:
  - Runs, for every host listed in O(hosts), the writing steps of the C(sqlvm.backup.backup_ready) role that the
    host's entry lists, in the role's order - V(identity) (M(sqlvm.backup.sqlvm_identity)), V(directory)
    (M(sqlvm.backup.entra_directory_reader)), V(storage) (M(sqlvm.backup.role_assignment), Storage Blob Data
    Contributor), V(logins) (M(sqlvm.backup.sql_login), Microsoft Entra logins) and V(credential)
    (M(sqlvm.backup.sql_credential), the managed-identity credential per container URL). Each step is that
    module's own code, so a host ends exactly as the role would leave it.
  - One module process for the whole fleet instead of a process per host and step. C(playbooks/backup_ready.yml)
    runs it once (C(run_once), on the controller) with the steps its fleet read (M(sqlvm.backup.sqlvm_fleet_info),
    M(sqlvm.backup.sql_fleet_info)) shows missing; a host with nothing missing is not listed.
  - Up to O(concurrency) hosts are converged at the same time. Azure Resource Manager's throttling (HTTP 429) is
    waited out as Retry-After says, with a random spread, within the task's O(timeout).
  - A step that fails ends its host - the later steps depend on it - with the cause and the fix in its entry of
    RV(hosts) (C(failed), C(failed_step), C(msg)); the other hosts go on, and the task itself does not fail.
    RV(failed_hosts) lists them, for example to fail those hosts in a later play.
  - Every entry is checked before the first request; bad input fails the task naming the entry, for example
    C(hosts[3].storage_account).
  - In check mode nothing is written. A managed identity this run would create has no principal id yet, so the
    directory and storage grants for it are reported as changes that wait for it (C(waits_for)), as the role
    reports them.
author:
  - sqlvm.backup developers (@sqlvm-backup)
options:
  hosts:
    description:
      - One entry per host to converge.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description:
          - Required. The name the host's result is kept under in RV(hosts), typically C(inventory_hostname).
            Unique within O(hosts).
        type: str
      steps:
        description:
          - Required. The steps to run for this host, run in the order V(identity), V(directory), V(storage),
            V(logins), V(credential) whatever the order given.
        type: list
        elements: str
      subscription_id:
        description:
          - The host's subscription. Default O(subscription_id).
        type: str
      resource_group:
        description:
          - Resource group of the VM and of its SQL virtual machine resource. Needed by the Azure steps.
        type: str
      vm_name:
        description:
          - Name of the Azure virtual machine. Needed by the Azure steps.
        type: str
      sql_vm_name:
        description:
          - Name of the SQL virtual machine resource; default O(hosts[].vm_name).
        type: str
      identity:
        description:
          - The identity to make primary - V(system) (the default), or a user-assigned identity's name (in
            O(hosts[].resource_group)) or resource id - as M(sqlvm.backup.sqlvm_identity)'s
            O(sqlvm.backup.sqlvm_identity#module:primary).
        type: str
      identity_exclusive:
        description:
          - Detach every other identity from the VM (M(sqlvm.backup.sqlvm_identity)'s
            O(sqlvm.backup.sqlvm_identity#module:exclusive)). Default V(false).
        type: bool
      sql_version:
        description:
          - The SQL Server build (C(SERVERPROPERTY('ProductVersion'))), so builds older than 2022 CU17 are refused
            before any change.
        type: str
      failover_cluster_instance:
        description:
          - Whether SQL Server is a failover cluster instance; V(true) is refused before any change.
        type: bool
      principal_id:
        description:
          - The principal (object) id of the VM's current primary identity, as the fleet read reports it. Needed by
            the V(directory) and V(storage) steps when V(identity) is not listed; with V(identity), the identity
            step's own principal is used.
        type: str
      directory_method:
        description:
          - How the primary identity gets to read Microsoft Entra ID (M(sqlvm.backup.entra_directory_reader)'s
            O(sqlvm.backup.entra_directory_reader#module:method)). Default V(directory_role).
        type: str
        choices: [directory_role, group, graph_app_roles]
      directory_group_id:
        description:
          - The role-assignable group holding Directory Readers, for O(hosts[].directory_method=group).
        type: str
      storage_account:
        description:
          - The storage account backups go to. Needed by the V(storage) step.
        type: str
      storage_resource_group:
        description:
          - Resource group of O(hosts[].storage_account); default O(hosts[].resource_group).
        type: str
      storage_container:
        description:
          - When set, Storage Blob Data Contributor is granted on this container instead of the whole account.
        type: str
      logins:
        description:
          - The Microsoft Entra logins of the V(logins) step, each C({name, object_id, server_roles, state}) as the
            role's C(backup_ready_logins).
        type: list
        elements: dict
      container_urls:
        description:
          - The container URLs of the V(credential) step; each gets a credential of that name
            C(WITH IDENTITY = 'Managed Identity'). A URL with a shared access signature or a password is refused.
        type: list
        elements: str
      sql_host:
        description:
          - Host name or address of the host's SQL Server instance. Needed by the V(logins) and V(credential) steps.
        type: str
        aliases: [login_host]
      sql_port:
        description:
          - TCP port of the instance. Default O(sql_port).
        type: int
        aliases: [login_port]
      sql_auth:
        description:
          - How to log in to this host's instance. Default O(sql_auth).
          - An entry with V(entra) does not take the task's O(login_user) and O(login_password).
        type: str
        choices: [auto, sql, entra]
      login_user:
        description:
          - SQL Server login name. Default O(login_user).
        type: str
      login_password:
        description:
          - Password of the login. Default O(login_password). Never returned or logged.
        type: str
      odbc_driver:
        description:
          - The ODBC driver, by name or path. Default O(odbc_driver).
        type: str
      encrypt:
        description:
          - TLS for the connection. Default O(encrypt).
        type: str
        choices: ['yes', 'no', strict]
      trust_server_certificate:
        description:
          - Accept the server certificate without validating it (test servers only). Default
            O(trust_server_certificate).
        type: bool
      host_name_in_certificate:
        description:
          - The host name expected in the server certificate. Default O(host_name_in_certificate).
        type: str
      login_timeout:
        description:
          - Seconds to wait for the login. Default O(login_timeout).
        type: int
      statement_timeout:
        description:
          - Seconds the read may run. Default O(statement_timeout).
        type: int
  concurrency:
    description:
      - How many hosts are converged at the same time (1 to 128).
    type: int
    default: 32
  principal_wait:
    description:
      - Seconds each grant waits for a new identity to appear in Microsoft Entra ID (it answers
        C(PrincipalNotFound) for a while after the identity is created), never past the task's O(timeout).
    type: int
    default: 120
  sql_port:
    description:
      - TCP port of the SQL Server instances.
    type: int
    default: 1433
    aliases: [login_port]
  sql_auth:
    description:
      - How to log in to SQL Server.
      - V(sql) uses O(login_user) and O(login_password) (SQL Server authentication).
      - V(entra) logs in with a Microsoft Entra access token for the scope
        C(https://<SQL suffix of the cloud>/.default), obtained once for the task with the same credential chain as
        the Azure modules (O(auth_source) and related options, or the AWX Azure credential). Needs the Microsoft ODBC
        Driver 17.3 or later; FreeTDS is refused before connecting.
      - V(auto) means V(sql) when O(login_user) (of the entry, or this task-wide one) is set, else V(entra).
    type: str
    choices: [auto, sql, entra]
    default: auto
  login_user:
    description:
      - SQL Server login name for O(sql_auth=sql).
    type: str
  login_password:
    description:
      - Password of O(login_user). Never returned or logged. An empty or blank password is refused.
    type: str
  odbc_driver:
    description:
      - The ODBC driver, by the name registered in C(odbcinst.ini) or by the path to the driver library.
    type: str
    default: ODBC Driver 18 for SQL Server
  encrypt:
    description:
      - TLS for the connections. V(yes) encrypts and validates the server certificate (unless
        O(trust_server_certificate=true)); V(strict) uses TDS 8 (Microsoft ODBC Driver 18 only); V(no) sends only the
        login packets encrypted - avoid it.
    type: str
    choices: ['yes', 'no', strict]
    default: 'yes'
  trust_server_certificate:
    description:
      - Accept the server certificates without validating them. Only for test servers; it allows
        man-in-the-middle attacks.
    type: bool
    default: false
  host_name_in_certificate:
    description:
      - The host name expected in the server certificates when it differs from their C(sql_host).
    type: str
  login_timeout:
    description:
      - Seconds to wait for each login to complete; V(0) waits until the task's O(timeout) runs out.
    type: int
    default: 15
  statement_timeout:
    description:
      - Seconds each server's read may run before it is cancelled; V(0) means no limit but the task's O(timeout).
    type: int
    default: 0
  storage_suffix:
    description:
      - Storage endpoint suffix the container URLs must use. Defaults to the suffix of O(cloud_environment).
    type: str
  timeout:
    description:
      - The most the whole task may take, in seconds - every host's requests, long-running operations, throttling
        waits and SQL statements included. A host not finished when it runs out is reported failed with that reason.
        A fresh fleet of 1000 VMs needs several minutes (Azure Resource Manager allows about 10 writes a second).
      - V(0) and negative values are refused.
    type: int
    default: 3600
requirements:
  - azure-core, azure-mgmt-core and azure-identity (the Azure steps)
  - pyodbc >= 5.0 and an ODBC driver for SQL Server (the SQL Server steps)
notes:
  - Needs what the five modules need, together - on the VMs and SQL virtual machine resources
    C(Microsoft.Compute/virtualMachines/write) and C(Microsoft.SqlVirtualMachine/sqlVirtualMachines/write); on the
    storage scopes C(Microsoft.Authorization/roleAssignments/write); in Microsoft Entra ID the right to grant the
    directory read (Privileged Role Administrator for Directory Readers); on SQL Server C(ALTER ANY LOGIN) and
    C(ALTER ANY CREDENTIAL) (sysadmin).
  - The task's changed status is the fleet's; each host's own is in RV(hosts).
extends_documentation_fragment:
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes
seealso:
  - module: sqlvm.backup.sqlvm_fleet_info
  - module: sqlvm.backup.sql_fleet_info
  - module: sqlvm.backup.sqlvm_identity
  - module: sqlvm.backup.entra_directory_reader
  - module: sqlvm.backup.role_assignment
  - module: sqlvm.backup.sql_login
  - module: sqlvm.backup.sql_credential
  - name: Backup and restore to URL using managed identities
    description: SQL Server on Azure VM documentation - the steps and their prerequisites.
    link: https://learn.microsoft.com/azure/azure-sql/virtual-machines/windows/backup-restore-to-url-using-managed-identities
"""

EXAMPLES = r"""
- name: Converge two VMs - a fresh one, and one that only lacks its credential
  sqlvm.backup.backup_ready_fleet:
    login_user: "{{ sql_login_user }}"
    login_password: "{{ sql_login_password }}"
    hosts:
      - host: sqlvm01
        steps: [identity, directory, storage, logins, credential]
        resource_group: rg-sql
        vm_name: sqlvm01
        storage_account: contosobackups
        storage_resource_group: rg-storage
        logins:
          - {name: sql-backup-operators, server_roles: [sysadmin]}
        container_urls: [https://contosobackups.blob.core.windows.net/sql]
        sql_host: 10.0.0.4
      - host: sqlvm02
        steps: [credential]
        container_urls: [https://contosobackups.blob.core.windows.net/sql]
        sql_host: 10.0.0.5
  delegate_to: localhost
  run_once: true
  register: converged

- name: Fail the hosts whose steps failed, each with its own message
  ansible.builtin.fail:
    msg: "{{ converged.hosts[inventory_hostname].msg }}"
  when: inventory_hostname in converged.failed_hosts
"""

RETURN = r"""
hosts:
  description:
    - For every entry of O(hosts), under its O(hosts[].host) - C(changed); C(steps), each step's result as its
      module returns it (for V(logins) and V(credential), C(items), one per login or URL, with C(name)); and for a
      host whose step failed C(failed=true), C(failed_step), C(msg) (the cause and the fix) and, when SQL
      statements had already run, C(statements_done).
  returned: always
  type: dict
  sample:
    sqlvm01:
      changed: true
      steps:
        identity: {changed: true, principal_id: 6a6c3a5e-9e3f-4b38-9f1f-0cf1a3c1d2e4, primary: system-assigned identity}
        directory: {changed: true, changes: [assign Directory Readers]}
    sqlvm02: {changed: false, failed: true, failed_step: credential,
              msg: "credential step: Could not reach SQL Server at 10.0.0.5:1433 within 15 s ... Fix: ..."}
failed_hosts:
  description: The hosts whose steps failed, sorted.
  returned: always
  type: list
  elements: str
summary:
  description: How many hosts were listed, changed, failed, and left unchanged.
  returned: always
  type: dict
  sample: {hosts: 2, changed: 1, failed: 1, unchanged: 0}
diff:
  description: With C(--diff), per host and step, the state before and after (predicted in check mode).
  returned: when diff mode is on and something was read
  type: dict
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import backup_ready_fleet
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule


def main():
    module = SqlvmModule(backup_ready_fleet.argument_spec(), supports_check_mode=True)

    def task(module):
        try:
            return backup_ready_fleet.converge(module.azure, module.params, module.check_mode,
                                               sql_token=lambda: module.azure.token(module.azure.cloud.sql_scope))
        finally:
            # As sqlvm_identity warns: Entra authentication on SQL VMs is not offered in every cloud.
            if any("identity" in (entry.get("steps") or ()) for entry in module.params["hosts"]):
                module._warn_entra_cloud(resolve=False)  # pylint: disable=protected-access
    module.run(task)


if __name__ == "__main__":
    main()
