# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Stand-in with the interface of the core branch's errors.py until it is merged (theirs wins on merge).
from __future__ import annotations


class SqlvmBackupError(Exception):
    kind = "error"

    def __init__(self, msg, fix=None, **details):
        super().__init__(msg)
        self.cause = msg
        self.fix = fix
        self.details = details

    @property
    def msg(self):
        if self.fix:
            return "%s Fix: %s" % (self.cause.rstrip(), self.fix)
        return self.cause

    def __str__(self):
        return self.msg


class InvalidInputError(SqlvmBackupError):
    kind = "invalid_input"


class PrerequisiteError(SqlvmBackupError):
    kind = "prerequisite"


class SqlServerError(SqlvmBackupError):
    kind = "sql_server"

    def __init__(self, number, message, statement_kind, fix=None):
        self.number = number
        self.message = message
        self.statement_kind = statement_kind
        cause = "%s failed with SQL Server error %s: %s" % (
            statement_kind, number if number is not None else "(unknown)", (message or "").strip())
        super().__init__(cause, fix=fix, number=number, statement_kind=statement_kind)
