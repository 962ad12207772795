# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Mirrors sql_connection.connection_argument_spec().
    DOCUMENTATION = r"""
options:
  sql_host:
    description:
      - Host name or address of the SQL Server instance.
    type: str
    required: true
    aliases: [login_host]
  sql_port:
    description:
      - TCP port of the SQL Server instance.
    type: int
    default: 1433
    aliases: [login_port]
  sql_auth:
    description:
      - How to log in to SQL Server.
      - V(sql) uses O(login_user) and O(login_password) (SQL Server authentication).
      - V(entra) logs in with a Microsoft Entra access token for the scope
        C(https://<SQL suffix of the cloud>/.default) (for example C(https://database.windows.net/.default)),
        obtained with the same credential chain as the Azure modules (O(auth_source) and related options, or the
        AWX Azure credential). The token is passed to the driver as SQL_COPT_SS_ACCESS_TOKEN; this needs the
        Microsoft ODBC Driver 17.3 or later. FreeTDS cannot do this and is refused before connecting.
      - V(auto) means V(sql) when O(login_user) is set, else V(entra).
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
      - The ODBC driver, by the name registered in C(odbcinst.ini) or by the path to the driver library
        (for example C(/opt/microsoft/msodbcsql18/lib64/libmsodbcsql-18.so) or
        C(/usr/lib/x86_64-linux-gnu/odbc/libtdsodbc.so) for FreeTDS).
    type: str
    default: ODBC Driver 18 for SQL Server
  encrypt:
    description:
      - TLS for the connection. V(yes) encrypts and validates the server certificate (unless
        O(trust_server_certificate=true)); V(strict) uses TDS 8 (TLS before any TDS traffic, Microsoft ODBC Driver 18
        only); V(no) sends login packets only encrypted and the rest in clear - avoid it.
      - With FreeTDS the certificate is validated only when C(ca file) is configured in C(freetds.conf).
    type: str
    choices: ['yes', 'no', strict]
    default: 'yes'
  trust_server_certificate:
    description:
      - Accept the server certificate without validating it. Only for test servers; it allows
        man-in-the-middle attacks.
    type: bool
    default: false
  host_name_in_certificate:
    description:
      - The host name expected in the server certificate when it differs from O(sql_host).
    type: str
  login_timeout:
    description:
      - Seconds to wait for the login to complete; V(0) waits until the task's O(timeout) runs out (the
        login never waits past it).
    type: int
    default: 15
  statement_timeout:
    description:
      - Seconds a single statement may run before it is cancelled; V(0) means no limit but the task's O(timeout),
        which bounds every statement (backups and restores of large databases can take hours; raise O(timeout) for them).
    type: int
    default: 0
requirements:
  - pyodbc >= 5.0
  - unixODBC and an ODBC driver for SQL Server (Microsoft ODBC Driver 18 for SQL Server, or FreeTDS for SQL
    authentication only)
"""
