# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SqlvmModule: the one module wrapper of the collection.

It adds the authentication options (doc fragment sqlvm.backup.azure_auth) to a module's argument
spec, supports check mode, builds the Azure session on first use, and is the only place that turns
domain errors into fail_json (`run`). `finish` exits with a backend's Result (common/result.py); `exit`
adds the diff when Ansible runs with --diff. `run_sql` owns a SQL module's whole task: validate, connect,
ensure or read, close, finish.
"""

from __future__ import annotations

import os
import sys
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth_options import AUTH_SOURCES, DEFAULT_TIMEOUT
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import Deadline, SqlvmBackupError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.redaction import redact, url_secret_parts
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result

# Mirrors plugins/doc_fragments/azure_auth.py. Environment fallbacks are resolved in auth.py (they
# have an order across AWX and azure-identity names that Ansible's env_fallback cannot express).
# auth_source has no default here: when the task does not set it, auth.py takes ANSIBLE_AZURE_AUTH_SOURCE, else auto.
AUTH_ARGUMENT_SPEC = dict(
    auth_source=dict(type="str", choices=list(AUTH_SOURCES)),
    profile=dict(type="str"),
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

# Capabilities that enable or read Microsoft Entra authentication on SQL Server on Azure VMs (backends/<name>.py):
# they warn outside the public cloud (cloud.entra_on_sql_vm_warning).
ENTRA_ON_SQL_VM_BACKENDS = ("sqlvm_identity", "sqlvm_info")

# Third-party libraries -> the requirement users should install when the import fails. (A missing pyodbc is
# reported by sql/connection.py, which imports it, with what to install next to it: unixODBC and a driver.)
_REQUIREMENTS = {"azure": "azure-identity, azure-core and azure-mgmt-core (see requirements.txt)",
                 "msal": "azure-identity (see requirements.txt)"}


def secret_option_values(argument_spec, params):
    """Every value given to a no_log option (under its name or an alias, at the top level or in suboptions),
    read from the raw parameters, whatever their type.

    ansible-core collects no_log values while it validates the arguments and stops at the first option it
    cannot convert (a string where a list of dicts is expected): the secrets of the other options would then
    reach the failure's ``invocation.module_args``. This walk never raises.
    """
    found = set()
    if not isinstance(params, dict):
        return found
    for name, spec in (argument_spec or {}).items():
        if not isinstance(spec, dict):
            continue
        given = [params[key] for key in [name] + list(spec.get("aliases") or ()) if key in params]
        for value in given:
            if spec.get("no_log"):
                found.update(_leaf_texts(value))
            suboptions = spec.get("options")
            if suboptions:
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    found.update(secret_option_values(suboptions, item))
    return found


def _leaf_texts(value):
    """The text of a value as Ansible could show it: every string and scalar inside, and the whole value."""
    if value is None or isinstance(value, bool):
        return set()
    if isinstance(value, dict):
        texts = {str(value)} if value else set()
        for item in value.values():
            texts.update(_leaf_texts(item))
        return texts
    if isinstance(value, (list, tuple, set)):
        texts = {str(value)} if value else set()
        for item in value:
            texts.update(_leaf_texts(item))
        return texts
    text = value if isinstance(value, str) else str(value)
    return {text} if text else set()


def nested_shape_problem(argument_spec, params):
    """What is wrong with the shape of an option that takes dicts (a list of dicts, or a dict) - a string
    where a list of dicts is expected, a list item that is not a dict - naming the option, or None.
    The value itself is not shown: it may sit next to secrets."""
    if not isinstance(params, dict):
        return None
    for name, spec in (argument_spec or {}).items():
        if not isinstance(spec, dict) or name not in params or params[name] is None:
            continue
        value, kind = params[name], spec.get("type")
        if kind == "list" and spec.get("elements") == "dict":
            items = value if isinstance(value, list) else None
            if items is None:
                return ("%s must be a list of dicts (for example [{name: ...}]), not a %s."
                        % (name, type(value).__name__))
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    return "%s[%d] must be a dict, not a %s." % (name, index, type(item).__name__)
                inner = nested_shape_problem(spec.get("options"), item)
                if inner:
                    return "%s[%d].%s" % (name, index, inner)
        elif kind == "dict" and spec.get("options") and isinstance(value, dict):
            inner = nested_shape_problem(spec.get("options"), value)
            if inner:
                return "%s.%s" % (name, inner)
    return None


class SqlvmModule(AnsibleModule):
    """AnsibleModule with our auth options, check mode, a lazy Azure session and one error exit."""

    def __init__(self, argument_spec, **kwargs):
        """`argument_spec` may redefine an authentication option, e.g. a longer `timeout` default for
        modules whose work legitimately takes hours (BACKUP, RESTORE: docs/design.md, "Deadline")."""
        started = time.monotonic()
        spec = dict(AUTH_ARGUMENT_SPEC)
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        super().__init__(argument_spec=spec, **kwargs)
        self._shape_problem = None
        self._azure = None
        self._auth_settings = None
        self._sql_sessions = []
        timeout = self.params.get("timeout")
        if timeout is None or timeout <= 0:
            from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth_options import TIMEOUT_FIX, timeout_problem
            self.fail_json(msg="%s Fix: %s" % (timeout_problem(timeout), TIMEOUT_FIX))
        # One deadline for the whole task, from its start: sign-in, cloud metadata, ARM, Graph, SQL.
        self.deadline = Deadline(timeout, start=started)

    def _load_params(self):
        # Called by AnsibleModule.__init__ before it validates (and possibly fails on) the arguments.
        super()._load_params()
        # Kept only while AnsibleModule.__init__ validates (cleared after it): see fail_json.
        self._shape_problem = nested_shape_problem(self.argument_spec, self.params)
        self.no_log_values.update(secret_option_values(self.argument_spec, self.params))
        # A SAS or a password inside a URL option is refused, but the option's value is echoed in
        # invocation.module_args: its secret part is masked there and everywhere else.
        for text in _leaf_texts(self.params):
            self.no_log_values.update(url_secret_parts(text))

    # Azure ----------------------------------------------------------------------------------

    @property
    def auth_settings(self):
        if self._auth_settings is None:
            from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth import AuthSettings
            settings = AuthSettings.from_options_and_env(self.params, os.environ)
            # Secrets may come from the environment or the credentials file: mask them wherever they could appear.
            self.no_log_values.update(settings.secret_values())
            self._auth_settings = settings
            for text in settings.warnings:
                self.warn(text)
        return self._auth_settings

    @property
    def azure(self):
        """The task's AzureSession (cloud, credential, arm, graph, subscription_id, deadline)."""
        if self._azure is None:
            from ansible_collections.sqlvm.backup.plugins.module_utils.azure.session import AzureSession
            self._azure = AzureSession(self.auth_settings, deadline=self.deadline)
        return self._azure

    # SQL Server -----------------------------------------------------------------------------

    def sql_connect(self, **overrides):
        """A SQL session: sql_connection.connect(params, token_provider, check_mode). The token
        provider is called only when the connection authenticates with an Entra access token; the
        session knows the task's check mode so it can refuse writes."""
        from ansible_collections.sqlvm.backup.plugins.module_utils.sql import connection as sql_connection
        params = dict(self.params)
        params.update(overrides)
        session = sql_connection.connect(params, token_provider=self._entra_sql_token,
                                         check_mode=self.check_mode, deadline=self.deadline)
        # Kept so that a failure after some writes can say what was already done (see `run`).
        self._sql_sessions.append(session)
        return session

    def _entra_sql_token(self):
        """An access token for SQL Server (sql_auth: entra), with the cloud warning where Entra on SQL VMs is unsupported."""
        self._warn_entra_cloud()
        return self.azure.token(self.azure.cloud.sql_scope)

    def _warn_entra_cloud(self, resolve=True):
        """The cloud warning for Microsoft Entra authentication on SQL VMs; without `resolve`, only when the task's
        session has already resolved its cloud (so the warning never costs a request, nor fails a task)."""
        from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import entra_on_sql_vm_warning
        cloud = self.azure.cloud if resolve else getattr(self._azure, "resolved_cloud", None)
        warning = entra_on_sql_vm_warning(cloud) if cloud is not None else None
        if warning:
            self.warn(warning)

    def run_sql(self, backend, **options):
        """The whole task of a SQL module, its session's life included; exits (finish) or fails (run).

        ``backend`` is the capability's module (backends/sql_*.py): ``backend.validate(params)`` runs first, so
        bad input is refused before any login; then one session is opened, and ``backend.ensure(session,
        params, check_mode, **options)`` (or ``backend.read(session, params)`` for a read-only capability, whose
        session refuses every write) returns the Result. The session is closed whatever happens; a failure
        after some writes still lists them (statements_done / statements_in_doubt, see `_failure_result`).
        """
        def task(module):
            backend.validate(module.params)
            read_only = not hasattr(backend, "ensure")
            session = module.sql_connect()
            try:
                if read_only:
                    session.check_mode = True  # a write from a read-only capability would be a bug
                    return backend.read(session, module.params, **options)
                return backend.ensure(session, module.params, module.check_mode, **options)
            finally:
                session.close()
        self.run(task)

    def run_azure(self, backend, desired):
        """The whole task of an Azure module; exits (finish) or fails (run).

        ``backend`` is the capability's module (backends/<module>.py): its ``validate(desired)``, where it has one,
        runs before the Azure session is built, so bad input is refused before any request; then
        ``backend.ensure(session, desired, check_mode)`` (or ``backend.read(session, desired)`` for a read-only
        capability) returns the Result.
        """
        def task(module):
            validate = getattr(backend, "validate", None)
            if validate is not None:
                validate(desired)
            try:
                if hasattr(backend, "ensure"):
                    return backend.ensure(module.azure, desired, module.check_mode)
                return backend.read(module.azure, desired)
            finally:
                # Also when the capability failed; only once it has resolved the cloud (no request of its own).
                if backend.__name__.rsplit(".", 1)[-1] in ENTRA_ON_SQL_VM_BACKENDS:
                    module._warn_entra_cloud(resolve=False)  # pylint: disable=protected-access
        self.run(task)

    def _writes_before_failure(self):
        """(write statements that completed, write statements that may or may not have run) of this task's SQL
        sessions, as shown to the user (secrets not shown)."""
        done, in_doubt = [], []
        for session in self._sql_sessions:
            done.extend(getattr(session, "writes_done", ()))
            in_doubt.extend(getattr(session, "writes_in_doubt", ()))
        return done, in_doubt

    # Results --------------------------------------------------------------------------------

    def _report_cache_warnings(self):
        # Caches the task found untrusted (private_files.py); loaded only if a cache was touched.
        private_files = sys.modules.get("ansible_collections.sqlvm.backup.plugins.module_utils.common.private_files")
        for text in private_files.take_warnings() if private_files is not None else ():
            self.warn(text)

    def exit_json(self, **kwargs):
        self._report_cache_warnings()
        super().exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        self._report_cache_warnings()
        # ansible-core's message for a value it cannot convert to a dict ("dictionary requested, could not
        # parse JSON or key=value") does not say which option it was: name it.
        problem = getattr(self, "_shape_problem", None)
        if problem and problem.split(" ", 1)[0] not in msg:
            msg = "%s (%s)" % (problem, msg)
        super().fail_json(msg, **kwargs)

    def run(self, fn):
        """Call fn(self); the only place where domain errors become fail_json."""
        try:
            result = fn(self)
        except SqlvmBackupError as error:
            self.fail_json(**self._failure_result(error))
        except ImportError as error:
            root = (getattr(error, "name", None) or "").split(".", maxsplit=1)[0]
            if root not in _REQUIREMENTS:
                raise
            self.fail_json(msg=missing_required_lib(_REQUIREMENTS[root]), exception=str(error))
        if isinstance(result, Result):
            self.finish(result)
        if isinstance(result, dict):
            self.exit_json(**result)
        self.fail_json(msg="internal error: the module finished without a result")

    def _failure_result(self, error):
        """fail_json arguments for a domain error. A task that failed after some of its writes ran did change the
        server: it says changed=true and lists what ran (statements_done) and what may have run (statements_in_doubt,
        when the connection was lost while a write was on its way), so a half-written state is never reported as
        unchanged."""
        result = error.to_result()
        done, in_doubt = self._writes_before_failure()
        if not done and not in_doubt:
            return result
        notes = []
        if done:
            notes.append("These changes were made before the failure and were not undone: %s." % "; ".join(done))
        if in_doubt:
            notes.append("This statement may have run (the connection was lost before SQL Server answered): %s."
                         % "; ".join(in_doubt))
        notes.append("Fix the cause and run the task again: it continues from the current state.")
        result["msg"] = redact("%s %s" % (result["msg"], " ".join(notes)))
        result["changed"] = True
        result["statements_done"] = done
        result["statements_in_doubt"] = in_doubt
        return result

    def warn(self, warning):
        # A warning can quote a URL or a service's message: no secret in it, as in error messages.
        super().warn(redact(warning))

    def finish(self, result):
        """Exit with a backend's Result (common/result.py): its warnings, changed, diff and values."""
        for text in result.warnings:
            self.warn(text)
        self.exit(result.changed, result.before, result.after, **result.values)

    def exit(self, changed, before=None, after=None, **result):
        """exit_json with `changed`, and `diff` (before/after) when --diff is on."""
        if self._diff and (before is not None or after is not None):
            result["diff"] = dict(before=before if before is not None else {},
                                  after=after if after is not None else {})
        self.exit_json(changed=bool(changed), **result)
