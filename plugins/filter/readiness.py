# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readiness report filters: sqlvm_info + sql_info results -> one row per VM and step -> Markdown,
JSON-ready summary, JUnit XML. Pure functions over plain data (documented in the sidecar .yml files)."""

from __future__ import annotations

import json

from xml.sax.saxutils import escape, quoteattr

# The steps of backup-readiness, in the order backup_ready converges them (docs/design.md), each with the
# sqlvm_info check it comes from (None: from sql_info) and what fixes it.
STEPS = (
    ("sql_vm_resource", "sql_vm_resource", "register the VM with the SQL IaaS Agent extension"),
    ("platform", "platform", "not fixable by automation: Windows, SQL Server 2022 CU17+ or 2025, no FCI"),
    ("identity", "vm_identity", "backup_ready tag identity (sqlvm.backup.sqlvm_identity)"),
    ("primary_identity", "entra_authentication", "backup_ready tag identity (sqlvm.backup.sqlvm_identity)"),
    ("directory_read", "directory_read", "backup_ready tag directory (sqlvm.backup.entra_directory_reader)"),
    ("storage_role", "storage_access", "backup_ready tag storage (sqlvm.backup.role_assignment)"),
    ("logins", None, "backup_ready tag logins (sqlvm.backup.sql_login)"),
    ("credential", None, "backup_ready tag credential (sqlvm.backup.sql_credential)"),
)
# Network paths backup to URL and Entra authentication need (sqlvm_info check_network): each check carries its own
# reason and fix (a person's: the storage firewall and the network security groups are not the role's to change).
# A row only when sqlvm_info made the check; `ready` null means it could not tell.
NETWORK_STEPS = ("storage_network", "outbound_storage", "outbound_entra")
STEP_NAMES = tuple(step for step, _check, _fix in STEPS)
# The backup_ready tag (ansible-playbook --tags) that converges each step; steps without one need a person.
FIX_TAGS = {"identity": "identity", "primary_identity": "identity", "directory_read": "directory",
            "storage_role": "storage", "logins": "logins", "credential": "credential"}

PASS = "pass"
FAIL = "fail"
INELIGIBLE = "ineligible"
UNKNOWN = "unknown"
SKIPPED = "skipped"


def _as_dict(value):
    return value if isinstance(value, dict) else {}


def _failed(result):
    result = _as_dict(result)
    return bool(result.get("failed")) or bool(result.get("unreachable"))


def _error_text(result):
    result = _as_dict(result)
    return str(result.get("msg") or "the task failed without a message")


def _row(vm, step, status, reason, fix=None):
    return {"vm": vm, "step": step, "status": status, "ready": status == PASS, "reason": reason,
            "fix": fix if status in (FAIL, UNKNOWN) else None}


def _sql_rows(vm, sql, container_url):
    """Rows for the SQL Server side (logins, credential) from a sql_info result."""
    fixes = dict((step, fix) for step, _check, fix in STEPS)
    if not sql:
        return [_row(vm, "logins", UNKNOWN, "SQL Server was not queried", fixes["logins"]),
                _row(vm, "credential", UNKNOWN, "SQL Server was not queried", fixes["credential"])]
    if _failed(sql):
        reason = "could not query SQL Server: " + _error_text(sql)
        return [_row(vm, "logins", UNKNOWN, reason, fixes["logins"]),
                _row(vm, "credential", UNKNOWN, reason, fixes["credential"])]
    rows = []
    logins = [entry.get("name") for entry in sql.get("entra_logins") or () if isinstance(entry, dict)]
    if logins:
        rows.append(_row(vm, "logins", PASS, "Entra logins: " + ", ".join(sorted(str(n) for n in logins))))
    else:
        rows.append(_row(vm, "logins", FAIL, "no Microsoft Entra logins exist", fixes["logins"]))
    credentials = [c for c in sql.get("credentials") or () if isinstance(c, dict) and c.get("managed_identity")]
    names = [str(c.get("name")) for c in credentials]
    if container_url:
        if container_url in names:
            rows.append(_row(vm, "credential", PASS, "'Managed Identity' credential %s" % container_url))
        else:
            near = [n for n in names if n.lower() == container_url.lower()]
            hint = " (%s differs only in case; credential names are case-sensitive)" % near[0] if near else ""
            rows.append(_row(vm, "credential", FAIL, "no 'Managed Identity' credential named %s%s"
                             % (container_url, hint), fixes["credential"]))
    elif names:
        rows.append(_row(vm, "credential", PASS, "'Managed Identity' credentials: " + ", ".join(sorted(names))))
    else:
        rows.append(_row(vm, "credential", FAIL, "no 'Managed Identity' credential exists", fixes["credential"]))
    return rows


def readiness_rows(vms):
    """One row per VM and step from a list of ``{vm, sqlvm_info, sql_info, container_url, eligible, reason}``."""
    if isinstance(vms, dict):
        vms = [dict(value, vm=value.get("vm", key)) for key, value in sorted(vms.items())]
    rows = []
    for entry in vms or ():
        entry = _as_dict(entry)
        vm = str(entry.get("vm") or entry.get("host") or "?")
        azure = _as_dict(entry.get("sqlvm_info"))
        sql = entry.get("sql_info")
        checks = _as_dict(azure.get("checks"))
        platform = _as_dict(checks.get("platform"))
        ineligible_reason = entry.get("ineligible_reason")
        if ineligible_reason is None and platform and not platform.get("ready"):
            ineligible_reason = platform.get("reason")
        if ineligible_reason is None and isinstance(sql, dict) and not _failed(sql) \
                and sql.get("managed_identity_backup_supported") is False:
            reasons = [r for r in sql.get("reasons") or () if "credential" not in r and "login" not in r]
            ineligible_reason = "; ".join(reasons) or "SQL Server does not support backup with a managed identity"
        if ineligible_reason:
            for step, _check, _fix in STEPS:
                status = INELIGIBLE if step == "platform" else SKIPPED
                rows.append(_row(vm, step, status, str(ineligible_reason) if step == "platform"
                                 else "not applicable: the VM cannot qualify"))
            continue
        if _failed(azure):
            reason = "could not read Azure: " + _error_text(azure)
            for step, check, fix in STEPS:
                if check is not None:
                    rows.append(_row(vm, step, UNKNOWN, reason, fix))
            rows.extend(_sql_rows(vm, sql, entry.get("container_url")))
            continue
        for step, check, fix in STEPS:
            if check is None:
                continue
            found = checks.get(check)
            if not isinstance(found, dict):
                status, reason = UNKNOWN, "not checked"
                if step == "storage_role":
                    reason = "not checked (no storage scope given)"
            else:
                status, reason = (PASS if found.get("ready") else FAIL), str(found.get("reason") or "")
            rows.append(_row(vm, step, status, reason, fix))
        rows.extend(_network_rows(vm, checks))
        rows.extend(_sql_rows(vm, sql, entry.get("container_url")))
    return rows


def _network_rows(vm, checks):
    rows = []
    for step in NETWORK_STEPS:
        found = checks.get(step)
        if not isinstance(found, dict):
            continue
        status = UNKNOWN if found.get("ready") is None else (PASS if found.get("ready") else FAIL)
        rows.append(_row(vm, step, status, str(found.get("reason") or ""), found.get("fix") or None))
    return rows


def readiness_entry(host, sqlvm_info_var="compliance_sqlvm_info", sql_info_var="compliance_sql_info"):
    """One input entry of readiness_rows from a host's variables (``hostvars[host]``) and its registered results."""
    sql = host.get(sql_info_var)
    if isinstance(sql, dict) and sql.get("skipped"):
        sql = None
    return {"vm": host.get("inventory_hostname"), "sqlvm_info": host.get(sqlvm_info_var), "sql_info": sql,
            "container_url": host.get("container_url") or None}


def readiness_summary(rows):
    """A JSON-ready report: per VM its verdict (ready / not_ready / ineligible) and rows, totals, row counts per
    status, and the not-ready VMs (failing steps with reason, fix and backup_ready tag) and ineligible VMs alone."""
    vms = {}
    for row in rows or ():
        vms.setdefault(row["vm"], []).append(row)
    report = {"vms": {}, "totals": {"vms": len(vms), "ready": 0, "not_ready": 0, "ineligible": 0},
              "status_counts": dict.fromkeys((PASS, FAIL, UNKNOWN, INELIGIBLE, SKIPPED), 0),
              "not_ready_vms": {}, "ineligible_vms": {}}
    for vm, vm_rows in sorted(vms.items()):
        for row in vm_rows:
            report["status_counts"][row["status"]] = report["status_counts"].get(row["status"], 0) + 1
        # A step that could not be read (unknown) is not ready: nothing shows it would work.
        failing = [r for r in vm_rows if r["status"] in (FAIL, UNKNOWN)]
        if any(r["status"] == INELIGIBLE for r in vm_rows):
            verdict = "ineligible"
            report["ineligible_vms"][vm] = next(r["reason"] for r in vm_rows if r["status"] == INELIGIBLE)
        elif all(r["status"] == PASS for r in vm_rows):
            verdict = "ready"
        else:
            verdict = "not_ready"
            tags = []
            for row in failing:
                if FIX_TAGS.get(row["step"]) and FIX_TAGS[row["step"]] not in tags:
                    tags.append(FIX_TAGS[row["step"]])
            report["not_ready_vms"][vm] = {
                "fix_tags": tags,
                "steps": [{"step": r["step"], "status": r["status"], "reason": r["reason"], "fix": r["fix"],
                           "tag": FIX_TAGS.get(r["step"])} for r in failing]}
        report["totals"][verdict] += 1
        report["vms"][vm] = {"verdict": verdict, "ready": verdict == "ready",
                             "failing_steps": [r["step"] for r in failing], "steps": vm_rows}
    report["all_ready"] = report["totals"]["vms"] == report["totals"]["ready"] and bool(vms)
    return report


def _md_cell(text):
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


_ICONS = {PASS: "ok", FAIL: "FAIL", INELIGIBLE: "ineligible", UNKNOWN: "unknown", SKIPPED: "-"}


def readiness_markdown(rows, title="Backup readiness"):
    """A Markdown report: a summary line per VM, then one table row per VM and step."""
    return _markdown(rows, title, readiness_summary(rows))


def _markdown(rows, title, summary):
    totals = summary["totals"]
    lines = ["# %s" % title, "",
             "%d VMs: %d ready, %d not ready, %d ineligible." % (
                 totals["vms"], totals["ready"], totals["not_ready"], totals["ineligible"]), "",
             "| VM | verdict | steps to fix |", "|---|---|---|"]
    for vm, info in summary["vms"].items():
        lines.append("| %s | %s | %s |" % (_md_cell(vm), info["verdict"], _md_cell(", ".join(info["failing_steps"]))))
    lines += ["", "| VM | step | status | reason | fix |", "|---|---|---|---|---|"]
    for row in rows or ():
        lines.append("| %s | %s | %s | %s | %s |" % (
            _md_cell(row["vm"]), row["step"], _ICONS.get(row["status"], row["status"]),
            _md_cell(row["reason"]), _md_cell(row.get("fix") or "")))
    return "\n".join(lines) + "\n"


def readiness_junit(rows, suite="sqlvm.backup readiness"):
    """JUnit XML: a testsuite per VM, a testcase per step (fail/unknown = failure, ineligible/skipped = skipped)."""
    return _junit(rows, suite, readiness_summary(rows))


def _junit(rows, suite, summary):
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    failures = sum(1 for r in rows or () if r["status"] in (FAIL, UNKNOWN))
    skipped = sum(1 for r in rows or () if r["status"] in (INELIGIBLE, SKIPPED))
    out.append("<testsuites name=%s tests=\"%d\" failures=\"%d\" skipped=\"%d\">" % (
        quoteattr(suite), len(rows or ()), failures, skipped))
    for vm, info in summary["vms"].items():
        steps = info["steps"]
        out.append("  <testsuite name=%s tests=\"%d\" failures=\"%d\" skipped=\"%d\">" % (
            quoteattr(vm), len(steps), sum(1 for r in steps if r["status"] in (FAIL, UNKNOWN)),
            sum(1 for r in steps if r["status"] in (INELIGIBLE, SKIPPED))))
        for row in steps:
            head = "    <testcase classname=%s name=%s" % (quoteattr(vm), quoteattr(row["step"]))
            if row["status"] == PASS:
                out.append(head + ">")
                out.append("      <system-out>%s</system-out>" % escape(row["reason"]))
                out.append("    </testcase>")
            elif row["status"] in (FAIL, UNKNOWN):
                message = row["reason"] + (" Fix: " + row["fix"] if row.get("fix") else "")
                out.append(head + ">")
                out.append("      <failure message=%s type=%s>%s</failure>" % (
                    quoteattr(message), quoteattr(row["status"]), escape(message)))
                out.append("    </testcase>")
            else:
                out.append(head + ">")
                out.append("      <skipped message=%s/>" % quoteattr(row["reason"]))
                out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


def readiness_reports(rows, title="Backup readiness", suite="sqlvm.backup readiness"):
    """The summary and the three report files from one pass: ``summary`` (readiness_summary), ``markdown``,
    ``json`` (the summary as to_nice_json writes it) and ``junit``. A play that needs all of them templates the
    rows once instead of once per report - at 1000 VMs the rows are ~11,000 dicts and templating them dominates."""
    summary = readiness_summary(rows)
    return {"summary": summary, "markdown": _markdown(rows, title, summary),
            "json": json.dumps(summary, indent=4, sort_keys=True, separators=(",", ": ")),
            "junit": _junit(rows, suite, summary)}


class FilterModule:
    def filters(self):
        return {
            "readiness_reports": readiness_reports,
            "readiness_entry": readiness_entry,
            "readiness_rows": readiness_rows,
            "readiness_summary": readiness_summary,
            "readiness_markdown": readiness_markdown,
            "readiness_junit": readiness_junit,
        }
