# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Profiles of the ``~/.azure/credentials`` file, the INI file azure.azcollection users keep their
service principals in: one section per profile (``[default]`` and any others), keys such as
subscription_id, client_id, secret, tenant, ad_user, password and cloud_environment.

The file names the tenant, the cloud (whose sign-in endpoint receives the secret) and the secret
itself, so it is read only when nobody but the user running the task could have written it, under the
same rules as the collection's private files (common/private_files.py): a regular file, not a symbolic
link (opened with O_NOFOLLOW, and the open file must be the one inspected), owned by the effective
user, writable by nobody else. A file that holds a secret or password must also be unreadable by
others (mode 0600): the same refusal OpenSSH makes for a private key other users can read. Such a
file is refused with the fix (``chmod 600``), not used with a warning: a warning is easily missed,
while a readable secret should also be rotated.

azure.azcollection reads ``~/.azure/credentials`` only (not ``$AZURE_CONFIG_DIR``, the Azure CLI's
own directory); so does this module, so a migrated setup finds the same file. The values are never
part of an error message or a warning: only key names, section names and line numbers are.
"""

from __future__ import annotations

import os
import stat

DEFAULT_PROFILE = "default"
PROFILE_ENV = "AZURE_PROFILE"
# file key -> authentication setting (auth.py ENV_NAMES). x509_certificate_path is azure.azcollection's
# name for the certificate (PEM with the private key appended), our client_certificate_path.
KEYS = {
    "subscription_id": "subscription_id",
    "client_id": "client_id",
    "secret": "secret",
    "tenant": "tenant",
    "ad_user": "ad_user",
    "password": "password",
    "cloud_environment": "cloud_environment",
    "x509_certificate_path": "client_certificate_path",
    "client_certificate_path": "client_certificate_path",
    "client_certificate_password": "client_certificate_password",
    "federated_token_file": "federated_token_file",
}
SECRET_KEYS = ("secret", "password", "client_certificate_password")
# azure.azcollection keys with no meaning here, read without a word: the thumbprint azure-identity
# computes from the certificate itself; the SDK API profile (this collection pins its API versions).
_QUIETLY_IGNORED = ("thumbprint", "api_profile", "profile")
# azure.azcollection keys that change how it connects; not honoured here, so the task says so.
_NOT_HONOURED = {
    "adfs_authority_url": "sign-in uses the cloud's own authority (cloud_environment)",
    "disable_instance_discovery": "azure-identity's instance discovery stays on",
    "log_path": "the collection writes no log file",
    "log_mode": "the collection writes no log file",
}


class CredentialsFileError(Exception):
    """The credentials file or profile cannot be used; `fix` says what to do."""

    def __init__(self, message, fix):
        super().__init__(message)
        self.fix = fix


def default_path(environ=None):
    """``~/.azure/credentials`` of the user running the task (HOME from `environ` when it has one)."""
    environ = os.environ if environ is None else environ
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".azure", "credentials")


def _read_private(path):
    """The text of `path` and whether other users may read it; None when the file does not exist.
    Raises CredentialsFileError when the file could have been written by someone else."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.common import private_files
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        return None, False
    except OSError as exc:
        raise CredentialsFileError("The credentials file %s cannot be inspected (%s)." % (path, exc.strerror),
                                   fix="make it readable by the user that runs the task.") from None
    problem = private_files.file_problem(path, secret=False)
    if problem is None:
        try:
            descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            problem = "it cannot be opened (%s)" % exc.strerror
        else:
            try:
                info = os.fstat(descriptor)
                if (info.st_dev, info.st_ino) != (before.st_dev, before.st_ino) or not stat.S_ISREG(info.st_mode):
                    problem = "it was replaced while being read"
                else:
                    chunks = []
                    while True:
                        chunk = os.read(descriptor, 1 << 16)
                        if not chunk:
                            break
                        chunks.append(chunk)
                    data = b"".join(chunks)
            finally:
                os.close(descriptor)
    if problem is not None:
        raise CredentialsFileError(
            "The credentials file %s is not used: %s. It names the tenant, the cloud and the secret, so only a "
            "file nobody else could have written is trusted." % (path, problem),
            fix="make it a regular file (not a symbolic link) owned by the user that runs the task, with mode 0600 "
                "(chmod 600 %s)." % path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CredentialsFileError("The credentials file %s is not UTF-8 text." % path,
                                   fix="save it as UTF-8 (an INI file: [profile] sections of key = value lines).") from None
    return text, bool(stat.S_IMODE(before.st_mode) & (stat.S_IRWXG | stat.S_IRWXO))


def parse(text, path="credentials"):
    """{profile: {key: value}} of an INI text, as Python's configparser reads it without interpolation
    (azure.azcollection reads the file raw too): key names are case-insensitive, values of a [DEFAULT]
    section apply to every profile. Errors name the line, never its content (it may be a secret)."""
    import configparser
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        if line is None and getattr(exc, "errors", None):
            line = exc.errors[0][0]
        where = " at line %s" % line if line is not None else ""
        raise CredentialsFileError(
            "The credentials file %s is not a valid INI file%s (%s)." % (path, where, type(exc).__name__),
            fix="write one [profile] section per profile with key = value lines, each key once.") from None
    return {section: dict(parser.items(section)) for section in parser.sections()}


def profile_settings(profiles, name, path="credentials"):
    """(settings, warnings) of profile `name`: the authentication settings it gives (auth.py names) and
    what in it is not honoured here. None when there is no such profile."""
    if name not in profiles:
        return None
    settings, warnings = {}, []
    for key, value in sorted(profiles[name].items()):
        if key in KEYS:
            if value.strip():
                settings[KEYS[key]] = value.strip()
        elif key == "cert_validation_mode":
            if value.strip().lower() != "validate":
                warnings.append(
                    "cert_validation_mode in profile [%s] of %s is not honoured: sqlvm.backup always verifies "
                    "certificates. Behind a TLS-inspecting proxy, add its CA certificate to the bundle "
                    "REQUESTS_CA_BUNDLE names." % (name, path))
        elif key in _NOT_HONOURED:
            warnings.append("%s in profile [%s] of %s is not honoured: %s." % (key, name, path, _NOT_HONOURED[key]))
        elif key not in _QUIETLY_IGNORED:
            warnings.append("%s in profile [%s] of %s is not a key sqlvm.backup knows; it is ignored. Known keys: %s."
                            % (key, name, path, ", ".join(sorted(KEYS))))
    return settings, warnings


def load_profile(name, path=None, environ=None, required=True):
    """(settings, warnings, path) of profile `name` from the credentials file at `path`
    (default_path()). Raises CredentialsFileError when the file is not trusted, not valid, or - when
    `required` - missing or without that profile; otherwise returns None for a missing file or profile."""
    path = path or default_path(environ)
    text, readable_by_others = _read_private(path)
    if text is None:
        if required:
            raise CredentialsFileError(
                "Profile [%s] was asked for, but the credentials file %s does not exist." % (name, path),
                fix="create it (mode 0600) with a [%s] section (subscription_id, client_id, secret, tenant, ...), or "
                    "remove the profile option / %s." % (name, PROFILE_ENV))
        return None
    profiles = parse(text, path)
    if readable_by_others and any(key in SECRET_KEYS for values in profiles.values() for key in values):
        raise CredentialsFileError(
            "The credentials file %s is not used: it holds a secret or password and other users may read it."
            % path,
            fix="chmod 600 %s, and replace the secrets it holds (other users could read them)." % path)
    found = profile_settings(profiles, name, path)
    if found is None:
        if required:
            raise CredentialsFileError(
                "The credentials file %s has no profile [%s]; it has %s." % (
                    path, name, ", ".join("[%s]" % section for section in sorted(profiles)) or "no profile at all"),
                fix="use one of its profiles (option profile or %s), or add a [%s] section." % (PROFILE_ENV, name))
        return None
    return found[0], found[1], path
