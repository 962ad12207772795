# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one connection path to SQL Server: pyodbc with a real ODBC driver.

Independent of AnsibleModule so other plugins can reuse it. pyodbc is imported inside
``open_session`` only, so modules that fail validation never pay for it.

- Driver by name (an odbcinst.ini entry, default "ODBC Driver 18 for SQL Server") or by path to the
  driver library (unixODBC accepts ``DRIVER={/path/libmsodbcsql-18.so}``); FreeTDS works too.
- autocommit on: BACKUP and RESTORE refuse to run inside a user transaction.
- TLS on by default (Encrypt=yes), TrustServerCertificate only when asked, Encrypt=strict available
  (TDS 8, Microsoft driver 18+).
- SQL authentication, or a Microsoft Entra access token passed before login as
  SQL_COPT_SS_ACCESS_TOKEN (1256): a 4-byte little-endian length and the token in UTF-16-LE
  (learn.microsoft.com/sql/connect/odbc/using-azure-active-directory, "Authenticating with an access
  token"). FreeTDS has no such attribute: refused with a clear message before connecting.
"""
from __future__ import annotations

import os
import struct

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, SqlvmBackupError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import TimeoutExceeded
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import has_control_character
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.tsql import render

SQL_COPT_SS_ACCESS_TOKEN = 1256
DEFAULT_DRIVER = "ODBC Driver 18 for SQL Server"
DEFAULT_PORT = 1433
ENCRYPT_MODES = ("yes", "no", "strict")
AUTH_MODES = ("auto", "sql", "entra")


class CheckModeWriteError(SqlvmBackupError):
    """A write statement reached the connection in check mode: a programming error, never run."""


def connection_argument_spec():
    """The SQL connection options every SQL module takes (doc fragment sqlvm.backup.sql_connection)."""
    return dict(
        sql_host=dict(type="str", required=True, aliases=["login_host"]),
        sql_port=dict(type="int", default=DEFAULT_PORT, aliases=["login_port"]),
        sql_auth=dict(type="str", default="auto", choices=list(AUTH_MODES)),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        odbc_driver=dict(type="str", default=DEFAULT_DRIVER),
        encrypt=dict(type="str", default="yes", choices=list(ENCRYPT_MODES)),
        trust_server_certificate=dict(type="bool", default=False),
        host_name_in_certificate=dict(type="str"),
        login_timeout=dict(type="int", default=15),
        statement_timeout=dict(type="int", default=0),
    )


def is_freetds(driver):
    lowered = (driver or "").lower()
    return "freetds" in lowered or "libtdsodbc" in lowered


def is_driver_path(driver):
    return "/" in (driver or "") or (driver or "").endswith(".so")


class SqlConnectionSettings:
    """Validated connection options. Holds the password; never returned or logged."""

    def __init__(self, host, port=DEFAULT_PORT, auth="auto", user=None, password=None, driver=DEFAULT_DRIVER,
                 encrypt="yes", trust_server_certificate=False, host_name_in_certificate=None,
                 login_timeout=15, statement_timeout=0, database="master"):
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.driver = driver or DEFAULT_DRIVER
        self.encrypt = encrypt
        self.trust_server_certificate = trust_server_certificate
        self.host_name_in_certificate = host_name_in_certificate
        self.login_timeout = login_timeout
        self.statement_timeout = statement_timeout
        self.database = database
        self.auth = self._resolve_auth(auth)
        self._validate()

    @classmethod
    def from_params(cls, params):
        return cls(
            host=params.get("sql_host"), port=params.get("sql_port") or DEFAULT_PORT, auth=params.get("sql_auth") or "auto",
            user=params.get("login_user"), password=params.get("login_password"),
            driver=params.get("odbc_driver"), encrypt=params.get("encrypt") or "yes",
            trust_server_certificate=bool(params.get("trust_server_certificate")),
            host_name_in_certificate=params.get("host_name_in_certificate"),
            login_timeout=params.get("login_timeout") if params.get("login_timeout") is not None else 15,
            statement_timeout=params.get("statement_timeout") or 0,
        )

    def _resolve_auth(self, auth):
        if auth not in AUTH_MODES:
            raise InvalidInputError("sql_auth must be one of %s." % ", ".join(AUTH_MODES))
        if auth == "auto":
            return "sql" if self.user else "entra"
        return auth

    def _validate(self):
        if not self.host or any(c in self.host for c in ";{}= ") or has_control_character(self.host):
            raise InvalidInputError("sql_host %r is not a host name or address." % (self.host,))
        if not 0 < int(self.port) < 65536:
            raise InvalidInputError("sql_port %r is not a TCP port (1-65535)." % (self.port,))
        if self.encrypt not in ENCRYPT_MODES:
            raise InvalidInputError("encrypt must be one of %s." % ", ".join(ENCRYPT_MODES))
        if self.login_timeout is not None and self.login_timeout < 0:
            raise InvalidInputError("login_timeout must be 0 (no limit) or more seconds.")
        if self.statement_timeout < 0:
            raise InvalidInputError("statement_timeout must be 0 (no limit) or more seconds.")
        if self.auth == "sql" and (not self.user or self.password is None):
            raise InvalidInputError("sql_auth: sql needs login_user and login_password.")
        if self.auth == "sql" and not self.password.strip():
            raise InvalidInputError("login_password is empty or only blanks; give the password of login_user (from a "
                                    "vault), or connect with a Microsoft Entra token (sql_auth: entra).")
        if self.user is not None and (not self.user.strip() or has_control_character(self.user)):
            raise InvalidInputError("login_user %r is blank or holds a control character; give the login name."
                                    % (self.user,))
        if self.auth == "sql" and is_freetds(self.driver) and ("};" in self.password or self.password.endswith("}")):
            raise InvalidInputError("login_password ends with '}' or contains '};', which the FreeTDS driver cannot pass; "
                                    "use the Microsoft ODBC driver or another password.")
        if self.auth == "entra":
            if self.user or self.password:
                raise InvalidInputError(
                    "sql_auth: entra uses an access token from the Azure credential chain; remove login_user / "
                    "login_password or set sql_auth: sql.")
            if is_freetds(self.driver):
                raise InvalidInputError(
                    "The FreeTDS ODBC driver cannot log in with a Microsoft Entra access token "
                    "(it has no SQL_COPT_SS_ACCESS_TOKEN). Use odbc_driver: 'ODBC Driver 18 for SQL Server' (or the path "
                    "to libmsodbcsql-18.so), or SQL authentication (login_user / login_password).")
        if self.encrypt == "strict" and is_freetds(self.driver):
            raise InvalidInputError("encrypt: strict (TDS 8) needs the Microsoft ODBC Driver 18; FreeTDS supports yes or no.")
        if is_driver_path(self.driver) and not os.path.exists(self.driver):
            raise InvalidInputError("odbc_driver %s does not exist; give an installed driver's name or library path."
                                    % self.driver)

    def connection_string(self):
        """ODBC connection string without the password (see ``_with_password``)."""
        parts = [("DRIVER", self.driver)]
        if is_freetds(self.driver):
            # FreeTDS: TDS 7.4; Encryption=require encrypts the whole session.
            parts += [("SERVER", self.host), ("PORT", str(self.port)), ("TDS_Version", "7.4"),
                      ("Encryption", "require" if self.encrypt != "no" else "off")]
        else:
            parts += [("SERVER", "tcp:%s,%d" % (self.host, self.port)),
                      ("Encrypt", {"yes": "yes", "no": "no", "strict": "strict"}[self.encrypt]),
                      ("TrustServerCertificate", "yes" if self.trust_server_certificate else "no")]
            if self.host_name_in_certificate:
                parts.append(("HostNameInCertificate", self.host_name_in_certificate))
        parts += [("DATABASE", self.database), ("APP", "sqlvm.backup")]
        if self.auth == "sql":
            parts.append(("UID", self.user))
        return ";".join("%s=%s" % (key, _odbc_value(value)) for key, value in parts) + ";"

    def _with_password(self):
        text = self.connection_string()
        if self.auth == "sql":
            if is_freetds(self.driver):
                # FreeTDS reads a braced value up to the '}' that ends it (followed by ';' or the end) and does
                # not undouble '}}' (measured with tdsodbc 1.3); '};' inside cannot be passed at all.
                text += "PWD={%s};" % self.password
            else:
                text += "PWD=%s;" % _odbc_value(self.password, always_brace=True)
        return text


def _odbc_value(value, always_brace=False):
    """Brace a value when needed; ``}`` doubled inside braces (ODBC connection string grammar)."""
    value = "" if value is None else str(value)
    if always_brace or any(c in value for c in ";{}= ") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def access_token_struct(token):
    """SQL_COPT_SS_ACCESS_TOKEN payload: 4-byte little-endian length, then the token in UTF-16-LE."""
    data = token.encode("utf-16-le")
    return struct.pack("<I", len(data)) + data


class SqlSession:
    """One pyodbc connection; every statement goes through ``query`` or ``execute``.

    Records what ran (display text only, secrets redacted) and refuses writes in check mode.
    """

    def __init__(self, connection, check_mode=False):
        self._connection = connection
        self.check_mode = check_mode
        self.executed = []
        self.messages = []
        # Writes that completed, and writes whose answer was lost with the connection (they may have run):
        # a task that fails after a write reports changed with these (SqlvmModule.run).
        self.writes_done = []
        self.writes_in_doubt = []

    def _run(self, statement, fetch):
        if statement.kind == "write" and self.check_mode:
            raise CheckModeWriteError("refusing to run a write statement in check mode: %s" % render(statement))
        cursor = self._connection.cursor()
        result_sets = []
        try:
            if statement.params:
                cursor.execute(statement.sql, *statement.params)
            else:
                cursor.execute(statement.sql)
            while True:
                if cursor.description is not None and fetch:
                    columns = [c[0] for c in cursor.description]
                    result_sets.append([dict(zip(columns, row)) for row in cursor.fetchall()])
                self._collect_messages(cursor)
                if not cursor.nextset():
                    break
            self._collect_messages(cursor)
        except Exception as exc:  # pyodbc.Error; pyodbc is not importable at module level
            if isinstance(exc, SqlvmBackupError):
                raise
            from ansible_collections.sqlvm.backup.plugins.module_utils.sql.errors import translate
            error = translate(exc, statement_label(statement))
            if statement.kind == "write" and getattr(error, "connection_lost", False):
                self.writes_in_doubt.append(render(statement))
            raise error from None
        finally:
            try:
                cursor.close()
            except Exception:  # pragma: no cover - closing a broken cursor
                pass
        self.executed.append(render(statement))
        if statement.kind == "write":
            self.writes_done.append(render(statement))
        return result_sets

    def _collect_messages(self, cursor):
        messages = getattr(cursor, "messages", None)
        if not messages:
            return
        from ansible_collections.sqlvm.backup.plugins.module_utils.sql.errors import server_text
        for _state, text in messages:
            cleaned = server_text(text)
            if cleaned:
                self.messages.append(cleaned)

    def writes_undone(self, *statements):
        """Statements that put back what earlier writes of this session changed (a trace flag turned off again, a
        dropped object created again as it was): both leave the list of completed writes."""
        for statement in statements:
            shown = render(statement)
            if shown in self.writes_done:
                self.writes_done.remove(shown)

    def query(self, statement):
        """Rows (list of dicts) of the first result set."""
        sets = self._run(statement, fetch=True)
        return sets[0] if sets else []

    def query_all(self, statement):
        return self._run(statement, fetch=True)

    def execute(self, statement):
        """Run a statement to its end (every result set consumed - BACKUP finishes only then)."""
        self._run(statement, fetch=True)

    def close(self):
        try:
            self._connection.close()
        except Exception:  # pragma: no cover
            pass


def statement_label(statement):
    """'BACKUP DATABASE', 'CREATE CREDENTIAL', ...: the leading keywords, never user text."""
    words = statement.sql.split()
    label = words[0] if words else "statement"
    if len(words) > 1 and words[1].isalpha() and words[1].isupper():
        label += " " + words[1]
    return label


def odbc_seconds(limit, deadline):
    """An ODBC timeout in whole seconds: `limit` (0: none) capped by the task's time left, at least 1
    (ODBC's 0 means no limit). Without a deadline, `limit` as it is."""
    if deadline is None:
        return int(limit or 0)
    left = max(1, int(deadline.remaining() + 0.999))
    return min(int(limit), left) if limit else left


class _BoundedSession(SqlSession):
    """A SqlSession whose every statement ends within the task's deadline (and statement_timeout)."""

    def __init__(self, connection, check_mode, deadline, statement_timeout):
        super().__init__(connection, check_mode=check_mode)
        self._deadline = deadline
        self._statement_timeout = statement_timeout

    def _run(self, statement, fetch):
        if self._deadline.expired():
            raise TimeoutExceeded("SQL statement", self._deadline.seconds, "before %s" % statement_label(statement))
        self._connection.timeout = odbc_seconds(self._statement_timeout, self._deadline)
        try:
            return super()._run(statement, fetch)
        except SqlvmBackupError:
            if self._deadline.expired():
                # A cancelled write may have done part of its work before SQL Server rolled it back.
                if statement.kind == "write":
                    self.writes_in_doubt.append(render(statement))
                raise TimeoutExceeded("SQL statement", self._deadline.seconds,
                                      "%s, cancelled" % statement_label(statement)) from None
            raise


def open_session(settings, access_token=None, check_mode=False, deadline=None):
    """Connect and return a SqlSession. ``access_token`` (str) is needed when settings.auth == 'entra'.
    ``deadline``: the task's (errors.Deadline); the login and every statement end within it."""
    try:
        import pyodbc
    except ImportError:
        raise SqlvmBackupError(
            "The Python package pyodbc is not installed on the host that runs the module; install it "
            "(pip install pyodbc) together with unixODBC and an ODBC driver for SQL Server.") from None
    attrs_before = {}
    if settings.auth == "entra":
        if not access_token:
            raise InvalidInputError("sql_auth: entra needs an access token from the Azure credential chain.")
        attrs_before[SQL_COPT_SS_ACCESS_TOKEN] = access_token_struct(access_token)
    pyodbc.pooling = False
    try:
        if deadline is not None and deadline.expired():
            raise TimeoutExceeded("SQL login", deadline.seconds, "before connecting to %s" % settings.host)
        kwargs = dict(autocommit=True, timeout=odbc_seconds(settings.login_timeout, deadline))
        if attrs_before:
            kwargs["attrs_before"] = attrs_before
        connection = pyodbc.connect(settings._with_password(), **kwargs)
    except pyodbc.Error as exc:
        from ansible_collections.sqlvm.backup.plugins.module_utils.sql.errors import connect_error
        raise connect_error(exc, settings) from None
    if deadline is not None:
        return _BoundedSession(connection, check_mode, deadline, settings.statement_timeout)
    if settings.statement_timeout:
        connection.timeout = int(settings.statement_timeout)
    return SqlSession(connection, check_mode=check_mode)


def connect(params, token_provider=None, check_mode=False, deadline=None):
    """A SqlSession from module options (the seam SqlvmModule.sql_connect calls).

    ``token_provider()`` returns an Entra access token for SQL (scope ``https://<sql suffix>/.default``);
    it is called only when the connection authenticates with a token, after the options are validated.
    """
    settings = SqlConnectionSettings.from_params(params)
    token = None
    if settings.auth == "entra":
        if token_provider is None:
            raise InvalidInputError("sql_auth: entra needs the Azure credential chain (auth_source and friends).")
        token = token_provider()
        token = getattr(token, "token", token)
    try:
        bound = {"deadline": deadline} if deadline is not None else {}
        return open_session(settings, access_token=token, check_mode=check_mode, **bound)
    except SqlvmBackupError as error:
        if deadline is not None and deadline.expired() and not isinstance(error, TimeoutExceeded):
            raise TimeoutExceeded("SQL login", deadline.seconds, "to %s:%s" % (settings.host, settings.port)) from None
        if token and getattr(error, "number", None) == 18456:
            from ansible_collections.sqlvm.backup.plugins.module_utils.sql.errors import entra_login_failed, token_claims
            raise entra_login_failed(error, token_claims(token), settings) from None
        raise


def storage_suffix(params, environ=None):
    """Blob endpoint suffix: option storage_suffix, else the cloud's (cloud_environment / AZURE_CLOUD_ENVIRONMENT).

    A cloud given by URL is resolved by cloud.resolve_cloud, whose metadata document is cached on disk: a SQL
    task with SQL authentication builds no Azure session (and imports no HTTP stack) to validate a URL.
    """
    if params.get("storage_suffix"):
        return params["storage_suffix"].strip(".").lower()
    environ = os.environ if environ is None else environ
    name = params.get("cloud_environment") or environ.get("AZURE_CLOUD_ENVIRONMENT") or "AzureCloud"
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure import cloud as clouds
    cloud = clouds.cloud_by_name(name)
    if cloud is None and "://" in name:
        from ansible_collections.sqlvm.backup.plugins.module_utils.azure.pipeline import fetch_cloud_metadata
        cloud = clouds.resolve_cloud(name, fetch_metadata=fetch_cloud_metadata)
    suffix = getattr(cloud, "storage_suffix", None) or "core.windows.net"
    return suffix.strip(".").lower()
