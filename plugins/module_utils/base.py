# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SqlvmModule: the one module wrapper of the collection.

It adds the authentication options (doc fragment sqlvm.backup.azure_auth) to a module's argument
spec, supports check mode, builds the Azure session on first use, and is the only place that turns
domain errors into fail_json (`run`). `exit` adds the diff when Ansible runs with --diff.
"""

from __future__ import annotations

import os
import sys
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.sqlvm.backup.plugins.module_utils.auth_options import AUTH_SOURCES, DEFAULT_TIMEOUT
from ansible_collections.sqlvm.backup.plugins.module_utils.errors import Deadline, SqlvmBackupError

# Mirrors plugins/doc_fragments/azure_auth.py. Environment fallbacks are resolved in auth.py (they
# have an order across AWX and azure-identity names that Ansible's env_fallback cannot express).
AUTH_ARGUMENT_SPEC = dict(
    auth_source=dict(type="str", default="auto", choices=list(AUTH_SOURCES)),
    subscription_id=dict(type="str"),
    client_id=dict(type="str"),
    secret=dict(type="str", no_log=True),
    tenant=dict(type="str"),
    ad_user=dict(type="str"),
    password=dict(type="str", no_log=True),
    client_certificate_path=dict(type="path"),
    client_certificate_password=dict(type="str", no_log=True),
    federated_token_file=dict(type="path", no_log=False),
    cloud_environment=dict(type="str"),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
    token_cache=dict(type="bool"),
)

# Third-party libraries -> the requirement users should install when the import fails.
_REQUIREMENTS = {"azure": "azure-identity, azure-core and azure-mgmt-core (see requirements.txt)",
                 "msal": "azure-identity (see requirements.txt)",
                 "pyodbc": "pyodbc and an ODBC driver for SQL Server (see requirements.txt, bindep.txt)"}


class SqlvmModule(AnsibleModule):
    """AnsibleModule with our auth options, check mode, a lazy Azure session and one error exit."""

    def __init__(self, argument_spec, default_timeout=None, **kwargs):
        """`default_timeout`: the default of the `timeout` option when the module's work can
        legitimately take longer than DEFAULT_TIMEOUT (BACKUP, RESTORE: docs/design.md, "Deadline")."""
        started = time.monotonic()
        spec = dict(AUTH_ARGUMENT_SPEC)
        if default_timeout is not None:
            spec["timeout"] = dict(spec["timeout"], default=default_timeout)
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        super().__init__(argument_spec=spec, **kwargs)
        self._azure = None
        self._auth_settings = None
        timeout = self.params.get("timeout")
        if timeout is None or timeout <= 0:
            from ansible_collections.sqlvm.backup.plugins.module_utils.auth_options import TIMEOUT_FIX, timeout_problem
            self.fail_json(msg="%s Fix: %s" % (timeout_problem(timeout), TIMEOUT_FIX))
        # One deadline for the whole task, from its start: sign-in, cloud metadata, ARM, Graph, SQL.
        self.deadline = Deadline(timeout, start=started)

    # Azure ----------------------------------------------------------------------------------

    @property
    def auth_settings(self):
        if self._auth_settings is None:
            from ansible_collections.sqlvm.backup.plugins.module_utils.auth import AuthSettings
            settings = AuthSettings.from_options_and_env(self.params, os.environ)
            # Secrets may come from the environment: mask them wherever they could appear.
            self.no_log_values.update(settings.secret_values())
            self._auth_settings = settings
        return self._auth_settings

    @property
    def azure(self):
        """The task's AzureSession (cloud, credential, arm, graph, subscription_id, deadline)."""
        if self._azure is None:
            from ansible_collections.sqlvm.backup.plugins.module_utils.http import AzureSession
            self._azure = AzureSession(self.auth_settings, deadline=self.deadline)
        return self._azure

    # SQL Server -----------------------------------------------------------------------------

    def sql_connect(self, **overrides):
        """A SQL session: sql_connection.connect(params, token_provider, check_mode). The token
        provider is called only when the connection authenticates with an Entra access token; the
        session knows the task's check mode so it can refuse writes."""
        from ansible_collections.sqlvm.backup.plugins.module_utils import sql_connection
        params = dict(self.params)
        params.update(overrides)
        return sql_connection.connect(params, token_provider=lambda: self.azure.token(self.azure.cloud.sql_scope),
                                      check_mode=self.check_mode, deadline=self.deadline)

    # Results --------------------------------------------------------------------------------

    def _report_cache_warnings(self):
        # Caches the task found untrusted (private_files.py); loaded only if a cache was touched.
        private_files = sys.modules.get("ansible_collections.sqlvm.backup.plugins.module_utils.private_files")
        for text in private_files.take_warnings() if private_files is not None else ():
            self.warn(text)

    def exit_json(self, **kwargs):
        self._report_cache_warnings()
        super().exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        self._report_cache_warnings()
        super().fail_json(msg, **kwargs)

    def run(self, fn):
        """Call fn(self); the only place where domain errors become fail_json."""
        try:
            result = fn(self)
        except SqlvmBackupError as error:
            self.fail_json(**error.to_result())
        except ImportError as error:
            root = (getattr(error, "name", None) or "").split(".", maxsplit=1)[0]
            if root not in _REQUIREMENTS:
                raise
            self.fail_json(msg=missing_required_lib(_REQUIREMENTS[root]), exception=str(error))
        if isinstance(result, dict):
            self.exit_json(**result)
        self.fail_json(msg="internal error: the module finished without a result")

    def exit(self, changed, before=None, after=None, **result):
        """exit_json with `changed`, and `diff` (before/after) when --diff is on."""
        if self._diff and (before is not None or after is not None):
            result["diff"] = dict(before=before if before is not None else {},
                                  after=after if after is not None else {})
        self.exit_json(changed=bool(changed), **result)
