# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trusted reads and atomic private writes under the collection's cache root.

Every file the collection reads back from disk - the sign-in authority's OpenID configuration, a
cloud's metadata document, access tokens, the hashed CA directory - lives under one root,
``$XDG_CACHE_HOME/sqlvm.backup`` (``~/.cache/sqlvm.backup``). What is read there is trusted: the
OpenID document names the endpoint the client secret is posted to. So a file is used only when
nobody but the user running the task could have put it there:

- the root is a real directory (not a symbolic link), owned by the effective user and writable by
  nobody else; it is created 0700. A root left 0755 by an older version (owned by us, writable by
  nobody else) is tightened to 0700. A root that fails these checks is not used at all: nothing
  under it is read, nothing is written there;
- every directory from the root down to the file passes the same checks, and has no group or other
  permission at all (they are created 0700);
- the file is opened with O_NOFOLLOW (a symbolic link is refused by the kernel, with no race between
  check and open), and the open file is a regular file owned by the effective user that nobody else
  may write - nor read, for files that may hold secrets (tokens).

A file or directory that fails a check is ignored - the task goes to the network instead - and a
warning says which and why (`take_warnings`; SqlvmModule reports them with the task's result).
Writes go to a temporary file (O_EXCL, O_NOFOLLOW, 0600) renamed over the target, so a reader sees
the old file or the new one, never half of one. A cache that cannot be read or written only costs
requests; it never fails a task.
"""

from __future__ import annotations

import os
import stat

ROOT_NAME = "sqlvm.backup"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_GROUP_OTHER_WRITE = stat.S_IWGRP | stat.S_IWOTH
_GROUP_OTHER_ANY = stat.S_IRWXG | stat.S_IRWXO
_WARNINGS = []


def default_root(environ=None):
    """``$XDG_CACHE_HOME/sqlvm.backup``, else ``~/.cache/sqlvm.backup``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, ROOT_NAME)


def warn(text):
    """Record a warning once per process; SqlvmModule shows them with the task's result."""
    if text not in _WARNINGS:
        _WARNINGS.append(text)


def take_warnings():
    """The warnings recorded so far, cleared."""
    taken = list(_WARNINGS)
    del _WARNINGS[:]
    return taken


def warn_untrusted(path, reason):
    warn("Ignored the cache %s: %s. Nothing there is trusted; the task asks the service instead. "
         "Fix: remove it (or point XDG_CACHE_HOME at a directory only you can write); the collection "
         "recreates it privately (0700)." % (path, reason))


def _mode_problem(info, kind, forbidden):
    if info.st_uid != os.geteuid():
        return "the %s is owned by uid %d, not by the user running the task (uid %d)" % (
            kind, info.st_uid, os.geteuid())
    if info.st_mode & forbidden:
        return "other users may %s the %s (mode %04o)" % (
            "write" if forbidden == _GROUP_OTHER_WRITE else "read or write", kind, stat.S_IMODE(info.st_mode))
    return None


def _directory_problem(path, forbidden):
    """Why the directory `path` is not private, or None. A missing one is a problem too."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return "cannot be inspected (%s)" % exc.strerror
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a directory"
    return _mode_problem(info, "directory", forbidden)


def _directory_ready(path, forbidden, create, parents=False):
    """True when the directory `path` passes the checks with `forbidden` mode bits; a missing one is
    created 0700 first when `create` (with its parents when `parents`). A failed check warns."""
    problem = _directory_problem(path, forbidden)
    if problem == "missing" and create:
        try:
            if parents:
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return False
        problem = _directory_problem(path, forbidden)
    if problem is not None:
        if problem != "missing":
            warn_untrusted(path, problem)
        return False
    return True


def root_usable(root, create=True):
    """True when the cache root passes the checks (created 0700 when missing and `create`)."""
    if not _directory_ready(root, _GROUP_OTHER_WRITE, create, parents=True):
        return False
    try:
        if stat.S_IMODE(os.lstat(root).st_mode) & _GROUP_OTHER_ANY:
            # Owned by us and writable by nobody else: an older version's 0755 root. Nothing could
            # have been planted in it; only make it private.
            os.chmod(root, 0o700)
    except OSError:
        return False
    return True


def _inside(root, path):
    """The directories from `root` (excluded) down to `path`'s parent, or None if `path` is not under root."""
    root = os.path.abspath(root)
    parent = os.path.dirname(os.path.abspath(path))
    if parent != root and not parent.startswith(root + os.sep):
        return None
    chain = []
    while parent != root:
        chain.append(parent)
        parent = os.path.dirname(parent)
    return list(reversed(chain))


def file_problem(path, secret=False):
    """Why the file `path` (not followed if a link) must not be trusted, or None."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        return "cannot be inspected (%s)" % exc.strerror
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    return _mode_problem(info, "file", _GROUP_OTHER_ANY if secret else _GROUP_OTHER_WRITE)


def trusted_directory(root, directory, create=False):
    """True when `directory` (the root or a directory under it) and every directory from the root
    down to it are private; missing ones are created 0700 when `create`."""
    chain = _inside(root, os.path.join(directory, "x"))
    if chain is None or not root_usable(root, create=create):
        return False
    return all(_directory_ready(path, _GROUP_OTHER_ANY, create) for path in chain)


def read_file(root, path, secret=False, max_age=None, now=None):
    """The bytes of `path` (under `root`) when every check passes and the file is younger than
    `max_age` seconds, else None. `secret`: nobody else may even read the file."""
    if not trusted_directory(root, os.path.dirname(path)):
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        warn_untrusted(path, "it is a symbolic link" if os.path.islink(path) else "it cannot be opened (%s)" % exc.strerror)
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            warn_untrusted(path, "it is not a regular file")
            return None
        problem = _mode_problem(info, "file", _GROUP_OTHER_ANY if secret else _GROUP_OTHER_WRITE)
        if problem is not None:
            warn_untrusted(path, problem)
            return None
        if max_age is not None:
            import time
            if (time.time() if now is None else now) - info.st_mtime >= max_age:
                return None
        chunks = []
        while True:
            chunk = os.read(descriptor, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(descriptor)


def write_file(root, path, data):
    """Write `data` (bytes or str) to `path` under `root` atomically, mode 0600; True when written.
    Nothing is written under a root or directory that fails the checks."""
    if not trusted_directory(root, os.path.dirname(path), create=True):
        return False
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = "%s.%d.%s.tmp" % (path, os.getpid(), os.urandom(4).hex())
    try:
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
        finally:
            os.close(descriptor)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


def remove_file(path):
    try:
        os.unlink(path)
    except OSError:
        pass
