# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Text a user gave that cannot be what they meant: a line break or another control character (a
template's trailing newline), or blanks around a name. Azure and SQL Server compare names in ways that
hide such characters (SQL Server ignores trailing blanks; a stripped value would silently name something
else than the option says), so they are refused before any request, naming the option."""

from __future__ import annotations

import re

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError


def has_control_character(value):
    """Whether a text holds a control character (CR, LF, tab, NUL, DEL, C1 controls)."""
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value)


def check_text(value, option, what="the value"):
    """`value` unchanged when it is a string without control characters or surrounding blanks, else
    InvalidInputError naming `option`."""
    if not isinstance(value, str):
        raise InvalidInputError("%s must be a string, not a %s." % (option, type(value).__name__))
    if has_control_character(value):
        raise InvalidInputError("%s %r holds a line break or another control character; give %s on one line "
                                "without them." % (option, value, what))
    if value != value.strip():
        raise InvalidInputError("%s %r has leading or trailing blanks; give %r." % (option, value, value.strip()))
    return value


# A GUID as Azure and Microsoft Entra ID write them (subscription, tenant, client, object and role ids).
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


def is_guid(value):
    """Whether `value` is a string holding one GUID (any case) and nothing else."""
    return isinstance(value, str) and bool(GUID_RE.fullmatch(value))


# Storage names (Azure Storage documentation, "Naming and referencing containers, blobs, and metadata" and the
# storage account name rules): an account is 3-24 lowercase letters and digits; a container 3-63 lowercase
# letters, digits and single hyphens, starting and ending with a letter or digit.
STORAGE_ACCOUNT_RE = re.compile(r"^[a-z0-9]{3,24}\Z")
CONTAINER_RE = re.compile(r"^(?=.{3,63}\Z)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*\Z")
