"""blob_retention: validation, the rule, merging into a policy, and the write loop, with ARM replaced."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import blob_retention as br
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, PrerequisiteError

SUB = "00000000-1111-2222-3333-444444444444"


def desired(**kwargs):
    base = {"resource_group": "rg-st", "storage_account": "stbackup01", "container": "backups", "days": 30,
            "state": "present", "enabled": True}
    base.update(kwargs)
    return br.validate(base)


def rule(name, prefix="backups/", days=30, **extra):
    actions = {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": days}}}
    actions.update(extra)
    return {"enabled": True, "name": name, "type": "Lifecycle",
            "definition": {"filters": {"blobTypes": ["blockBlob"], "prefixMatch": [prefix]}, "actions": actions}}


@pytest.mark.parametrize("args, fragment", [
    ({"storage_account": "St-Backup"}, "storage_account"),
    ({"storage_account": "https://stbackup01.blob.core.windows.net"}, "storage_account"),
    ({"container": "Backups"}, "container"),
    ({"container": "ba"}, "container"),
    ({"container": "back--ups"}, "container"),
    ({"container": "backups\n"}, "line break"),
    ({"prefix": "/sqlvm01/"}, "leading '/'"),
    ({"prefix": "a\\b"}, "backslash"),
    ({"prefix": "x" * 1025}, "1024"),
    ({"rule_name": "my-rule"}, "letters and digits"),
    ({"rule_name": "r" * 257}, "letters and digits"),
    ({"days": 0}, "at least 1"),
    ({"days": None}, "at least 1"),
    ({"days": True}, "at least 1"),
    ({"cool_after_days": 30}, "cool_after_days"),
    ({"cool_after_days": -1}, "cool_after_days"),
    ({"resource_group": "rg st"}, "resource_group"),
])
def test_bad_input_names_the_option(args, fragment):
    with pytest.raises(InvalidInputError) as err:
        desired(**args)
    assert fragment in str(err.value)


def test_absent_needs_no_days():
    assert desired(state="absent", days=None)["rule_name"] == "sqlvmbackupbackups"


def test_default_rule_name_and_prefix_match():
    assert br.default_rule_name("backups-2025", "sqlvm01/") == "sqlvmbackupbackups2025sqlvm01"
    assert len(br.default_rule_name("b" * 63, "p" * 500)) == 256
    # 'backups' alone would also match the container 'backups-2025'
    assert br.prefix_match("backups") == "backups/"
    assert br.prefix_match("backups", "sqlvm01/") == "backups/sqlvm01/"


def test_build_rule_with_cool_tier_and_versions():
    built = br.build_rule(desired(cool_after_days=7, delete_versions=True))
    assert built["definition"]["actions"] == {
        "baseBlob": {"delete": {"daysAfterModificationGreaterThan": 30},
                     "tierToCool": {"daysAfterModificationGreaterThan": 7}},
        "version": {"delete": {"daysAfterCreationGreaterThan": 30}}}
    assert built["definition"]["filters"] == {"blobTypes": ["blockBlob"], "prefixMatch": ["backups/"]}


def test_summary_ignores_defaults_and_order_but_sees_other_actions():
    ours = br.build_rule(desired())
    echoed = dict(ours)
    echoed.pop("enabled")
    assert br.rule_summary(echoed) == br.rule_summary(ours)
    archived = rule("sqlvmbackupbackups")
    archived["definition"]["actions"]["baseBlob"]["tierToArchive"] = {"daysAfterModificationGreaterThan": 9}
    assert br.rule_summary(archived) != br.rule_summary(ours)


def test_plan_keeps_other_rules_in_place():
    rules = [rule("first", "logs/"), rule("sqlvmbackupbackups", days=10), rule("last", "x/")]
    new, before, after = br.plan_rules(rules, desired())
    assert [r["name"] for r in new] == ["first", "sqlvmbackupbackups", "last"]
    assert before["definition"]["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"] == 10
    assert after["definition"]["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"] == 30
    assert new[0] is rules[0] and new[2] is rules[2]


def test_plan_absent_removes_ours_and_deletes_an_empty_policy():
    new, before, after = br.plan_rules([rule("sqlvmbackupbackups")], desired(state="absent"))
    assert new is None and before and after is None
    new, _before, _after = br.plan_rules([rule("keep"), rule("sqlvmbackupbackups")], desired(state="absent"))
    assert [r["name"] for r in new] == ["keep"]


def test_rule_names_are_case_sensitive():
    new, before, _after = br.plan_rules([rule("SQLVMBACKUPBACKUPS")], desired())
    assert before is None and [r["name"] for r in new] == ["SQLVMBACKUPBACKUPS", "sqlvmbackupbackups"]


def test_sooner_deleters_warn_about_covering_rules_only():
    rules = [rule("whole", prefix="backups/", days=7), rule("elsewhere", prefix="logs/", days=1),
             dict(rule("disabled", days=1), enabled=False), rule("later", days=90)]
    whole_account = rule("all", days=3)
    whole_account["definition"]["filters"].pop("prefixMatch")
    warnings = br.sooner_deleters(rules + [whole_account], desired())
    assert len(warnings) == 2
    assert "'whole'" in warnings[0] and "after 7 days" in warnings[0]
    assert "'all'" in warnings[1] and "the whole account" in warnings[1]


class Session:
    subscription_id = SUB


class FakeArm:
    """ARM with one storage account; `race` rules replace the policy right after our first PUT."""

    def __init__(self, rules=None, race=None, container=True):
        self.rules, self.race, self.container = rules, race, container
        self.writes = []

    def get(self, session, path, version, params=None):
        if path.endswith("/managementPolicies/default"):
            return None if self.rules is None else {"properties": {"policy": {"rules": self.rules}}}
        if "/containers/" in path:
            return {"name": "backups"} if self.container else None
        return {"id": path}

    def write(self, session, method, path, version, body, operation, long_running=True):
        self.writes.append((method, body))
        self.rules = None if method == "DELETE" else body["properties"]["policy"]["rules"]
        if self.race is not None:
            self.rules, self.race = self.race, None
        return body


@pytest.fixture
def arm(monkeypatch):
    def make(**kwargs):
        fake = FakeArm(**kwargs)
        monkeypatch.setattr(br, "arm_get", fake.get)
        monkeypatch.setattr(br, "arm_write", fake.write)
        monkeypatch.setattr(br.time, "sleep", lambda seconds: None)
        return fake
    return make


def test_check_mode_predicts_without_writing(arm):
    fake = arm()
    result = br.ensure(Session(), desired(), True)
    assert result.changed and fake.writes == []
    assert result.before == {"rule": {}} and result.after["rule"]["delete_after_days"] == 30


def test_create_then_no_change(arm):
    fake = arm()
    assert br.ensure(Session(), desired(), False).changed
    assert [m for m, _b in fake.writes] == ["PUT"]
    again = br.ensure(Session(), desired(), False)
    assert not again.changed and len(fake.writes) == 1


def test_a_concurrent_writer_is_outlived(arm):
    fake = arm(rules=[rule("other", "logs/")], race=[rule("third", "x/")])
    result = br.ensure(Session(), desired(), False)
    assert result.changed and len(fake.writes) == 2
    assert [r["name"] for r in fake.rules] == ["third", "sqlvmbackupbackups"]


def test_last_rule_removed_deletes_the_policy(arm):
    fake = arm(rules=[rule("sqlvmbackupbackups")])
    assert br.ensure(Session(), desired(state="absent", days=None), False).changed
    assert [m for m, _b in fake.writes] == ["DELETE"]


def test_a_full_policy_is_refused_before_writing(arm):
    fake = arm(rules=[rule("r%d" % i, "x/") for i in range(100)])
    with pytest.raises(PrerequisiteError, match="100 rules"):
        br.ensure(Session(), desired(), False)
    assert fake.writes == []


def test_missing_account_is_refused(arm, monkeypatch):
    arm()
    monkeypatch.setattr(br, "arm_get", lambda *args, **kwargs: None)
    with pytest.raises(PrerequisiteError, match="storage account stbackup01 was not found"):
        br.ensure(Session(), desired(), True)


def test_missing_container_is_a_warning(arm):
    arm(container=False)
    result = br.ensure(Session(), desired(), True)
    assert any("does not exist" in w for w in result.warnings)
