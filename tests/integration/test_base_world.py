"""The module base against the test world, through the real azure-identity / azure-core stack.

The world's env.sh is what AWX would inject (AZURE_SUBSCRIPTION_ID, AZURE_CLIENT_ID, AZURE_SECRET,
AZURE_TENANT, AZURE_CLOUD_ENVIRONMENT = the world's ARM endpoint), so these tests also prove that the
AWX variables alone authenticate, against a custom cloud described by its metadata document.
"""
import time

VM_PATH = ("/subscriptions/{sub}/resourceGroups/rg-sql/providers/Microsoft.Compute/virtualMachines/"
           "sqlvm-ready?api-version=2024-07-01")


def vm_path(world):
    return VM_PATH.format(sub=world.env["AZURE_SUBSCRIPTION_ID"])


def probe(ansible, world, **kwargs):
    args = {"action": "get", "path": vm_path(world)}
    args.update(kwargs.pop("args", {}))
    return ansible.module("sqlvm_base_probe", args, **kwargs)


def by_service(entries):
    counts = {}
    for entry in entries:
        counts[entry["service"]] = counts.get(entry["service"], 0) + 1
    return counts


def test_awx_variables_alone_authenticate_against_a_custom_cloud(ansible, world, tmp_path):
    ansible.cache_dir = tmp_path / "empty-cache"  # nothing cached yet: metadata, sign-in, token
    task = probe(ansible, world)
    assert task.status == "ok", task
    assert task["body"]["name"] == "sqlvm-ready"
    first = by_service(world.http_requests())
    assert first.get("arm") == 1 and first.get("login", 0) >= 1 and first.get("metadata") == 1, first
    world.admin.clear_log()
    # Second task: cloud metadata comes from the day cache and the token from the token cache -
    # one ARM read and nothing else.
    assert probe(ansible, world).status == "ok"
    second = by_service(world.http_requests())
    assert second == {"arm": 1}, second
    world.admin.clear_log()
    # Without the token cache: one token request (the OpenID configuration still comes from the day cache).
    assert probe(ansible, world, env={"SQLVM_BACKUP_TOKEN_CACHE": "false"}).status == "ok"
    third = by_service(world.http_requests())
    assert third == {"login": 1, "arm": 1}, third
    assert world.writes() == []


def test_graph_follows_the_custom_cloud(ansible, world):
    task = ansible.module("sqlvm_base_probe", {"action": "graph_get",
                                               "path": "servicePrincipals(appId='%s')" % world.env["AZURE_CLIENT_ID"]})
    assert task.status == "ok", task
    assert task["body"]["appId"] == world.env["AZURE_CLIENT_ID"]
    assert by_service(world.http_requests()).get("graph") == 1


def test_throttling_is_survived_honouring_retry_after(ansible, world):
    world.admin.inject(path="*/virtualMachines/*", method="GET", status=429, retry_after=1, count=2)
    started = time.monotonic()
    task = probe(ansible, world)
    assert task.status == "ok", task
    arm = [entry for entry in world.http_requests() if entry["service"] == "arm"]
    assert [entry["status"] for entry in arm] == [429, 429, 200]
    assert time.monotonic() - started >= 2  # waited as told


def test_server_errors_and_connection_resets_are_survived(ansible, world):
    world.admin.inject(path="*/virtualMachines/*", method="GET", status=500, count=1)
    world.admin.inject(path="*/virtualMachines/*", method="GET", reset=True, count=1)
    task = probe(ansible, world)
    assert task.status == "ok", task


def test_retry_after_beyond_the_timeout_fails_fast_and_says_why(ansible, world):
    world.admin.inject(path="*/virtualMachines/*", method="GET", status=429, retry_after=120, count=5)
    started = time.monotonic()
    task = probe(ansible, world, args={"timeout": 10})
    assert task.failed
    assert time.monotonic() - started < 30
    assert "Timeout" in task["msg"] and "timeout of 10 s" in task["msg"] and "virtualMachines/sqlvm-ready" in task["msg"]


def test_azure_error_names_operation_resource_code_and_fix(ansible, world):
    task = probe(ansible, world, args={"path": vm_path(world).replace("sqlvm-ready", "no-such-vm")})
    assert task.failed
    assert "read probe failed for" in task["msg"] and "no-such-vm" in task["msg"] and "HTTP 404" in task["msg"]
    assert task["error"]["code"] in ("ResourceNotFound", "NotFound")


def test_wrong_secret_is_an_authentication_error_without_the_secret(ansible, world):
    wrong = "Wr0ng-Secret-Value-123"
    task = probe(ansible, world, env={"AZURE_SECRET": wrong}, verbosity=3)
    assert task.failed and task["error"]["kind"] == "authentication"
    assert "secret" in task["msg"]
    assert wrong not in task.playbook.output
    assert world.env["AZURE_SECRET"] not in task.playbook.output


def test_world_secret_never_in_verbose_output(ansible, world):
    task = probe(ansible, world, verbosity=3)
    assert task.status == "ok"
    assert world.env["AZURE_SECRET"] not in task.playbook.output


def test_managed_identity_through_imds(ansible, world):
    env = {"AZURE_POD_IDENTITY_AUTHORITY_HOST": "%s/vms/sqlvm-ready" % world.env["SIM_IMDS_URL"],
           "AZURE_CLIENT_ID": "", "AZURE_SECRET": "", "AZURE_TENANT": ""}
    task = probe(ansible, world, env=env, args={"auth_source": "auto"})
    # auto: no service principal in the environment, IMDS answers -> managed identity.
    assert by_service(world.http_requests()).get("imds", 0) >= 1, task
    assert task.status in ("ok", "failed")
    if task.failed:  # the VM's identity may lack Reader on the VM; the error then comes from ARM, not sign-in
        assert task["error"]["kind"] == "azure_api", task["msg"]
