"""The disk token cache against the world: one sign-in per identity for a whole play, none written
when it is off, and a cached token the service refuses replaced by a fresh sign-in."""
import os
import stat

TASK = {"sqlvm.backup.sqlvm_info": {"resource_group": "rg-sql", "vm_name": "sqlvm-ready", "check_directory": False}}


def _sign_ins(az):
    return [e for e in az.admin.requests() if e["service"] == "login" and e["method"] == "POST"]


def _token_files(cache_home):
    directory = os.path.join(str(cache_home), "sqlvm.backup", "tokens")
    return [os.path.join(directory, name) for name in os.listdir(directory)] if os.path.isdir(directory) else []


def test_a_play_signs_in_once_and_the_token_file_is_private(az, tmp_path):
    az.runner.cache_dir = tmp_path / "cache"
    result, _writes = az.run([TASK] * 3)
    assert [t.failed for t in result.tasks] == [False] * 3, result.output[-2000:]
    assert len(_sign_ins(az)) == 1
    files = _token_files(az.runner.cache_dir)
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(files[0])).st_mode) == 0o700
    assert az.env["AZURE_SECRET"] not in open(files[0], encoding="utf-8").read() + files[0]


def test_turned_off_it_signs_in_every_task_and_writes_nothing(az, tmp_path):
    az.runner.cache_dir = tmp_path / "cache"
    result, _writes = az.run([TASK] * 2, env={"SQLVM_BACKUP_TOKEN_CACHE": "false"})
    assert [t.failed for t in result.tasks] == [False] * 2, result.output[-2000:]
    assert len(_sign_ins(az)) == 2
    assert _token_files(az.runner.cache_dir) == []


def test_a_cached_token_arm_refuses_is_replaced(az, tmp_path):
    az.runner.cache_dir = tmp_path / "cache"
    first, _writes = az.run([TASK])
    assert not first.tasks[0].failed
    # ARM refuses the next request once, as it does for a revoked token (WWW-Authenticate challenge).
    az.admin.inject(path="*/virtualMachines/sqlvm-ready", method="GET", status=401, count=1,
                    body={"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}},
                    headers={"WWW-Authenticate": 'Bearer authorization_uri="https://login", error="invalid_token"'})
    second, _writes = az.run([TASK])
    assert not second.tasks[0].failed, dict(second.tasks[0])
    assert len(_sign_ins(az)) == 1  # the refused cached token was replaced by a fresh sign-in
    assert any(e["status"] == 401 for e in az.admin.requests())
