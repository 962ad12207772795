# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role input checks and URLs fit to echo (documented in the sidecar .yml files).

Each role checks all of its input in its first task, so that bad input fails before anything is read or
changed: the argument spec (meta/argument_specs.yml) checks types and choices; ``input_problems`` checks what a
spec cannot express - blanks and line breaks in names, GUIDs, container and blob URLs (no shared access
signature, no user information), numbers in range - and says, per variable, what to give. Every value a
message shows passes through module_utils/redaction.py.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.sqlvm.backup.plugins.module_utils.common.redaction import redact, redact_url as _redact_url
from ansible_collections.sqlvm.backup.plugins.module_utils.common.redaction import url_secret_problem
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import has_control_character, is_guid

_BLANK_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
# Naming and referencing containers, blobs, and metadata; Storage account name rules.
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER = re.compile(r"(?=.{3,63}\Z)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*")
_BLOB_NAME_LIMIT = 1024
_SHOWN_LIMIT = 120

_WANTED = {
    "name": "a name on one line, without leading or trailing blanks",
    "guid": "an object id, a GUID such as 00000000-0000-0000-0000-000000000000",
    "storage_account": "a storage account name, 3-24 lower-case letters and digits",
    "container": "a container name, 3-63 lower-case letters, digits and single hyphens",
    "container_url": "the container URL alone, https://<account>.blob.<storage suffix>/<container> in lower case",
    "blob_url": "a blob URL, https://<account>.blob.<storage suffix>/<container>/<blob>",
    "resource_id": "an Azure resource id such as /subscriptions/<id>/resourceGroups/<name>",
    "number": "a whole number",
}
_NO_SAS = ("the roles use the VM's managed identity and need no shared access signature (a SAS for a credential "
           "goes to sqlvm.backup.sql_credential's sas_token)")


def _shown(value, url=False):
    """A value fit for a message: secrets redacted, quoted so that blanks show, long values cut."""
    text = _redact_url(value) if url else redact(str(value))
    text = repr(str(text))
    return text if len(text) <= _SHOWN_LIMIT else text[:_SHOWN_LIMIT - 4] + "...'"


def _not_text(value):
    if isinstance(value, dict):
        return "it is a dictionary, not a text"
    if isinstance(value, (list, tuple)):
        return "it is a list, not a text"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return "it is not a text"
    return None


def _name_problem(value):
    problem = _not_text(value)
    if problem:
        return problem
    text = str(value)
    if has_control_character(text):
        return "it has a line break or another control character"
    if text != text.strip():
        return "it has leading or trailing blanks"
    return None


def _guid_problem(value):
    return _name_problem(value) or (None if is_guid(str(value)) else "it is not a GUID")


def _storage_account_problem(value):
    return _name_problem(value) or (
        None if _ACCOUNT.fullmatch(str(value)) else "it is not 3-24 lower-case letters and digits")


def _container_problem(value):
    return _name_problem(value) or (
        None if _CONTAINER.fullmatch(str(value)) else
        "it is not 3-63 lower-case letters, digits and single hyphens starting and ending with a letter or digit")


def _resource_id_problem(value):
    return _name_problem(value) or (
        None if str(value).startswith("/") and not _BLANK_OR_CONTROL.search(str(value)) else
        "it is not a resource id (it must start with / and have no blanks)")


def _url_problem(value, blob):
    """Why ``value`` is no container URL (blob=False) or blob URL (blob=True) the roles can use, or None."""
    if not isinstance(value, str):
        return _not_text(value) or "it is not a text"
    secret = url_secret_problem(value)
    if secret:
        return "%s; %s" % (secret, _NO_SAS)
    if _BLANK_OR_CONTROL.search(value):
        return "it has blanks, line breaks or other control characters"
    if not value.startswith("https://"):
        return "it does not start with https://"
    host, _slash, path = value[len("https://"):].partition("/")
    account, dot_blob, suffix = host.partition(".blob.")
    if not dot_blob or not suffix or ":" in host:
        return "its host %r is not a blob endpoint, <account>.blob.<storage suffix> without a port" % host
    if not _ACCOUNT.fullmatch(account):
        return "its storage account %r is not 3-24 lower-case letters and digits" % account
    if host != host.lower():
        return "its host has upper-case letters"
    container, slash, blob_name = path.partition("/")
    if not _CONTAINER.fullmatch(container):
        return "it names no container, or its container %r is not 3-63 lower-case letters, digits and single " \
               "hyphens" % container
    if blob:
        if not blob_name:
            return "it names no blob after the container"
        if len(blob_name) > _BLOB_NAME_LIMIT:
            return "its blob name is longer than Azure's limit of %d characters" % _BLOB_NAME_LIMIT
    elif slash:
        return "it has more than the container (a container URL names the credential: nothing after the container, " \
               "no trailing /)"
    return None


def _number_problem(value, minimum, maximum):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return "it is not a whole number"
    try:
        number = int(str(value).strip())
    except ValueError:
        return "it is not a whole number"
    if minimum is not None and number < minimum:
        return "it is less than %d" % minimum
    if maximum is not None and number > maximum:
        return "it is more than %d" % maximum
    return None


def _wanted_number(minimum, maximum):
    if minimum is not None and maximum is not None:
        return "a whole number from %d to %d" % (minimum, maximum)
    if minimum is not None:
        return "a whole number of at least %d" % minimum
    if maximum is not None:
        return "a whole number of at most %d" % maximum
    return _WANTED["number"]


_CHECKS = {
    "name": _name_problem,
    "guid": _guid_problem,
    "storage_account": _storage_account_problem,
    "container": _container_problem,
    "resource_id": _resource_id_problem,
    "container_url": lambda value: _url_problem(value, blob=False),
    "blob_url": lambda value: _url_problem(value, blob=True),
}


def _leaves(label, value, path, required):
    """(label, value) of every value ``path`` (a list of keys) reaches under ``value``; lists on the way and at
    the end are walked item by item (labelled ``[index]``)."""
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _leaves("%s[%d]" % (label, index), item, path, required)
        return
    if not path:
        yield label, value
        return
    if isinstance(value, dict):
        if path[0] in value:
            yield from _leaves("%s.%s" % (label, path[0]), value[path[0]], path[1:], required)
        elif required:
            yield "%s.%s" % (label, path[0]), None
    # Anything else is a type error the role's argument spec reports.


def _empty(value):
    return value is None or (isinstance(value, (str, list, tuple, dict)) and len(value) == 0)


def input_problems(values, kind, key=None, required=False, minimum=None, maximum=None):
    """One message per unusable value of ``values`` ({variable name: value}) of the given kind, naming the
    variable (with [index] and .key inside lists and dicts), the value (redacted) and what to give."""
    if not isinstance(values, dict):
        raise AnsibleFilterError("input_problems takes a dict of variable names and values, not %s"
                                 % type(values).__name__)
    if kind != "number" and kind not in _CHECKS:
        raise AnsibleFilterError("input_problems: unknown kind %r; use one of %s"
                                 % (kind, ", ".join(sorted(list(_CHECKS) + ["number"]))))
    wanted = _wanted_number(minimum, maximum) if kind == "number" else _WANTED[kind]
    path = key.split(".") if key else []
    problems = []
    for variable, value in values.items():
        if not path and _empty(value):
            if required:
                problems.append("%s is empty; give %s." % (variable, wanted))
            continue
        for label, leaf in _leaves(str(variable), value, path, required):
            if _empty(leaf):
                if required:
                    problems.append("%s is empty; give %s." % (label, wanted))
                continue
            if kind == "number":
                problem = _number_problem(leaf, minimum, maximum)
            else:
                problem = _CHECKS[kind](leaf)
            if problem:
                problems.append("%s %s: %s; give %s." % (label, _shown(leaf, url=kind.endswith("_url")), problem,
                                                         wanted))
    return problems


def redact_url(url):
    """``url`` fit to echo: no user information, no query string (see module_utils/redaction.py)."""
    return _redact_url(url)


class FilterModule:
    def filters(self):
        return {
            "input_problems": input_problems,
            "redact_url": redact_url,
        }
