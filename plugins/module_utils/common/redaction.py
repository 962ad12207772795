# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets out of every text the collection shows: messages, results, diffs and logs.

Ansible masks the values of `no_log` options, but a secret can also arrive inside another value - a
shared access signature in a URL, a password in a URL's user part, a token in a service's answer - and
Ansible cannot see it there. Every message and result passes through `redact` (SqlvmBackupError does
it for errors), and every URL the collection echoes goes through `redact_url`.
"""

from __future__ import annotations

import re

REDACTED = "REDACTED"

# Query parameters of an Azure Storage shared access signature that are secret or give it away
# (the signature itself; the rest only describe it, but a SAS is one credential: redact it whole).
_SAS_PARAMETER = re.compile(r"(?i)([?&](?:sig|signature|se|sp|sv|sr|st|ss|srt|spr|sip|skoid|sktid|skt|ske|sks|skv|"
                            r"saoid|suoid|scid|sdd|ses|rscc|rscd|rsce|rscl|rsct)=)[^&#\s'\"]*")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s'\"]+@")
# A JSON Web Token: base64url header beginning with '{"' ("eyJ"), payload and signature.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*")
# key=value pairs of connection strings and form bodies (ODBC PWD=, client_secret=, AccountKey=, ...).
_KEY_VALUE = re.compile(r"(?i)\b((?:pwd|password|client_secret|access_token|refresh_token|client_assertion|"
                        r"accountkey|sharedaccesssignature)\s*=\s*)(\"[^\"]*\"|'[^']*'|\{[^}]*\}|[^;&,\s]+)")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")


def redact(text):
    """`text` with SAS parameters, URL passwords, bearer tokens, JWTs and key=value secrets replaced."""
    if not isinstance(text, str) or not text:
        return text
    text = _URL_USERINFO.sub(r"\1%s@" % REDACTED, text)
    text = _SAS_PARAMETER.sub(r"\1%s" % REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(r"\1%s" % REDACTED, text)
    return _KEY_VALUE.sub(r"\1%s" % REDACTED, text)


def redact_url(url):
    """A URL fit to echo: no user information, and no query string at all (a query on a blob or
    container URL is a SAS or gives one away)."""
    if not isinstance(url, str):
        return url
    text = _URL_USERINFO.sub(r"\1%s@" % REDACTED, url)
    base, separator, _query = text.partition("?")
    return base + ("?" + REDACTED if separator else "")


def url_secret_problem(url):
    """Why `url` must not be used where a plain URL is expected (it carries a credential), or None."""
    if not isinstance(url, str):
        return None
    if _URL_USERINFO.search(url):
        return "it carries a user name or password before '@'"
    if "?" in url or "#" in url or _SAS_PARAMETER.search("&" + url.split("/", 3)[-1]):
        return "it has a query string (a shared access signature belongs in a credential, not in the URL)"
    return None


_URL_QUERY = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"?#]*[?#]([^\s'\"]+)")
_USERINFO_PART = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://([^/@\s'\"]+)@")
_SAS_VALUE = re.compile(r"(?i)(?:^|[?&])(?:sig|signature)=([^&#\s'\"]+)")


def url_secret_parts(text):
    """The parts of `text` that are secrets inside URLs - user information, query strings, SAS signatures - as
    substrings, so they can be masked wherever the text is shown (Ansible's no_log values)."""
    if not isinstance(text, str) or not text:
        return set()
    parts = set(_URL_QUERY.findall(text)) | set(_USERINFO_PART.findall(text)) | set(_SAS_VALUE.findall(text))
    # A SAS glued on without '?' ("...container&sv=...&sig=..."): everything from its first parameter on.
    for match in _SAS_PARAMETER.finditer(text):
        parts.add(re.split(r"[\s'\"]", text[match.start() + 1:], maxsplit=1)[0])
        break
    return {part for part in parts if len(part) >= 4}


def redact_data(value):
    """`value` with `redact` applied to every string inside dicts, lists and tuples."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_data(item) for item in value)
    return value
