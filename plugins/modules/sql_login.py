#!/usr/bin/python
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: sql_login
short_description: Manage Microsoft Entra and SQL logins, their server roles and database users
version_added: 0.1.0
description:
  - Ensures a server login exists (or not) on a SQL Server instance, with the server roles, enabled state and database
    users asked for.
  - Microsoft Entra logins are created with C(CREATE LOGIN ... FROM EXTERNAL PROVIDER), optionally
    C(WITH OBJECT_ID) to pick one principal among several with the same display name. The server's primary managed
    identity must be able to read the directory (sqlvm.backup.entra_directory_reader) and the connecting principal must
    itself be an Entra login with permission to create logins.
  - After enabling, disabling or changing server roles the module runs C(DBCC FLUSHAUTHCACHE) and
    C(DBCC FREESYSTEMCACHE('TokenAndPermUserStore') WITH NO_INFOMSGS) so the change takes effect for open sessions now.
  - Refuses, before sending anything, what SQL Server documents as unsupported, such as disabling the login of a
    Microsoft Entra group.
author:
  - sqlvm.backup developers (@sqlvm-backup)
options:
  name:
    description:
      - The login name. For Entra users the user principal name (C(ops@contoso.com)); for groups and applications their
        display name.
      - At most 128 characters, quoted as QUOTENAME does; control characters (line breaks, tabs) and leading or trailing
        blanks are refused (SQL Server ignores trailing blanks when it compares names).
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the login; V(absent) drops it (and the users listed in O(databases) first).
    type: str
    choices: [present, absent]
    default: present
  login_type:
    description:
      - V(entra) for a Microsoft Entra user, group or application; V(sql) for a SQL Server authentication login.
    type: str
    choices: [entra, sql]
    default: entra
  object_id:
    description:
      - Object id of the Entra user or group, or client id of the application (C(WITH OBJECT_ID)). Use it when the
        display name is not unique in the tenant.
    type: str
  sql_login_password:
    description:
      - Password of a SQL login (O(login_type=sql)). Never returned or logged. An empty or blank password is refused.
      - Not to be confused with O(login_password), the password of the login this task connects as, or O(password),
        the Azure password of O(ad_user).
    type: str
  update_password:
    description:
      - V(on_create) sets the password only when the login is created; V(always) also changes it when it differs
        (checked with C(PWDCOMPARE), so an unchanged password is no change).
      - C(PWDCOMPARE) needs the password hash in C(sys.sql_logins), which only CONTROL SERVER (sysadmin) can read.
        Connected as another login (for example C(securityadmin)), or where C(PWDCOMPARE) is unavailable, the
        password cannot be compared; V(always) then sets it on every run, reports changed and warns.
    type: str
    choices: [on_create, always]
    default: on_create
  enabled:
    description:
      - Whether the login may connect. Disabling is not supported for Entra group logins (refused before any change).
      - For a login that does not exist yet only Microsoft Entra ID knows whether the name is a group. When Azure
        credentials are configured (O(sql_auth=entra), or a service principal in the options or the AWX
        environment) the module asks Microsoft Graph (C(GET /groups)) and refuses before creating anything. Without
        them it creates the login, reads its type back and refuses the C(DISABLE) if SQL Server made it a group
        login (it then exists, enabled).
      - When omitted, an existing login keeps its state and a new login is enabled.
    type: bool
  server_roles:
    description:
      - Server roles the login is a member of (for example V(sysadmin)). Omit to leave memberships alone.
    type: list
    elements: str
  server_roles_exclusive:
    description:
      - Remove the login from server roles not listed in O(server_roles). By default roles are only added.
    type: bool
    default: false
  databases:
    description:
      - Database users created C(FROM LOGIN) for this login, and their database roles.
    type: list
    elements: dict
    suboptions:
      name:
        description: Database name.
        type: str
        required: true
      user:
        description: User name in the database; defaults to the login name.
        type: str
      roles:
        description: Database roles of the user (for example V(db_backupoperator)). Omit to leave them alone.
        type: list
        elements: str
      roles_exclusive:
        description: Remove the user from roles not listed in O(databases[].roles).
        type: bool
        default: false
      state:
        description: Whether the user exists in that database.
        type: str
        choices: [present, absent]
        default: present
extends_documentation_fragment:
  - sqlvm.backup.sql_connection
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes
notes:
  - The T-SQL that changed the server is returned in RV(statements); statements that hold a password are shown without
    it.
seealso:
  - module: sqlvm.backup.sql_info
  - name: Microsoft Entra server principals
    description: Syntax and limitations of Entra logins.
    link: https://learn.microsoft.com/azure/azure-sql/database/authentication-azure-ad-logins
"""

EXAMPLES = r"""
- name: Backup operators group is sysadmin
  sqlvm.backup.sql_login:
    sql_host: sqlvm1.contoso.internal
    name: SQL Backup Operators
    object_id: 9f1c5b7e-2a4d-4c1b-8e59-0d3f6a7b8c9d
    server_roles: [sysadmin]

- name: Automation app may back up one database only
  sqlvm.backup.sql_login:
    sql_host: sqlvm1.contoso.internal
    name: backup-automation
    databases:
      - name: Sales
        roles: [db_backupoperator]

- name: Disable a departed user's login now
  sqlvm.backup.sql_login:
    sql_host: sqlvm1.contoso.internal
    name: alex@contoso.com
    enabled: false

- name: A SQL login, with SQL authentication as the connecting login
  sqlvm.backup.sql_login:
    sql_host: sqlvm1.contoso.internal
    login_user: sa
    login_password: "{{ vault_sa_password }}"
    name: legacy_reader
    login_type: sql
    sql_login_password: "{{ vault_legacy_reader_password }}"
"""

RETURN = r"""
statements_done:
  description:
    - When the task failed after some of its write statements ran, those statements (secrets not shown). The task then
      reports C(changed=true); run it again after fixing the cause and it continues from the current state.
  returned: on failure after a write
  type: list
  elements: str
statements_in_doubt:
  description:
    - When the connection to SQL Server was lost while a write statement was running, that statement - it may or may not
      have run.
  returned: on failure after a write
  type: list
  elements: str
login:
  description: The login after the run (predicted in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Login name.
      type: str
    type:
      description: V(entra), V(entra_group), V(sql), V(windows) or V(windows_group).
      type: str
    enabled:
      description: Whether the login may connect.
      type: bool
    server_roles:
      description: Server roles of the login.
      type: list
      elements: str
    databases:
      description: Users of the login per database, with their roles.
      type: dict
  sample:
    name: SQL Backup Operators
    type: entra_group
    enabled: true
    server_roles: [sysadmin]
statements:
  description: The write statements run (or, in check mode, that would run). Passwords are not shown.
  returned: always
  type: list
  elements: str
  sample: ["CREATE LOGIN [SQL Backup Operators] FROM EXTERNAL PROVIDER", "ALTER SERVER ROLE [sysadmin] ADD MEMBER [SQL Backup Operators]"]
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_login
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import connection_argument_spec


def main():
    spec = connection_argument_spec()
    spec.update(sql_login.argument_spec())
    module = SqlvmModule(spec, supports_check_mode=True)
    module.run_sql(sql_login, principal_kind=sql_login.entra_group_lookup(
        module.params, lambda: module.auth_settings, lambda: module.azure.graph))


if __name__ == "__main__":
    main()
