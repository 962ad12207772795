#!/usr/bin/python
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: sql_credential
short_description: Manage the server credential that BACKUP TO URL uses for a blob container
version_added: 0.1.0
description:
  - Ensures the server credential named by a blob container URL exists, C(WITH IDENTITY = 'Managed Identity') (the
    default - no secret is stored) or with a shared access signature.
  - SQL Server finds the credential for C(BACKUP ... TO URL) by the container part of the URL, exactly and
    case-sensitively. The URL is therefore validated strictly before anything is sent - https, the cloud's blob
    endpoint, a container and nothing after it, no trailing slash, lower case.
  - O(validate=true) drops and creates the credential again with trace flag 4675 on, so a missing primary managed
    identity is reported now (error 37563) instead of at the first backup; the trace flag is put back as it was.
author:
  - sqlvm.backup developers (@sqlvm-backup)
options:
  url:
    description:
      - The container URL, for example C(https://contosobackups.blob.core.windows.net/sql). It is the credential's
        name.
      - A URL with a query string (a shared access signature) or user information is refused and shown redacted;
        give the SAS to O(sas_token) with O(identity=sas).
    type: str
    required: true
    aliases: [name]
  state:
    description:
      - Whether the credential exists.
    type: str
    choices: [present, absent]
    default: present
  identity:
    description:
      - V(managed_identity) uses the SQL VM's primary managed identity (SQL Server 2022 CU17 or later on Azure VMs).
      - V(sas) stores the shared access signature O(sas_token).
    type: str
    choices: [managed_identity, sas]
    default: managed_identity
  sas_token:
    description:
      - The SAS token for O(identity=sas), without the leading C(?). Never returned or logged.
    type: str
  update_secret:
    description:
      - SQL Server never shows a stored secret, so it cannot be compared. V(on_create) sets it only when the credential
        is created; V(always) sets it on every run (the task then always reports a change).
    type: str
    choices: [on_create, always]
    default: on_create
  validate:
    description:
      - Drop and create the managed-identity credential with trace flag 4675 on, so SQL Server checks the primary
        managed identity now. The flag is restored to its previous state. Not done in check mode. The credential's
        definition is unchanged, so this alone reports no change.
    type: bool
    default: false
  storage_suffix:
    description:
      - Storage endpoint suffix the URL must use, for example C(core.windows.net). Defaults to the suffix of
        O(cloud_environment).
    type: str
extends_documentation_fragment:
  - sqlvm.backup.sql_connection
  - sqlvm.backup.azure_auth
attributes:
  check_mode:
    description: Reads the server and reports what would change; sends no write statement.
    support: full
  diff_mode:
    description: Returns the credential before and after (never its secret).
    support: full
  idempotent:
    description: A second run changes nothing and sends no write statement (unless O(update_secret=always) or O(validate=true)).
    support: partial
  action_group:
    description: Use C(group/sqlvm.backup.azure) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - sqlvm.backup.azure
seealso:
  - module: sqlvm.backup.sql_backup
  - name: Backup and restore to URL using managed identities
    description: Credential syntax and error messages.
    link: https://learn.microsoft.com/azure/azure-sql/virtual-machines/windows/backup-restore-to-url-using-managed-identities
"""

EXAMPLES = r"""
- name: Managed-identity credential for the backup container, checked now
  sqlvm.backup.sql_credential:
    sql_host: sqlvm1.contoso.internal
    url: https://contosobackups.blob.core.windows.net/sql
    validate: true

- name: SAS credential (older builds), rotated on every run
  sqlvm.backup.sql_credential:
    sql_host: sqlvm1.contoso.internal
    url: https://contosobackups.blob.core.windows.net/sql
    identity: sas
    sas_token: "{{ vault_backup_sas }}"
    update_secret: always
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
credential:
  description: The credential after the run (predicted in check mode); empty when absent. Never holds a secret.
  returned: always
  type: dict
  sample: {name: "https://contosobackups.blob.core.windows.net/sql", identity: Managed Identity}
validated:
  description: Whether the credential was created again with trace flag 4675 on and SQL Server accepted it.
  returned: when O(validate=true)
  type: bool
statements:
  description: Write statements run (or that would run). Secrets are not shown.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_credential
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import connection_argument_spec


def main():
    spec = connection_argument_spec()
    spec.update(sql_credential.argument_spec())
    module = SqlvmModule(spec, supports_check_mode=True)
    module.run_sql(sql_credential)


if __name__ == "__main__":
    main()
