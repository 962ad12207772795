# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The values the authentication options' argument spec needs, apart from auth.py: every module
builds the spec, but only tasks that talk to Azure need auth.py itself (compiled anew per task)."""

AUTH_SOURCES = ("auto", "credentials", "env", "credential_file", "msi", "cli", "workload_identity")
# Where auth_source's default comes from when the task does not set it (azure.azcollection reads it too).
AUTH_SOURCE_ENV = "ANSIBLE_AZURE_AUTH_SOURCE"
DEFAULT_AUTH_SOURCE = "auto"
DEFAULT_TIMEOUT = 300
# sql_backup and sql_restore: BACKUP and RESTORE of a large database take hours (docs/design.md, "Deadline").
LONG_TASK_TIMEOUT = 24 * 3600

TIMEOUT_FIX = ("give timeout a positive number of seconds: the most the whole task may take (sign-in, Azure and SQL "
               "Server included); the default is %d." % DEFAULT_TIMEOUT)


def timeout_problem(value):
    """What is wrong with a `timeout` value that is not a positive number of seconds."""
    if value == 0 and not isinstance(value, bool):
        return "timeout=0 is not accepted: a task cannot finish in no time, and 0 does not mean 'no limit'."
    return "timeout=%r is not a positive number of seconds." % (value,)
