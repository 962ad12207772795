# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Desired-vs-current comparison. Each option says *how* it is compared; one tracker collects what
differs, so `changed`, check mode's prediction and the diff all come from the same place."""

from __future__ import annotations

STRICT = "strict"            # equal values
IGNORE_CASE = "ignore_case"  # strings compared case-insensitively (ids, scopes, names ARM re-cases)
SUBSET = "subset"            # everything desired is present; more may be present (dict keys, list items)
SET = "set"                  # same items in any order (lists), case-insensitive for strings
MODES = (STRICT, IGNORE_CASE, SUBSET, SET)


class _Absent:
    def __repr__(self):
        return "ABSENT"


# A value one side does not have (an object that does not exist yet, a key only the new state has): the item is
# compared as different and left out of that side's dict, so a created object's "before" stays {}.
ABSENT = _Absent()


def _fold(value):
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, (list, tuple)):
        return [_fold(item) for item in value]
    if isinstance(value, dict):
        return {_fold(key): _fold(item) for key, item in value.items()}
    return value


def _hashable(value):
    if isinstance(value, dict):
        return tuple(sorted((_hashable(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item) for item in value)
    return value


def satisfies(current, desired, mode=STRICT):
    """True when `current` already meets `desired` under `mode`. A desired None means "don't care"."""
    if mode not in MODES:
        raise ValueError("unknown comparison mode %r" % mode)
    if desired is None:
        return True
    if mode == STRICT:
        return current == desired
    if mode == IGNORE_CASE:
        return _fold(current) == _fold(desired)
    if mode == SET:
        if current is None:
            return not desired
        return set(_hashable(_fold(item)) for item in current) == set(_hashable(_fold(item)) for item in desired)
    # SUBSET
    if current is None:
        return not desired
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return False
        folded = {_fold(key): value for key, value in current.items()}
        return all(_fold(key) in folded and satisfies(folded[_fold(key)], value, SUBSET)
                   for key, value in desired.items())
    if isinstance(desired, (list, tuple, set)):
        have = set(_hashable(_fold(item)) for item in current)
        return all(_hashable(_fold(item)) in have for item in desired)
    return _fold(current) == _fold(desired)


class DifferenceTracker:
    """Collects (name, before, after) for every compared value and remembers which differ."""

    def __init__(self):
        self._items = []

    @classmethod
    def of_states(cls, before, after):
        """A tracker comparing two states (dicts; {} for an object that does not exist) key by key, strictly.
        before()/after() give the two dicts back, each with only its own keys."""
        tracker = cls()
        before, after = before or {}, after or {}
        for name in list(before) + [key for key in after if key not in before]:
            old, new = before.get(name, ABSENT), after.get(name, ABSENT)
            tracker.add(name, old, new, differs=old is ABSENT or new is ABSENT or old != new)
        return tracker

    def add(self, name, before, after, mode=STRICT, differs=None):
        """Record a value. `after` is the desired/predicted value; `differs` overrides the comparison."""
        if differs is None:
            differs = not satisfies(before, after, mode)
        self._items.append((name, before, after, bool(differs)))
        return differs

    @property
    def has_differences(self):
        return any(differs for _name, _before, _after, differs in self._items)

    @property
    def differences(self):
        return [dict(name=name, before=before, after=after)
                for name, before, after, differs in self._items if differs]

    def changed_names(self):
        return [name for name, _before, _after, differs in self._items if differs]

    def before(self, only_changed=False):
        return {name: before for name, before, _after, differs in self._items
                if (differs or not only_changed) and before is not ABSENT}

    def after(self, only_changed=False):
        return {name: (after if differs else before) for name, before, after, differs in self._items
                if (differs or not only_changed) and (after if differs else before) is not ABSENT}

    def diff(self, only_changed=False):
        return dict(before=self.before(only_changed), after=self.after(only_changed))
