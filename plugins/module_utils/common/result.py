# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one contract between backends and modules.

Every capability's backend answers ``ensure(session, desired, check_mode) -> Result`` (read-only ones
``read(session, desired) -> Result``); the module hands the Result to ``SqlvmModule.finish``. Before and
after come from a DifferenceTracker (common/diffing.py), so `changed`, check mode's prediction and the
diff are the same computation; warnings travel with the result instead of being collected on the side.
"""

from __future__ import annotations


class Result:
    """changed, before/after (the diff; after is predicted in check mode), warnings, and the module's
    other return values (`values`, returned as they are)."""

    __slots__ = ("changed", "before", "after", "warnings", "values")

    def __init__(self, changed=False, before=None, after=None, warnings=None, **values):
        self.changed = bool(changed)
        self.before = before
        self.after = after
        self.warnings = list(warnings or ())
        self.values = values

    @classmethod
    def from_tracker(cls, tracker, warnings=None, only_changed=False, **values):
        """A Result whose changed/before/after are the tracker's."""
        return cls(tracker.has_differences, tracker.before(only_changed), tracker.after(only_changed),
                   warnings, **values)

    def warn(self, text):
        self.warnings.append(text)
        return self

    def __repr__(self):
        return "Result(changed=%r, values=%r)" % (self.changed, sorted(self.values))
