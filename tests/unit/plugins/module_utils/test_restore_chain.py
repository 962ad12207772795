"""restore_chain: planning full + differential + log chains to 'latest' or a point in time."""
import datetime

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.sql import restore_chain as rc

C = "https://acct1.blob.core.windows.net/backups/VM1/app/"
DAY = datetime.datetime(2026, 11, 20)


def at(hours, minutes=0):
    return DAY + datetime.timedelta(hours=hours, minutes=minutes)


class History:
    """Backups of one database as a server would take them: LSNs advance by 100 per backup."""

    def __init__(self):
        self.lsn = 1000
        self.last_full_checkpoint = None
        self.backups = []

    def take(self, kind, hour, copy_only=False, stripes=1, skip=False):
        first = self.lsn if kind != "log" else self.log_start
        self.lsn += 100
        last = self.lsn
        entry = rc.backup(kind, first, last, last if kind != "log" else None,
                          0 if kind == "full" else self.last_full_checkpoint,
                          at(hour), at(hour, 1),
                          [C + "%s_%02d_%dof%d.bak" % (kind, hour, n, stripes) for n in range(1, stripes + 1)],
                          copy_only=copy_only)
        if kind == "full" and not copy_only:
            self.last_full_checkpoint = last
        if kind == "log":
            self.log_start = last
        if not skip:
            self.backups.append(entry)
        return entry

    def full(self, hour, **kw):
        entry = self.take("full", hour, **kw)
        if not hasattr(self, "log_start"):
            self.log_start = entry["first_lsn"]
        return entry

    def diff(self, hour, **kw):
        return self.take("differential", hour, **kw)

    def log(self, hour, **kw):
        return self.take("log", hour, **kw)


def kinds(plan):
    return [(b["type"], b["finish"].hour) for b in plan["chain"]]


@pytest.fixture
def week():
    """full 1:00, diff 5:00, logs 2,3,4,6,7:00."""
    h = History()
    h.full(1)
    h.log(2)
    h.log(3)
    h.log(4)
    h.diff(5)
    h.log(6)
    h.log(7)
    return h


def test_latest_is_full_newest_diff_then_logs_after_it(week):
    plan = rc.plan(week.backups, "latest")
    assert plan["problem"] is None and plan["stopat"] is None
    assert kinds(plan) == [("full", 1), ("differential", 5), ("log", 6), ("log", 7)]


def test_point_between_logs_stops_in_the_log_taken_after_it(week):
    plan = rc.plan(week.backups, "2026-11-20T06:30:00")
    assert kinds(plan) == [("full", 1), ("differential", 5), ("log", 6), ("log", 7)]
    assert plan["stopat"] == at(6, 30)


def test_point_before_the_differential_uses_logs_only(week):
    plan = rc.plan(week.backups, at(2, 30))
    assert kinds(plan) == [("full", 1), ("log", 2), ("log", 3)] and plan["stopat"] == at(2, 30)


def test_point_before_the_first_full_is_refused_naming_the_full():
    h = History()
    h.full(5)
    h.log(6)
    plan = rc.plan(h.backups, at(4))
    assert plan["chain"] == [] and "before the first full backup" in plan["problem"] and "05:01:00" in plan["problem"]


def test_no_full_at_all():
    h = History()
    h.full(1, skip=True)
    h.log(2)
    plan = rc.plan(h.backups, "latest")
    assert plan["chain"] == [] and "no full backup" in plan["problem"]


def test_point_after_the_last_log_says_take_a_log_backup(week):
    plan = rc.plan(week.backups, at(9))
    assert plan["chain"] == [] and "no log backup covers 2026-11-20 09:00:00" in plan["problem"]
    assert "07:01:00" in plan["problem"]


def test_missing_log_is_a_gap_named_by_lsn_and_time():
    h = History()
    h.full(1)
    h.log(2)
    missing = h.log(3, skip=True)
    h.log(4)
    plan = rc.plan(h.backups, at(3, 30))
    assert plan["chain"] == []
    assert "no log backup holds LSN %s to %s" % (missing["first_lsn"], missing["last_lsn"]) in plan["problem"]
    assert "between 2026-11-20 02:01:00 and 2026-11-20 04:00:00" in plan["problem"]
    # The point before the gap is still reachable.
    assert kinds(rc.plan(h.backups, at(1, 30))) == [("full", 1), ("log", 2)]


def test_gap_bridged_by_a_differential_is_no_problem():
    h = History()
    h.full(1)
    h.log(2, skip=True)
    h.diff(3)
    h.log(4)
    assert kinds(rc.plan(h.backups, "latest")) == [("full", 1), ("differential", 3), ("log", 4)]


def test_copy_only_full_starts_a_chain_but_bases_no_differential():
    h = History()
    h.full(1)
    h.full(2, copy_only=True)
    h.log(3)
    h.diff(4)  # based on the 1:00 full
    h.log(5)
    plan = rc.plan(h.backups, "latest")
    assert kinds(plan) == [("full", 1), ("differential", 4), ("log", 5)]
    # At 3:30 the differential is too late: the 1:00 full and its logs, still not the copy-only full.
    assert kinds(rc.plan(h.backups, at(3, 30))) == [("full", 1), ("log", 3), ("log", 5)]
    # Without the 1:00 full in the history the copy-only full starts the chain alone (no differential).
    without = [b for b in h.backups if b["finish"].hour != 1]
    plan = rc.plan(without, "latest")
    assert kinds(plan) == [("full", 2), ("log", 3), ("log", 5)] and plan["chain"][0]["copy_only"]


def test_differential_of_an_older_full_is_not_applied_to_a_newer_full():
    h = History()
    h.full(1)
    h.diff(2)  # on the 1:00 full
    h.full(3)
    h.log(4)
    plan = rc.plan(h.backups, "latest")
    assert kinds(plan) == [("full", 3), ("log", 4)]


def test_newest_differential_on_the_full_wins():
    h = History()
    h.full(1)
    h.diff(2)
    h.diff(3)
    h.log(4)
    assert kinds(rc.plan(h.backups, "latest")) == [("full", 1), ("differential", 3), ("log", 4)]


def test_differential_after_the_point_is_not_used():
    h = History()
    h.full(1)
    h.log(2)
    h.diff(3)
    h.log(4)
    assert kinds(rc.plan(h.backups, at(1, 30))) == [("full", 1), ("log", 2)]


def test_log_chain_runs_across_a_later_full():
    h = History()
    h.full(1)
    h.log(2)
    h.full(3)
    h.log(4)
    h.log(5)
    # latest: the newest full and the logs after it.
    assert kinds(rc.plan(h.backups, "latest")) == [("full", 3), ("log", 4), ("log", 5)]
    # The 1:00 full's chain runs through the 3:00 full: log 4 continues log 2.
    older = [b for b in h.backups if b["finish"].hour != 3]
    assert kinds(rc.plan(older, at(4, 30))) == [("full", 1), ("log", 2), ("log", 4), ("log", 5)]


def test_newer_full_with_broken_logs_falls_back_to_an_older_complete_chain():
    h = History()
    h.full(1)
    h.log(2)
    h.log(3)
    h.log(4)
    backups = list(h.backups)
    # A full at 2:30 whose first log after it (3:00) is missing from ITS view is impossible; instead: a copy-only
    # full at 3:30 whose logs were lost can never beat the 1:00 full's complete chain for a point at 3:45.
    copy = rc.backup("full", 5000, 5100, 5100, 0, at(3, 30), at(3, 31), [C + "copy.bak"], copy_only=True)
    plan = rc.plan(backups + [copy], at(3, 45))
    assert kinds(plan) == [("full", 1), ("log", 2), ("log", 3), ("log", 4)]


def test_striped_sets_keep_every_url_in_order():
    rows = []
    for n in (3, 1, 2):
        rows.append(dict(backup_set_id=7, type="D", is_copy_only=False, first_lsn=10, last_lsn=20, checkpoint_lsn=20,
                         database_backup_lsn=0, backup_start_date=at(1), backup_finish_date=at(1, 1),
                         family_sequence_number=n, physical_device_name=C + "full_%dof3.bak" % n,
                         database_name="app", server_name="VM1"))
    backups = rc.from_history_rows(rows)
    assert len(backups) == 1 and backups[0]["urls"] == [C + "full_%dof3.bak" % n for n in (1, 2, 3)]
    plan = rc.plan(backups, "latest")
    assert len(plan["chain"]) == 1 and len(plan["chain"][0]["urls"]) == 3


def test_the_same_backup_recorded_twice_is_kept_once():
    row = dict(backup_set_id=1, type="L", is_copy_only=0, first_lsn=10, last_lsn=20, checkpoint_lsn=None,
               database_backup_lsn=5, backup_start_date=at(1), backup_finish_date=at(1), family_sequence_number=1,
               physical_device_name=C + "log.trn")
    again = dict(row, backup_set_id=9)
    assert len(rc.from_history_rows([row, again])) == 1
    other = dict(row, backup_set_id=10, type="F")  # file backups are not part of these chains
    assert len(rc.from_history_rows([row, other])) == 1


def test_headers_become_backups():
    head = dict(BackupType=5, FirstLSN="30", LastLSN="40", CheckpointLSN="40", DatabaseBackupLSN="20",
                BackupStartDate=at(2), BackupFinishDate=at(2, 1), IsCopyOnly=0, DatabaseName="app", ServerName="VM1")
    entry = rc.from_header(head, [C + "d.bak"])
    assert entry["type"] == "differential" and entry["database_backup_lsn"] == 20 and entry["finish"] == at(2, 1)
    assert rc.from_header(dict(head, BackupType=4), [C + "f.bak"]) is None


def test_latest_with_a_broken_log_chain_names_the_gap():
    h = History()
    h.full(1)
    h.log(2)
    h.log(3, skip=True)
    h.log(4)
    plan = rc.plan(h.backups, "latest")
    assert plan["chain"] == [] and "log chain breaks" in plan["problem"]


def test_full_alone_is_latest_when_nothing_follows():
    h = History()
    h.full(1)
    plan = rc.plan(h.backups, "latest")
    assert kinds(plan) == [("full", 1)] and plan["stopat"] is None


@pytest.mark.parametrize("value, needle", [
    ("yesterday", "neither 'latest'"),
    ("2026-11-20", "without a time"),
    ("2026-11-20T06:30:00Z", "time zone offset"),
    ("2026-11-20T06:30:00+01:00", "time zone offset"),
    ("2026-13-40T06:30:00", "neither 'latest'"),
])
def test_bad_restore_points(value, needle):
    with pytest.raises(rc.PointInTimeError, match=needle):
        rc.parse_restore_point(value)


def test_restore_point_forms():
    assert rc.parse_restore_point("LATEST") == rc.LATEST and rc.parse_restore_point(None) == rc.LATEST
    assert rc.parse_restore_point("2026-11-20 06:30:00") == at(6, 30)


def test_chain_round_trips_and_check_chain_finds_gaps(week):
    plan = rc.plan(week.backups, at(6, 30))
    handed = [rc.from_result(rc.to_result(b)) for b in plan["chain"]]
    assert handed == plan["chain"] and rc.check_chain(handed) is None
    assert all(isinstance(rc.to_result(b)["first_lsn"], str) for b in plan["chain"])
    assert "missing" in rc.check_chain([handed[0], handed[2]])  # a log without the differential before it
    assert "starts with a full" in rc.check_chain(handed[1:])
    assert "another full" in rc.check_chain([handed[0], dict(handed[1], database_backup_lsn=1)])
    with pytest.raises(ValueError):
        rc.from_result(dict(type="full", urls=[]))


def test_describe_chain_marks_the_stop():
    h = History()
    h.full(1, stripes=2)
    h.log(2)
    lines = rc.describe_chain(rc.plan(h.backups, at(1, 30))["chain"], at(1, 30))
    assert lines[0].startswith("full finished 2026-11-20 01:01:00") and "(+1 stripes)" in lines[0]
    assert lines[1].endswith("STOPAT 2026-11-20T01:30:00")
