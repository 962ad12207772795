# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: appends every task result, with its wall time, to $SQLVM_RESULTS_FILE as
JSON lines. It sees what every callback sees (after no_log censoring), so tests can check that
secrets never reach results."""

from __future__ import annotations

DOCUMENTATION = r"""
name: sqlvm_results
type: aggregate
short_description: write task results as JSON lines (tests only)
description: Writes each task result and its duration to the file named by SQLVM_RESULTS_FILE.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "sqlvm_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("SQLVM_RESULTS_FILE")
        self._started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started[task._uuid] = time.monotonic()

    def _write(self, status, result):
        if not self._path:
            return
        task = result._task
        started = self._started.get(task._uuid)
        record = dict(task=task.get_name(), action=task.action, status=status,
                      host=result._host.get_name(),
                      seconds=(time.monotonic() - started) if started is not None else None,
                      result=result._result)
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", result)

    def v2_runner_on_skipped(self, result):
        self._write("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._write("unreachable", result)
