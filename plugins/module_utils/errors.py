# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Placeholder following docs/design.md until the core branch lands its errors.py (theirs wins on merge).
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class SqlvmBackupError(Exception):
    def __init__(self, msg, **details):
        super(SqlvmBackupError, self).__init__(msg)
        self.msg = msg
        self.details = details


class InvalidInputError(SqlvmBackupError):
    pass


class PrerequisiteError(SqlvmBackupError):
    pass


class AzureApiError(SqlvmBackupError):
    def __init__(self, operation, resource, status, code, message, **details):
        super(AzureApiError, self).__init__(
            "%s on %s failed: %s %s: %s" % (operation, resource, status, code, message), **details)
        self.operation, self.resource, self.status, self.code = operation, resource, status, code


class SqlServerError(SqlvmBackupError):
    def __init__(self, number, message, statement_kind=None, **details):
        super(SqlServerError, self).__init__(message, **details)
        self.number = number
        self.statement_kind = statement_kind
