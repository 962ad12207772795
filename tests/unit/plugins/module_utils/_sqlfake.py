"""A pyodbc-shaped connection double: answers SELECTs from a table of (pattern, rows), records every
statement, and raises pyodbc-style errors for statements matching a failure pattern."""
import re

from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import SqlSession


class FakeOdbcError(Exception):
    pass


class _Cursor:
    def __init__(self, conn):
        self.conn = conn
        self.description = None
        self.messages = []
        self._rows = []
        self._sets = []

    def execute(self, sql, *params):
        """A batch (statements joined by ';\n', as tsql.batch builds it) answers one result set per part."""
        self.conn.log.append((sql, params))
        for pattern, error in self.conn.failures:
            if re.search(pattern, sql):
                raise FakeOdbcError("42000", "[42000] [FreeTDS][SQL Server]%s (%d) (SQLExecDirectW)" % (error[1], error[0]))
        self._sets = [self._answer(part, params) for part in sql.split(";\n")]
        self._next()

    def _answer(self, sql, params):
        for pattern, rows in self.conn.answers:
            if re.search(pattern, sql):
                rows = rows(sql, params) if callable(rows) else rows
                if rows is None:
                    break
                columns = list(rows[0].keys()) if rows else ["x"]
                return [(c,) for c in columns], [tuple(r[c] for c in columns) for r in rows]
        if re.match(r"^\s*SELECT\b", sql):
            # A SELECT always answers a result set (with columns), even an empty one.
            return [("name",)], []
        return None, []

    def _next(self):
        self.description, self._rows = self._sets.pop(0) if self._sets else (None, [])

    def fetchall(self):
        return self._rows

    def nextset(self):
        if not self._sets:
            return False
        self._next()
        return True

    def close(self):
        pass


# Roles every instance and database has (fixed server roles, fixed database roles): answered unless a test says
# otherwise.
DEFAULT_ANSWERS = [
    (r"FROM sys.server_principals WHERE type = 'R'",
     [dict(name=n) for n in ("public", "sysadmin", "securityadmin", "serveradmin", "setupadmin", "processadmin",
                             "diskadmin", "dbcreator", "bulkadmin")]),
    (r"FROM sys.database_principals WHERE type = 'R'",
     [dict(name=n) for n in ("public", "db_owner", "db_accessadmin", "db_securityadmin", "db_ddladmin",
                             "db_backupoperator", "db_datareader", "db_datawriter", "db_denydatareader",
                             "db_denydatawriter")]),
]


class FakeConnection:
    def __init__(self, answers=(), failures=()):
        self.answers = list(answers) + DEFAULT_ANSWERS
        self.failures = list(failures)
        self.log = []

    def cursor(self):
        return _Cursor(self)

    def writes(self):
        return [sql for sql, _params in self.log if not re.match(r"^(SELECT|USE|DBCC TRACESTATUS|RESTORE (FILELISTONLY|HEADERONLY))", sql)]


def session(answers=(), failures=(), check_mode=False):
    conn = FakeConnection(answers, failures)
    return SqlSession(conn, check_mode=check_mode), conn


def instance_answers(version="16.0.4175.1", platform="Windows", clustered="0", edition="Developer Edition (64-bit)"):
    return [
        (r"SERVERPROPERTY", [dict(ProductVersion=version, ProductUpdateLevel="CU17", ProductLevel="RTM", Edition=edition,
                                  EngineEdition="3", IsClustered=clustered, InstanceDefaultDataPath="F:\\data\\",
                                  InstanceDefaultLogPath="G:\\log\\", MachineName="sqlvm1", ServerName="sqlvm1",
                                  login_name="sa", host_platform=platform)]),
    ]
