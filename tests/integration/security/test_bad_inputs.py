"""Issue 10, "Deliver": a table of bad inputs across the ten modules and the four roles. Each case must
fail with a message naming the offending option or variable, BEFORE anything is written (the world's log:
ARM/Graph write requests and SQL write statements), with no secret in stdout, stderr (-vvv) or the result.

Cost: one ansible-playbook run per batch (the Azure modules; the SQL modules; each role), run once per
session (see conftest.py); the cases are parametrized over the batch's results. A case that is accepted
would write: the Azure cases target VMs/principals that still need changes (sqlvm-fresh, sqlvm-nodir,
uami-nostorage, rsv-sql without identity), the SQL cases a server where the statement would run.
"""
import copy
import json

import pytest

from _security import (FREETDS, assert_names, describe_writes, leaks, message, run_playbook,
                       secret_vars, secrets_of, sql_connection, world_vm, writes_in)

GUID_OPS = "3f2c1b0a-1111-4222-8333-444455556666"
LONG_TEMPLATE = "{server}/{database}/" + "x" * 1100 + "_{timestamp}_{stripe}of{stripes}.{ext}"
NO_SAS = ("query string", "sas")        # what a URL carrying a SAS must be refused as (issue 10, item 2)
# A name that does not exist because of a stray line break: the message must say what is wrong with it.
BLANKS = ("trailing", "newline", "line break", "control character", "spaces", "whitespace")
URLS = ("urls", "url '", "url:")        # sql_restore urls / the restore role's restore_urls: one URL of the list

# --- the ten modules ---------------------------------------------------------------------------------
# (case id, module, options, fragments the message must contain; a tuple = any one of them).
# "<name>" in a string is a world fact filled in at run time; "{{ s.x }}" a secret from extra vars.
IDENTITY = {"resource_group": "rg-sql", "vm_name": "sqlvm-fresh", "system_assigned": True}
READER = {"principal_id": "<nodir_pid>"}
# principal_wait bounds what a principal id the world does not know costs (the default waits 120 s).
ROLE = {"principal_id": "<nostorage_pid>", "role": "Storage Blob Data Contributor", "scope": "<archive_scope>",
        "principal_wait": 3}
VAULT = {"resource_group": "rg-sql", "name": "rsv-sql", "system_assigned": True}
SQLVM_INFO = {"resource_group": "rg-sql", "vm_name": "sqlvm-ready"}

AZURE_CASES = [
    ("identity-vm-name-trailing-newline", "sqlvm_identity", dict(IDENTITY, vm_name="sqlvm-fresh\n"), ["vm_name"]),
    ("identity-rg-trailing-newline", "sqlvm_identity", dict(IDENTITY, resource_group="rg-sql\n"), ["resource_group"]),
    ("identity-sql-vm-name-cr", "sqlvm_identity", dict(IDENTITY, sql_vm_name="sqlvm-fresh\rx"), ["sql_vm_name"]),
    ("identity-user-assigned-newline", "sqlvm_identity",
     dict(IDENTITY, user_assigned=["uami-sqlbackup\n"]), ["user_assigned"]),
    ("identity-primary-crlf", "sqlvm_identity",
     dict(IDENTITY, user_assigned=["uami-sqlbackup"], primary="uami-sqlbackup\r\n"), ["primary"]),
    ("identity-subscription-newline", "sqlvm_identity", dict(IDENTITY, subscription_id="<sub>\n"),
     ["subscription_id"]),
    ("identity-timeout-zero", "sqlvm_identity", dict(IDENTITY, timeout=0), ["timeout"]),
    ("identity-timeout-negative", "sqlvm_identity", dict(IDENTITY, timeout=-5), ["timeout"]),
    ("identity-missing-vm-name", "sqlvm_identity", {"resource_group": "rg-sql", "system_assigned": True},
     ["vm_name"]),
    ("identity-bool-type", "sqlvm_identity", dict(IDENTITY, system_assigned="perhaps"), ["system_assigned"]),
    ("reader-principal-trailing-newline", "entra_directory_reader", {"principal_id": "<nodir_pid>\n"},
     ["principal_id"]),
    ("reader-principal-not-guid", "entra_directory_reader", {"principal_id": "sqlvm-nodir"}, ["principal_id"]),
    ("reader-principal-and-vm", "entra_directory_reader",
     dict(READER, vm_name="sqlvm-nodir", resource_group="rg-sql"), ["principal_id", "vm_name"]),
    ("reader-no-principal", "entra_directory_reader", {}, ["principal_id"]),
    ("reader-group-without-id", "entra_directory_reader", dict(READER, method="group"), ["group_id"]),
    ("reader-group-id-trailing-newline", "entra_directory_reader",
     dict(READER, method="group", group_id="<group_id>\n"), ["group_id"]),
    ("reader-method-choice", "entra_directory_reader", dict(READER, method="owner"), ["method"]),
    ("reader-vm-name-trailing-newline", "entra_directory_reader",
     {"vm_name": "sqlvm-nodir\n", "resource_group": "rg-sql"}, ["vm_name"]),
    ("reader-timeout-zero", "entra_directory_reader", dict(READER, timeout=0), ["timeout"]),
    ("role-principal-trailing-newline", "role_assignment", dict(ROLE, principal_id="<nostorage_pid>\n"),
     ["principal_id"]),
    ("role-principal-wait-negative", "role_assignment", dict(ROLE, principal_wait=-1), ["principal_wait"]),
    ("role-scope-trailing-newline", "role_assignment", dict(ROLE, scope="<archive_scope>\n"), ["scope"]),
    ("role-name-trailing-newline", "role_assignment", dict(ROLE, role="Storage Blob Data Contributor\n"), ["role"]),
    ("role-scope-and-account", "role_assignment", dict(ROLE, storage_account="stsqlbackup01"),
     ["scope", "storage_account"]),
    ("role-principal-type-choice", "role_assignment", dict(ROLE, principal_type="Robot"), ["principal_type"]),
    ("role-missing-role", "role_assignment", {"principal_id": "<nostorage_pid>", "scope": "<archive_scope>"},
     ["role"]),
    ("role-timeout-zero", "role_assignment", dict(ROLE, timeout=0), ["timeout"]),
    ("role-container-trailing-newline", "role_assignment",
     {"principal_id": "<nostorage_pid>", "role": "Storage Blob Data Contributor", "resource_group": "rg-sql",
      "storage_account": "stsqlbackup01", "container": "archive\n", "principal_wait": 3}, ["container"]),
    ("vault-name-trailing-newline", "backup_vault_identity", dict(VAULT, name="rsv-sql\n"), ["name"]),
    ("vault-type-choice", "backup_vault_identity", dict(VAULT, vault_type="tape"), ["vault_type"]),
    ("vault-user-assigned-newline", "backup_vault_identity", dict(VAULT, user_assigned=["uami-sqlbackup\n"]),
     ["user_assigned"]),
    ("vault-missing-resource-group", "backup_vault_identity", {"name": "rsv-sql", "system_assigned": True},
     ["resource_group"]),
    ("vault-timeout-negative", "backup_vault_identity", dict(VAULT, timeout=-1), ["timeout"]),
    ("sqlvm-info-vm-name-trailing-newline", "sqlvm_info", dict(SQLVM_INFO, vm_name="sqlvm-ready\n"), ["vm_name"]),
    ("sqlvm-info-storage-scope-not-arm", "sqlvm_info", dict(SQLVM_INFO, storage_scope="stsqlbackup01"),
     ["storage_scope"]),
    ("sqlvm-info-timeout-zero", "sqlvm_info", dict(SQLVM_INFO, timeout=0), ["timeout"]),
    ("sqlvm-info-bool-type", "sqlvm_info", dict(SQLVM_INFO, check_directory="sometimes"), ["check_directory"]),
]

LOGIN = {"name": "svc_<case>", "login_type": "sql", "sql_login_password": "{{ s.password }}"}
CREDENTIAL = {"url": "<container>"}
BACKUP = {"container_url": "<container>", "databases": ["appdb"]}
RESTORE = {"urls": ["<blob>"], "database": "copy_<case>"}

SQL_CASES = [
    ("sql-info-sas-in-url", "sql_info", {"container_url": "{{ s.sas_container }}"}, ["container_url", NO_SAS]),
    ("sql-info-userinfo-in-url", "sql_info", {"container_url": "{{ s.userinfo_container }}"}, ["container_url"]),
    ("sql-info-timeout-zero", "sql_info", {"timeout": 0}, ["timeout"]),
    ("sql-info-port-type", "sql_info", {"sql_port": "fourteen-thirty-three"}, ["sql_port"]),
    ("sql-info-blank-login-password", "sql_info", {"login_password": "   "}, ["login_password"]),
    ("login-databases-string-with-password", "sql_login", dict(LOGIN, databases="app"), ["databases"]),
    ("login-empty-password", "sql_login", dict(LOGIN, sql_login_password=""), ["sql_login_password"]),
    ("login-blank-password", "sql_login", dict(LOGIN, sql_login_password="   "), ["sql_login_password"]),
    ("login-name-trailing-newline", "sql_login", dict(LOGIN, name="svc_<case>\n"), ["name"]),
    ("login-name-crlf", "sql_login", dict(LOGIN, name="svc\r\n<case>"), ["name"]),
    ("login-object-id-trailing-newline", "sql_login",
     {"name": "Ops", "login_type": "entra", "object_id": GUID_OPS + "\n"}, ["object_id"]),
    ("login-server-role-trailing-newline", "sql_login", dict(LOGIN, server_roles=["sysadmin\n"]), ["server_roles"]),
    ("login-database-name-trailing-newline", "sql_login",
     dict(LOGIN, databases=[{"name": "appdb\n", "roles": ["db_backupoperator"]}]), [("databases", "database")]),
    ("login-type-choice", "sql_login", dict(LOGIN, login_type="windows"), ["login_type"]),
    ("login-missing-name", "sql_login", {"login_type": "sql", "sql_login_password": "{{ s.password }}"}, ["name"]),
    ("login-timeout-zero", "sql_login", dict(LOGIN, timeout=0), ["timeout"]),
    ("credential-sas-in-url", "sql_credential", {"url": "{{ s.sas_container }}"}, ["url", NO_SAS, "sas_token"]),
    ("credential-userinfo-in-url", "sql_credential", {"url": "{{ s.userinfo_container }}"}, ["url"]),
    ("credential-url-trailing-newline", "sql_credential", {"url": "<container>\n"}, ["url"]),
    ("credential-empty-sas-token", "sql_credential", dict(CREDENTIAL, identity="sas", sas_token=""), ["sas_token"]),
    ("credential-update-secret-choice", "sql_credential", dict(CREDENTIAL, update_secret="sometimes"),
     ["update_secret"]),
    ("credential-timeout-zero", "sql_credential", dict(CREDENTIAL, timeout=0), ["timeout"]),
    ("backup-sas-in-url", "sql_backup", dict(BACKUP, container_url="{{ s.sas_container }}"),
     ["container_url", NO_SAS, "sas_token"]),
    ("backup-userinfo-in-url", "sql_backup", dict(BACKUP, container_url="{{ s.userinfo_container }}"),
     ["container_url"]),
    ("backup-stripes-negative", "sql_backup", dict(BACKUP, stripes=-1), ["stripes"]),
    ("backup-template-over-1024", "sql_backup", dict(BACKUP, blob_name_template=LONG_TEMPLATE),
     ["blob_name_template", "1024"]),
    ("backup-database-trailing-newline", "sql_backup", dict(BACKUP, databases=["appdb\n"]), [("databases", "database"), BLANKS]),
    ("backup-database-crlf", "sql_backup", dict(BACKUP, databases=["app\r\ndb"]), [("databases", "database"), BLANKS]),
    ("backup-databases-and-all", "sql_backup", dict(BACKUP, all_user_databases=True),
     ["databases", "all_user_databases"]),
    ("backup-type-choice", "sql_backup", dict(BACKUP, type="incremental"), ["type"]),
    ("backup-timeout-zero", "sql_backup", dict(BACKUP, timeout=0), ["timeout"]),
    ("backup-skip-negative", "sql_backup", dict(BACKUP, skip_if_backed_up_within=-5), ["skip_if_backed_up_within"]),
    ("backup-missing-container", "sql_backup", {"databases": ["appdb"]}, ["container_url"]),
    ("restore-sas-in-url", "sql_restore", dict(RESTORE, urls=["{{ s.sas_blob }}"]), [URLS, NO_SAS, "sas_token"]),
    ("restore-userinfo-in-url", "sql_restore", dict(RESTORE, urls=["{{ s.userinfo_blob }}"]), [URLS]),
    ("restore-msdb-trailing-blank-replace", "sql_restore", dict(RESTORE, database="msdb ", replace=True),
     ["database", ("system", "msdb")]),
    ("restore-database-backslashes", "sql_restore", dict(RESTORE, database="..\\..\\Windows\\evil"), ["database"]),
    ("restore-database-slashes", "sql_restore", dict(RESTORE, database="app/../../x"), ["database"]),
    ("restore-database-crlf", "sql_restore", dict(RESTORE, database="new\r\ndb"), ["database"]),
    ("restore-url-trailing-newline", "sql_restore", dict(RESTORE, urls=["<blob>\n"]), [URLS]),
    ("restore-mode-choice", "sql_restore", dict(RESTORE, mode="explode"), ["mode"]),
    ("restore-timeout-zero", "sql_restore", dict(RESTORE, timeout=0), ["timeout"]),
    ("restore-missing-urls", "sql_restore", {"database": "appdb_copy"}, ["urls"]),
    ("restore-data-path-trailing-newline", "sql_restore", dict(RESTORE, data_path="F:\\data\n"), ["data_path"]),
]

MODULE_CASES = {"azure": AZURE_CASES, "sql": SQL_CASES}

# --- the four roles ----------------------------------------------------------------------------------
# (case id, VM whose inventory host variables the case starts from, variables, fragments).
BACKUP_READY_CASES = [
    ("backup-ready-sas-in-container-url", "sqlvm-fresh", {"container_url": "{{ s.sas_container }}"},
     [("container_url", "backup_ready_container_urls"), NO_SAS]),
    ("backup-ready-userinfo-in-container-url", "sqlvm-noentra", {"container_url": "{{ s.userinfo_container }}"},
     [("container_url", "backup_ready_container_urls")]),
    ("backup-ready-login-object-id-not-guid", "sqlvm-nodir",
     {"backup_ready_logins": [{"name": "SQL DBAs", "object_id": "not-a-guid", "server_roles": ["sysadmin"]}]},
     [("backup_ready_logins", "object_id")]),
    ("backup-ready-login-name-trailing-newline", "sqlvm-nostorage",
     {"backup_ready_logins": [{"name": "SQL DBAs\n", "server_roles": ["sysadmin"]}]}, [("backup_ready_logins", "name")]),
    ("backup-ready-login-server-role-newline", "sqlvm-fresh",
     {"backup_ready_logins": [{"name": "SQL DBAs", "server_roles": ["sysadmin\n"]}]},
     [("backup_ready_logins", "server_roles")]),
    ("backup-ready-group-id-not-guid", "sqlvm-noentra",
     {"backup_ready_directory_method": "group", "backup_ready_directory_group_id": "SQL Directory Readers"},
     ["backup_ready_directory_group_id"]),
]

BACKUP_ROLE_CASES = [
    ("backup-role-sas-in-container-url", "sqlvm-ready", {"container_url": "{{ s.sas_container }}"},
     [("container_url", "backup_container_url"), NO_SAS]),
    ("backup-role-userinfo-in-container-url", "sqlvm-ready", {"container_url": "{{ s.userinfo_container }}"},
     [("container_url", "backup_container_url")]),
    ("backup-role-stripes-negative", "sqlvm-ready", {"backup_stripes": -1}, ["backup_stripes"]),
    ("backup-role-template-over-1024", "sqlvm-ready", {"backup_blob_name_template": LONG_TEMPLATE},
     [("backup_blob_name_template", "blob_name_template"), "1024"]),
    ("backup-role-type-choice", "sqlvm-ready", {"backup_type": "incremental"}, ["backup_type"]),
    ("backup-role-database-trailing-newline", "sqlvm-ready", {"backup_databases": ["appdb\n"]},
     [("backup_databases", "databases", "database"), BLANKS]),
]

# restore_urls ["<blob>"]: a real backup of appdb, made before the cases run.
RESTORE_ROLE_CASES = [
    ("restore-role-sas-in-urls", "sqlvm-ready", {"restore_urls": ["{{ s.sas_blob }}"], "restore_database": "appdb_copy"},
     [URLS, NO_SAS]),
    ("restore-role-userinfo-in-urls", "sqlvm-ready",
     {"restore_urls": ["{{ s.userinfo_blob }}"], "restore_database": "appdb_copy"}, [URLS]),
    ("restore-role-msdb-trailing-blank-replace", "sqlvm-ready",
     {"restore_urls": ["<blob>"], "restore_database": "msdb ", "restore_replace": True},
     [("restore_database", "database")]),
    ("restore-role-database-path-separators", "sqlvm-ready",
     {"restore_urls": ["<blob>"], "restore_database": "..\\..\\evil"}, [("restore_database", "database")]),
    ("restore-role-restore-point-not-a-time", "sqlvm-ready",
     {"restore_source_database": "appdb", "restore_point": "yesterday"}, ["restore_point", "latest"]),
    ("restore-role-history-blobs-without-urls", "sqlvm-ready",
     {"restore_source_database": "appdb", "restore_history_source": "blobs"}, ["restore_history_urls"]),
]

VAULT_ROLE_CASES = [
    ("vault-role-name-trailing-newline", None,
     {"vault_identity_vaults": [{"resource_group": "rg-sql", "name": "rsv-sql\n"}]}, ["name"]),
    ("vault-role-type-choice", None,
     {"vault_identity_vaults": [{"resource_group": "rg-sql", "name": "rsv-sql", "vault_type": "tape"}]},
     ["vault_type"]),
    ("vault-role-missing-resource-group", None, {"vault_identity_vaults": [{"name": "rsv-sql"}]},
     ["resource_group"]),
    ("vault-role-scope-not-arm", None,
     {"vault_identity_vaults": [{"resource_group": "rg-sql", "name": "rsv-sql",
                                 "role_assignments": [{"role": "Reader", "scope": "stsqlbackup01"}]}]}, ["scope"]),
    ("vault-role-subscription-newline", None,
     {"vault_identity_subscription_id": "<sub>\n",
      "vault_identity_vaults": [{"resource_group": "rg-sql", "name": "bv-sql", "vault_type": "backup_vault",
                                 "user_assigned": ["uami-sqlbackup"]}]}, ["subscription_id"]),
]

ROLE_CASES = {"backup_ready": BACKUP_READY_CASES, "backup": BACKUP_ROLE_CASES, "restore": RESTORE_ROLE_CASES,
              "vault_identity": VAULT_ROLE_CASES}


# --- running the batches -----------------------------------------------------------------------------
def _facts(world):
    state = world.admin.state()
    sub = world.env["AZURE_SUBSCRIPTION_ID"]
    uamis = {u["name"]: u for u in state["user_assigned_identities"].values()}
    groups = {o["display_name"]: o["object_id"] for o in state["directory"] if o["kind"] == "group"}
    ready = world_vm(world.env, "sqlvm-ready")
    return {
        "sub": sub,
        "nodir_pid": state["vms"]["sqlvm-nodir"]["identities"]["system"]["principal_id"],
        "nostorage_pid": uamis["uami-nostorage"]["principal_id"],
        "group_id": groups["SQL Directory Readers"],
        "archive_scope": "/subscriptions/%s/resourceGroups/rg-sql/providers/Microsoft.Storage/storageAccounts/"
                         "stsqlbackup01/blobServices/default/containers/archive" % sub,
        "container": ready["container_url"],
        "blob": ready["container_url"] + "/" + SETUP_BLOB,
    }


SETUP_BLOB = "security-tests/appdb.bak"


def _setup(world, facts, backup=True):
    """Plays that create the container's managed-identity credential and (backup) a real backup, so the
    cases reach the checks after them; then clear the world's request log: these writes are not the cases'."""
    tasks = [{"name": "create the container's credential",
              "sqlvm.backup.sql_credential": dict(sql_connection(world.env), url=facts["container"])}]
    if backup:
        tasks.append({"name": "make a backup to restore from",
                      "sqlvm.backup.sql_backup": dict(sql_connection(world.env), container_url=facts["container"],
                                                      databases=["appdb"], stripes=1, blob_name_template=SETUP_BLOB)})
    tasks.append({"name": "clear the request log", "ansible.builtin.debug": {
        "msg": "{{ lookup('ansible.builtin.pipe', 'curl -sS -X DELETE ' ~ sim_admin_url ~ '/requests') }}"}})
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def _fill(value, facts):
    if isinstance(value, str):
        if value.startswith("<") and value.endswith(">") and value[1:-1] in facts:
            return facts[value[1:-1]]
        for key, fact in facts.items():
            if isinstance(fact, str):
                value = value.replace("<%s>" % key, fact)
        return value
    if isinstance(value, list):
        return [_fill(item, facts) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, facts) for key, item in value.items()}
    return value


def _module_batch(world, tmp_path_factory, group):
    world.reset()
    facts = _facts(world)
    tasks = []
    for case_id, module, options, _fragments in MODULE_CASES[group]:
        # <case>: a name of this case's own (a login or database an accepted case creates stays).
        options = _fill(copy.deepcopy(options), dict(facts, case=case_id.replace("-", "_")))
        if group == "sql":
            options = dict(sql_connection(world.env), **options)
        tasks.append({"name": case_id, "sqlvm.backup." + module: options, "ignore_errors": True})
    setup = _setup(world, facts) if group == "sql" else []
    run = run_playbook(world, tmp_path_factory.mktemp("security-" + group), tmp_path_factory.mktemp("cache"),
                       setup + [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                       extra_vars={"s": secret_vars(world.env)})
    run["secrets"] = secrets_of(world.env)
    return run


def _role_host_vars(world, vm, variables, facts):
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    if vm:
        host.update(world_vm(world.env, vm))
        host.update({"sql_auth": "sql", "sql_login_user": "sa", "sql_login_password": "{{ s.sa }}",
                     "sql_odbc_driver": FREETDS, "sql_trust_server_certificate": True,
                     "backup_ready_logins": [{"name": "SQL DBAs", "server_roles": ["sysadmin"]}],
                     "backup_manifest_dir": ""})
    host.update(_fill(copy.deepcopy(variables), facts))
    return host


def _role_batch(world, tmp_path_factory, role):
    world.reset()
    facts = _facts(world)
    cases = ROLE_CASES[role]
    hosts = {case_id: _role_host_vars(world, vm, variables, facts) for case_id, vm, variables, _f in cases}
    plays = _setup(world, facts, backup=role == "restore") if role in ("backup", "restore") else []
    plays.append({"hosts": "cases", "gather_facts": False,
                  "roles": [{"role": "sqlvm.backup." + role}]})
    run = run_playbook(world, tmp_path_factory.mktemp("security-role-" + role), tmp_path_factory.mktemp("cache"),
                       plays, inventory={"cases": {"hosts": hosts}}, extra_vars={"s": secret_vars(world.env)},
                       forks=3)
    run["secrets"] = secrets_of(world.env)
    return run


@pytest.fixture(scope="module")
def batches(security_world, shared_results, tmp_path_factory):
    """Every batch of this file, registered so that a worker can run one the other worker has not started."""
    for group in MODULE_CASES:
        shared_results.batches["modules-" + group] = (
            lambda group=group: _module_batch(security_world, tmp_path_factory, group))
    for role in ROLE_CASES:
        shared_results.batches["role-" + role] = lambda role=role: _role_batch(security_world, tmp_path_factory, role)
    return shared_results


@pytest.fixture(scope="module")
def module_batch(batches):
    return lambda group: batches.get("modules-" + group)


@pytest.fixture(scope="module")
def role_batch(batches):
    return lambda role: batches.get("role-" + role)


# --- the assertions ----------------------------------------------------------------------------------
def test_at_least_sixty_cases_cover_every_module_and_role():
    modules = {module for cases in MODULE_CASES.values() for _id, module, _o, _f in cases}
    assert modules == {"sqlvm_identity", "entra_directory_reader", "role_assignment", "backup_vault_identity",
                       "sqlvm_info", "sql_info", "sql_login", "sql_credential", "sql_backup", "sql_restore"}
    assert all(ROLE_CASES.values())
    ids = [case[0] for cases in list(MODULE_CASES.values()) + list(ROLE_CASES.values()) for case in cases]
    assert len(ids) == len(set(ids)) >= 60


def _module_params():
    return [pytest.param(group, case, id=case[0]) for group, cases in MODULE_CASES.items() for case in cases]


@pytest.mark.parametrize("group,case", _module_params())
def test_module_bad_input_fails_clearly_without_secrets(module_batch, group, case):
    case_id, module, _options, fragments = case
    run = module_batch(group)
    records = [r for r in run["records"] if r["task"] == case_id]
    assert len(records) == 1, "no result for %s (rc=%s): %s" % (case_id, run["rc"], run["stdout"][-3000:])
    record = records[0]
    check_case("%s %s" % (module, case_id), record["status"], record["result"], fragments,
               json.dumps(record["result"]) + run["sections"].get(case_id, ""), run["secrets"])


def check_case(context, status, result, fragments, searched, secrets):
    """All that is wrong with one case, in one assertion: accepted, unclear message, secrets shown."""
    problems = []
    text = message(result)
    if status != "failed":
        problems.append("accepted (status %s): %s" % (status, json.dumps(result)[:800]))
    else:
        if "Traceback" in text:
            problems.append("a raw traceback in the message")
        try:
            assert_names(text, fragments, context)
        except AssertionError as exc:
            problems.append(str(exc))
    found = leaks(searched, secrets)
    if found:
        problems.append("secrets in the result or -vvv output: %s" % found)
    assert not problems, "%s:\n- %s" % (context, "\n- ".join(problems))


@pytest.mark.parametrize("group", sorted(MODULE_CASES))
def test_module_bad_inputs_write_nothing(module_batch, group):
    run = module_batch(group)
    writes = writes_in(run["requests"])
    assert not writes, "the %s bad-input batch wrote (each case must fail before writing): %s" % (
        group, describe_writes(writes, run["secrets"]))
    found = leaks(run["stderr"], run["secrets"])
    assert not found, "secrets in stderr: %s" % found


def _role_params():
    return [pytest.param(role, case, id=case[0]) for role, cases in ROLE_CASES.items() for case in cases]


@pytest.mark.parametrize("role,case", _role_params())
def test_role_bad_input_fails_clearly_without_secrets(role_batch, role, case):
    case_id, _vm, _variables, fragments = case
    run = role_batch(role)
    records = [r for r in run["records"] if r["host"] == case_id]
    assert records, "no result for %s (rc=%s): %s" % (case_id, run["rc"], run["stdout"][-3000:])
    failed = [r for r in records if r["status"] == "failed"]
    last = failed[0] if failed else records[-1]
    context = "role %s, %s (task %r; tasks run: %d)" % (role, case_id, last["task"], len(records))
    check_case(context, last["status"], last["result"], fragments, json.dumps([r["result"] for r in records]),
               run["secrets"])


@pytest.mark.parametrize("role", sorted(ROLE_CASES))
def test_role_bad_inputs_write_nothing_and_print_no_secret(role_batch, role):
    run = role_batch(role)
    writes = writes_in(run["requests"])
    assert not writes, "the %s role's bad-input run wrote (every case must fail in the role's first task): %s" % (
        role, describe_writes(writes, run["secrets"]))
    found = leaks(run["stdout"] + run["stderr"], run["secrets"])
    assert not found, "secrets in the %s role's -vvv output: %s" % (role, found)
