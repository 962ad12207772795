"""private_files: a cache file is read only when nobody but us could have written it; every cache
(OpenID discovery, cloud metadata, tokens, CA directory) goes through it."""
import hashlib
import json
import os
import socket
import stat

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import auth

from ansible_collections.sqlvm.backup.plugins.module_utils.common import private_files as pf

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import token_cache as tc
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import resolve_cloud

NOBODY = 65534
STACK = {"name": "Lab", "resourceManager": "https://arm.lab.test/", "suffixes": {"storage": "lab.test"},
         "authentication": {"loginEndpoint": "https://login.lab.test/", "audiences": ["https://arm.lab.test/"]},
         "microsoftGraphResourceId": "https://graph.lab.test/"}
PLANTED = dict(STACK, authentication={"loginEndpoint": "https://attacker.test/", "audiences": ["https://a/"]})


@pytest.fixture(autouse=True)
def _clear_warnings():
    pf.take_warnings()
    yield
    pf.take_warnings()


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "xdg" / "sqlvm.backup")


def _plant(path, content, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chmod(path, mode)


def _warned(fragment):
    warnings = pf.take_warnings()
    assert any(fragment in text for text in warnings), warnings
    return warnings


# The helper ---------------------------------------------------------------------------------------

def test_root_is_created_private_and_files_round_trip(root):
    path = os.path.join(root, "sub", "f.json")
    assert pf.write_file(root, path, b"{}")
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert pf.read_file(root, path, secret=True) == b"{}"
    assert os.listdir(os.path.dirname(path)) == ["f.json"]  # no temporary file left
    assert pf.take_warnings() == []


def test_a_root_left_0755_by_an_older_version_is_tightened_and_used(root):
    os.makedirs(root, mode=0o755)
    os.chmod(root, 0o755)
    _plant(os.path.join(root, "f"), "x", 0o644)
    assert pf.read_file(root, os.path.join(root, "f")) == b"x"
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o1777])
def test_a_root_others_may_write_is_neither_read_nor_written(root, mode):
    os.makedirs(root)
    os.chmod(root, mode)
    path = os.path.join(root, "f")
    _plant(path, "planted")
    assert pf.read_file(root, path) is None
    _warned("other users may write the directory")
    assert not pf.write_file(root, os.path.join(root, "g"), b"x")
    assert not os.path.exists(os.path.join(root, "g"))


def test_a_symlinked_root_is_neither_read_nor_written(root, tmp_path):
    elsewhere = tmp_path / "shared"
    elsewhere.mkdir(mode=0o700)
    _plant(str(elsewhere / "f"), "planted")
    os.makedirs(os.path.dirname(root))
    os.symlink(str(elsewhere), root)
    assert pf.read_file(root, os.path.join(root, "f")) is None
    _warned("symbolic link")
    assert not pf.write_file(root, os.path.join(root, "g"), b"x")
    assert not (elsewhere / "g").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_root_another_user_owns_is_not_trusted(root):
    os.makedirs(root, mode=0o700)
    os.chown(root, NOBODY, NOBODY)
    assert pf.read_file(root, os.path.join(root, "f")) is None
    _warned("owned by uid %d" % NOBODY)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_file_another_user_owns_is_not_trusted(root):
    path = os.path.join(root, "f")
    assert pf.write_file(root, path, b"ours")
    os.chown(path, NOBODY, NOBODY)
    assert pf.read_file(root, path) is None
    _warned("owned by uid %d" % NOBODY)


def test_a_symlinked_file_is_not_followed(root, tmp_path):
    pf.write_file(root, os.path.join(root, "ok"), b"x")
    target = tmp_path / "target"
    _plant(str(target), "planted")
    os.symlink(str(target), os.path.join(root, "f"))
    assert pf.read_file(root, os.path.join(root, "f")) is None
    _warned("symbolic link")


def test_a_symlinked_or_open_subdirectory_is_not_trusted(root, tmp_path):
    pf.write_file(root, os.path.join(root, "ok"), b"x")
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    _plant(str(other / "f"), "planted")
    os.symlink(str(other), os.path.join(root, "sub"))
    assert pf.read_file(root, os.path.join(root, "sub", "f")) is None
    _warned("symbolic link")
    os.makedirs(os.path.join(root, "open"), mode=0o755)
    os.chmod(os.path.join(root, "open"), 0o755)
    _plant(os.path.join(root, "open", "f"), "x")
    assert pf.read_file(root, os.path.join(root, "open", "f")) is None
    _warned("other users may read or write the directory")


@pytest.mark.parametrize("mode,secret,used", [(0o600, True, True), (0o644, False, True), (0o644, True, False),
                                              (0o620, False, False), (0o602, False, False)])
def test_file_modes(root, mode, secret, used):
    path = os.path.join(root, "f")
    pf.write_file(root, path, b"x")
    os.chmod(path, mode)
    assert (pf.read_file(root, path, secret=secret) == b"x") is used


def test_a_fifo_is_not_read(root):
    pf.write_file(root, os.path.join(root, "ok"), b"x")
    os.mkfifo(os.path.join(root, "f"), 0o600)
    assert pf.read_file(root, os.path.join(root, "f")) is None
    _warned("not a regular file")


def test_a_path_outside_the_root_is_never_read(root, tmp_path):
    _plant(str(tmp_path / "f"), "x")
    assert pf.read_file(root, str(tmp_path / "f")) is None


# Each cache ---------------------------------------------------------------------------------------

def _poison(root):
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o777)


def test_planted_cloud_metadata_in_an_open_root_is_ignored(root):
    arm = "https://arm.lab.test/"
    digest = hashlib.sha256(arm.encode()).hexdigest()[:24]
    _poison(root)
    _plant(os.path.join(root, "cloud-%s.json" % digest), json.dumps(PLANTED), 0o666)
    calls = []
    cloud = resolve_cloud(arm, fetch_metadata=lambda url: calls.append(url) or STACK, cache_dir=root)
    assert cloud.authority_host == "https://login.lab.test/" and len(calls) == 1
    _warned(root)
    # Nothing is written into the open directory either.
    assert json.loads(open(os.path.join(root, "cloud-%s.json" % digest)).read()) == PLANTED


def test_planted_cloud_metadata_file_others_may_write_is_ignored(root):
    arm = "https://arm.lab.test/"
    digest = hashlib.sha256(arm.encode()).hexdigest()[:24]
    os.makedirs(root, mode=0o700)
    _plant(os.path.join(root, "cloud-%s.json" % digest), json.dumps(PLANTED), 0o666)
    cloud = resolve_cloud(arm, fetch_metadata=lambda url: STACK, cache_dir=root)
    assert cloud.authority_host == "https://login.lab.test/"
    _warned("other users may write the file")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("attack", ["open root", "symlinked root", "file others may write", "symlinked file"])
def test_a_planted_openid_document_is_never_used(root, tmp_path, attack):
    import requests
    port = _free_port()
    url = "https://127.0.0.1:%d/tenant/v2.0/.well-known/openid-configuration" % port
    name = "openid-%s.json" % hashlib.sha256(url.encode()).hexdigest()[:24]
    planted = json.dumps({"token_endpoint": "https://127.0.0.1:%d/tenant/oauth2/v2.0/token" % port})
    os.makedirs(os.path.dirname(root), exist_ok=True)
    if attack == "open root":
        _poison(root)
        _plant(os.path.join(root, name), planted)
    elif attack == "symlinked root":
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o700)
        _plant(str(shared / name), planted)
        os.symlink(str(shared), root)
    elif attack == "file others may write":
        os.makedirs(root, mode=0o700)
        _plant(os.path.join(root, name), planted, 0o666)
    else:
        os.makedirs(root, mode=0o700)
        _plant(str(tmp_path / "elsewhere.json"), planted)
        os.symlink(str(tmp_path / "elsewhere.json"), os.path.join(root, name))
    session = auth.discovery_cache_transport(cache_dir=root).session
    # Nothing listens on the port: the request goes to the network instead of the planted document.
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(url)
    assert pf.take_warnings()


def test_an_openid_document_sending_the_secret_to_another_host_is_not_used(root):
    import requests
    port = _free_port()
    url = "https://127.0.0.1:%d/tenant/v2.0/.well-known/openid-configuration" % port
    name = "openid-%s.json" % hashlib.sha256(url.encode()).hexdigest()[:24]
    pf.write_file(root, os.path.join(root, name), json.dumps({"token_endpoint": "https://attacker.test/t"}))
    with pytest.raises(requests.exceptions.ConnectionError):
        auth.discovery_cache_transport(cache_dir=root).session.get(url)


def test_tokens_under_an_open_root_are_neither_served_nor_stored(root):
    cache = tc.TokenCache(os.path.join(root, "tokens"), clock=lambda: 1000)
    cache.put("k", "t", 100000)
    assert cache.get("k") == ("t", 100000)
    os.chmod(root, 0o777)
    assert cache.get("k") is None
    cache.put("other", "t", 100000)
    assert not os.path.exists(os.path.join(root, "tokens", "token-other.json"))
    _warned("other users may write")


def test_module_reports_the_warnings(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils import base
    reported = []

    class Module(base.SqlvmModule):
        def __init__(self):  # pylint: disable=super-init-not-called
            pass

        def warn(self, warning):
            reported.append(warning)

    pf.warn("Ignored the cache /x: it is a symbolic link.")
    monkeypatch.setattr(base.AnsibleModule, "exit_json", lambda self, **kwargs: None)
    Module().exit_json(changed=False)
    assert reported == ["Ignored the cache /x: it is a symbolic link."]
    assert pf.take_warnings() == []
