#!/usr/bin/python
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: sql_fleet_info
short_description: Read many SQL Server instances in one task, each as sqlvm.backup.sql_info reads one
version_added: 0.2.0
description:
  - Reads, and never changes, what M(sqlvm.backup.sql_info) reads - version and update level, host platform,
    clustering, server credentials (names and identities, never secrets), Microsoft Entra logins and sysadmin
    members, trace flags, the last backup to URL of each database, and the readiness verdict - for every server
    listed in O(servers), in one module process.
  - Run it once per play (C(run_once), on the controller) for all the play's hosts instead of M(sqlvm.backup.sql_info)
    once per host - Ansible starts a process per host and task, which dominates the time of a large fleet.
  - Up to O(concurrency) servers are read at the same time; each login and each read ends within the task's
    O(timeout).
  - A server that cannot be reached, refuses the login, or fails its read is reported in RV(hosts) with
    C(failed=true) and a message saying the cause and what to do; the task itself does not fail for it.
  - Every entry is validated before any server is contacted, as M(sqlvm.backup.sql_info) validates its options;
    bad input fails the task naming the entry, for example C(servers[3].sql_host).
  - The top-level connection options have the meaning they have in M(sqlvm.backup.sql_info) and are the defaults
    of every entry of O(servers); an entry overrides any of them for its server.
  - With O(sql_auth=entra) (or V(auto) without O(login_user)), one Microsoft Entra access token is requested for the
    whole task, with the Azure authentication options, and used for every server that logs in with a token.
author:
  - sqlvm.backup developers (@sqlvm-backup)
options:
  servers:
    description:
      - The SQL Server instances to read, one entry per host.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description:
          - Required. The name the server's result is kept under in RV(hosts), typically C(inventory_hostname).
            Unique within O(servers).
        type: str
      sql_host:
        description:
          - Required. Host name or address of the SQL Server instance.
        type: str
        aliases: [login_host]
      sql_port:
        description:
          - TCP port of the instance. Default O(sql_port).
        type: int
        aliases: [login_port]
      sql_auth:
        description:
          - How to log in to this instance. Default O(sql_auth).
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
      container_url:
        description:
          - As M(sqlvm.backup.sql_info)'s O(sqlvm.backup.sql_info#module:container_url), for this server. Default
            O(container_url). A URL with a shared access signature or a user name and password is refused.
        type: str
  concurrency:
    description:
      - How many servers are read at the same time (1 to 256). Each one holds a connection while it is read.
    type: int
    default: 32
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
  container_url:
    description:
      - When given, readiness also needs a managed-identity credential named exactly by this container URL, on every
        server whose entry does not give its own.
    type: str
  storage_suffix:
    description:
      - Storage endpoint suffix the container URLs must use. Defaults to the suffix of O(cloud_environment).
    type: str
  timeout:
    description:
      - The most the whole task may take, in seconds - the Entra sign-in and every server's login and read
        included. Each login and each read ends within it; a server not read when it runs out is reported failed
        with that reason. Raise it, or O(concurrency), for a large fleet with unreachable servers (each one holds
        a worker for up to O(login_timeout)).
      - V(0) and negative values are refused.
    type: int
    default: 300
requirements:
  - pyodbc >= 5.0
  - unixODBC and an ODBC driver for SQL Server (Microsoft ODBC Driver 18 for SQL Server, or FreeTDS for SQL
    authentication only)
notes:
  - The servers are read from the host the task runs on (usually the controller with C(delegate_to) C(localhost) and
    C(run_once)), which must reach every server's port.
extends_documentation_fragment:
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes.info_module
seealso:
  - module: sqlvm.backup.sql_info
"""

EXAMPLES = r"""
- name: One entry per host of the play (an entry's unset option takes the task's value)
  ansible.builtin.set_fact:
    fleet_servers: >-
      {{ fleet_servers | default([]) + [{'host': item, 'sql_host': hostvars[item].sql_host,
         'sql_port': hostvars[item].sql_port | default(None),
         'container_url': hostvars[item].container_url | default(None)}] }}
  loop: "{{ ansible_play_hosts }}"
  run_once: true

- name: Read every SQL Server of the play once, from the controller
  sqlvm.backup.sql_fleet_info:
    login_user: "{{ sql_login_user }}"
    login_password: "{{ sql_login_password }}"
    servers: "{{ fleet_servers }}"
  delegate_to: localhost
  run_once: true
  register: fleet

- name: Same, as a plain list, logging in with one Microsoft Entra token for all of them
  sqlvm.backup.sql_fleet_info:
    sql_auth: entra
    concurrency: 16
    servers:
      - {host: sqlvm01, sql_host: 10.0.0.4}
      - {host: sqlvm02, sql_host: 10.0.0.5, sql_port: 14330}
  delegate_to: localhost
  run_once: true
  register: fleet

- name: Each host's facts (or its failure) from the one read
  ansible.builtin.debug:
    msg: "{{ fleet.hosts[inventory_hostname].ready | default(fleet.hosts[inventory_hostname].msg) }}"
"""

RETURN = r"""
hosts:
  description:
    - For every entry of O(servers), under its O(servers[].host), exactly what M(sqlvm.backup.sql_info) returns for that
      server (every return value but C(changed)) - or, for a server that could not be reached or read,
      C(failed=true), C(msg) (the cause and what to do, as M(sqlvm.backup.sql_info) would fail with it) and C(error)
      (C(kind), and for SQL Server's refusals its C(number), for example 18456).
  returned: always
  type: dict
  sample:
    sqlvm01: {ready: true, reasons: [], managed_identity_backup_supported: true, instance: {release: "2022"}}
    sqlvm02: {failed: true, msg: "Could not reach SQL Server at 10.0.0.5:1433 within 15 s ... Fix: check ...",
              error: {kind: error}}
summary:
  description: How many servers were listed, read, and failed.
  returned: always
  type: dict
  contains:
    servers:
      description: Entries in O(servers).
      type: int
    read:
      description: Servers read.
      type: int
    failed:
      description: Servers that could not be reached or read.
      type: int
  sample: {servers: 2, read: 1, failed: 1}
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_fleet_info
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule


def main():
    module = SqlvmModule(sql_fleet_info.argument_spec(), supports_check_mode=True)

    def task(module):
        sql_fleet_info.validate(module.params)
        return sql_fleet_info.read(module.params, deadline=module.deadline,
                                   token_provider=lambda: module.azure.token(module.azure.cloud.sql_scope))
    module.run(task)


if __name__ == "__main__":
    main()
