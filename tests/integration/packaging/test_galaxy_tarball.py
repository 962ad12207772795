"""The tarball a user installs from Galaxy: small, only what runs, and every plugin, role and playbook usable from
an empty collections path."""
import json
import tarfile

import yaml

from _collection import ROOT, run

# The goal was 150 KB. With the GPL-3.0 text (12 KB compressed), the README and the changelog the tarball was
# 173 KB at 0.2.0's first modules; with the fleet readers, the inventory plugin, restore chains, retention and the
# network checks it is 265 KB, all of it code and its documentation (plugins/ is 750 KB before compression, docs/
# and tests/ are not shipped). Shipping tests/ again would add more than 250 KB: this bound catches that, and the
# content checks below catch anything a user does not run whatever its size.
MAX_TARBALL_BYTES = 300 * 1024
# Paths a user never runs: the tests and the test world (with its node modules), benchmarks, build output,
# developer configuration, changelog sources, the EE build definition and the AWX project example.
EXCLUDED_PREFIXES = ("tests/", "bench/", "build/", ".ci/", ".venv/", "examples/", "meta/ee/", "changelogs/fragments/",
                     "docs/")
EXCLUDED_NAMES = ("Makefile", "pytest.ini", ".ansible-lint", ".gitignore", "galaxy.yml", "changelogs/config.yaml",
                  "changelogs/.plugin-cache.yaml", "playbooks/inventories/world.yml")
EXCLUDED_ANYWHERE = ("node_modules", "package.json", "package-lock.json", "__pycache__", ".pyc", ".tar.gz")
SHIPPED = ("README.md", "LICENSE", "CHANGELOG.rst", "changelogs/changelog.yaml", "meta/runtime.yml",
           "meta/execution-environment.yml", "requirements.txt", "bindep.txt", "playbooks/inventories/azure.yml")
# Plugin directories that hold plugins (not code shared by them).
NOT_PLUGIN_TYPES = ("module_utils", "doc_fragments")


def _names(tarball):
    with tarfile.open(str(tarball)) as archive:
        return [member.name + ("/" if member.isdir() else "") for member in archive.getmembers()]


def test_tarball_is_small_and_holds_only_what_users_run(tarball):
    names = _names(tarball)

    assert tarball.stat().st_size <= MAX_TARBALL_BYTES, "%d bytes" % tarball.stat().st_size
    assert not [n for n in names if n.startswith(EXCLUDED_PREFIXES) or n.rstrip("/") in EXCLUDED_NAMES
                or any(part in n for part in EXCLUDED_ANYWHERE)]
    assert set(SHIPPED) <= set(names)
    assert {n.split("/", 1)[0] for n in names} == {"MANIFEST.json", "FILES.json", "README.md", "LICENSE",
                                                   "CHANGELOG.rst", "requirements.txt", "bindep.txt", "meta",
                                                   "playbooks", "roles", "plugins", "changelogs"}


def test_manifest_names_the_licence_and_no_invented_address(tarball):
    with tarfile.open(str(tarball)) as archive:
        info = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
        licence = archive.extractfile("LICENSE").read().decode()
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())

    assert (info["namespace"], info["name"], info["version"]) == ("sqlvm", "backup", galaxy["version"])
    assert info["license"] == ["GPL-3.0-or-later"]
    assert "GNU GENERAL PUBLIC LICENSE" in licence and "Version 3, 29 June 2007" in licence
    assert {key: info[key] for key in ("repository", "documentation", "homepage", "issues")} == dict.fromkeys(
        ("repository", "documentation", "homepage", "issues"))


def test_changelog_has_a_release_older_than_the_version_in_development(tarball):
    changelog = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text())
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]

    released = sorted(tuple(int(p) for p in v.split(".")) for v in changelog["releases"])
    assert released, "changelogs/changelog.yaml has no release"
    # New fragments go into the version galaxy.yml names, so it must be newer than every release.
    assert released[-1] < tuple(int(p) for p in version.split("."))


def test_every_plugin_and_role_of_the_installed_tarball_documents_itself(installed):
    collections, environ, cwd = installed
    root = collections / "ansible_collections" / "sqlvm" / "backup"
    plugin_dirs = sorted(d.name for d in (root / "plugins").iterdir() if d.is_dir() and d.name not in NOT_PLUGIN_TYPES)
    assert "modules" in plugin_dirs and "filter" in plugin_dirs

    kinds = [("module" if d == "modules" else d) for d in plugin_dirs] + ["role"]
    for kind in kinds:
        listed = json.loads(run(["ansible-doc", "-t", kind, "--list", "--json", "sqlvm.backup"], environ, cwd))
        if kind == "role":
            expected = {p.name for p in (root / "roles").iterdir()}
        elif kind in ("filter", "test"):  # one .py file holds several; each is documented by its own .yml file
            expected = {p.stem for p in (root / "plugins" / kind).glob("*.yml")}
        else:
            expected = {p.stem for p in (root / "plugins" / plugin_dirs[kinds.index(kind)]).glob("*.py")}
        assert set(listed) == {"sqlvm.backup." + name for name in expected}, kind
        assert listed, kind

        docs = json.loads(run(["ansible-doc", "-t", kind, "--json"] + sorted(listed), environ, cwd))

        assert set(docs) == set(listed), kind
        for name, doc in docs.items():
            if kind == "role":
                assert doc["entry_points"]["main"]["short_description"], name
            else:
                assert doc["doc"]["short_description"] and doc["doc"]["description"], name
                assert "examples" in doc and doc["examples"], name


def test_every_playbook_of_the_installed_tarball_passes_syntax_check(installed):
    collections, environ, cwd = installed
    playbooks = sorted(p.stem for p in (collections / "ansible_collections" / "sqlvm" / "backup" / "playbooks")
                       .glob("*.yml"))
    assert {"backup_ready", "compliance", "backup", "restore", "vault_identity"} <= set(playbooks)

    output = run(["ansible-playbook", "-i", "localhost,", "--syntax-check"]
                 + ["sqlvm.backup." + name for name in playbooks], environ, cwd)

    for name in playbooks:
        assert "playbook: %s/%s.yml" % (collections / "ansible_collections" / "sqlvm" / "backup" / "playbooks", name) \
            in output, output
