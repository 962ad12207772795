# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A CA bundle as an OpenSSL hashed directory, so a task loads one trust anchor instead of all.

Loading a CA bundle file into an SSL context parses every certificate in it: 25-40 ms for certifi's
~120 certificates, in every task, because Ansible starts a new process per task. OpenSSL reads a
hashed directory (``capath``) lazily instead: during the handshake it opens only the file named by
the hash of the issuer it needs (``<subject hash>.0``; what ``openssl rehash`` writes).

The directory holds exactly the certificates of the user's bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE or
certifi), so it trusts nothing the bundle does not. It lives in our private cache directory (0700),
named by the SHA-256 digest of the bundle's content, and is built once per bundle content, in a
temporary directory renamed into place. When it cannot be built, or a handshake fails verification
with it, the transport falls back to the bundle file (transport.py): a wrong hash costs time, never trust.

The subject hash is OpenSSL's X509_NAME_hash: the first four bytes, little-endian, of the SHA-1 of the
name's canonical encoding (crypto/x509/x_name.c, x509_name_canon / asn1_string_canon): every string
value as UTF8String, ASCII lower-cased, leading and trailing white space removed and inner runs of
white space collapsed to one space; the RDN SETs concatenated without the outer SEQUENCE.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings

from ansible_collections.sqlvm.backup.plugins.module_utils.common.private_files import trusted_directory

_PREFIX = "ca-"
# DER tags of the string types OpenSSL canonicalises (ASN1_MASK_CANON) and how to decode them.
_STRING_TAGS = {0x0C: "utf-8", 0x13: "latin-1", 0x14: "latin-1", 0x16: "latin-1", 0x1A: "latin-1",
                0x1E: "utf-16-be", 0x1C: "utf-32-be"}
_UTF8_STRING, _SEQUENCE, _SET = 0x0C, 0x30, 0x31
_SPACE = " \t\n\v\f\r"


def _read_tlv(data, offset):
    """(tag, value bytes, next offset) of the DER element at `offset`."""
    tag = data[offset]
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    return tag, data[offset:offset + length], offset + length


def _tlv(tag, value):
    length = len(value)
    if length < 0x80:
        return bytes((tag, length)) + value
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(encoded))) + encoded + value


def _canonical_text(text):
    text = text.strip(_SPACE)
    out, in_space = [], False
    for char in text:
        if char in _SPACE:
            if not in_space:
                out.append(" ")
            in_space = True
            continue
        in_space = False
        out.append(char.lower() if char.isascii() else char)
    return "".join(out)


def canonical_name(name_der):
    """OpenSSL's canonical encoding of a DER Name (x509_name_canon)."""
    tag, rdns, _end = _read_tlv(name_der, 0)
    if tag != _SEQUENCE:
        raise ValueError("not a DER Name")
    sets, offset = [], 0
    while offset < len(rdns):
        tag, rdn, offset = _read_tlv(rdns, offset)
        entries, inner = [], 0
        while inner < len(rdn):
            _tag, attribute, inner = _read_tlv(rdn, inner)
            oid_tag, oid, value_offset = _read_tlv(attribute, 0)
            value_tag, value, _after = _read_tlv(attribute, value_offset)
            encoding = _STRING_TAGS.get(value_tag)
            if encoding is not None:
                value_tlv = _tlv(_UTF8_STRING, _canonical_text(value.decode(encoding)).encode("utf-8"))
            else:
                value_tlv = attribute[value_offset:_after]
            entries.append(_tlv(_SEQUENCE, _tlv(oid_tag, oid) + value_tlv))
        sets.append(_tlv(_SET, b"".join(sorted(entries))))
    return b"".join(sets)


def subject_hash(name_der):
    """OpenSSL's X509_NAME_hash of a DER Name, as `openssl x509 -subject_hash` prints it."""
    digest = hashlib.sha1(canonical_name(name_der)).digest()  # nosec - OpenSSL's file naming, not security
    return "%08x" % int.from_bytes(digest[:4], "little")


def hashed_directory(bundle_path, cache_dir):
    """The hashed directory of `bundle_path` under `cache_dir` (built on first use), or None."""
    try:
        with open(bundle_path, "rb") as handle:
            content = handle.read()
    except OSError:
        return None
    directory = os.path.join(cache_dir, _PREFIX + hashlib.sha256(content).hexdigest()[:32])
    # The cache root is the parent of `cache_dir` (``.../sqlvm.backup/ca``); OpenSSL opens the files,
    # so the directory and each file in it must pass the checks here.
    root = os.path.dirname(os.path.abspath(cache_dir))
    if os.path.lexists(directory):
        return directory if _trusted_certificates(root, directory) else None
    if not trusted_directory(root, cache_dir, create=True):
        return None
    try:
        return _build(content, directory, root)
    except (OSError, ValueError, ImportError):
        return None


def _trusted_certificates(root, directory):
    """True when the hashed directory is private and holds only private regular files of ours."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.common.private_files import file_problem, warn_untrusted
    if not trusted_directory(root, directory):
        return False
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    for name in names:
        path = os.path.join(directory, name)
        problem = file_problem(path)
        if problem is not None:
            warn_untrusted(path, problem)
            return False
    return True


def _build(content, directory, root):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    with warnings.catch_warnings():
        # cryptography warns about old roots with odd serial numbers; OpenSSL accepts them, so do we.
        warnings.simplefilter("ignore")
        certificates = x509.load_pem_x509_certificates(content)
    staging = "%s.%d.tmp" % (directory, os.getpid())
    shutil.rmtree(staging, ignore_errors=True)
    os.mkdir(staging, 0o700)
    try:
        used = {}
        for certificate in certificates:
            name = subject_hash(certificate.subject.public_bytes())
            index = used.get(name, 0)
            used[name] = index + 1
            path = os.path.join(staging, "%s.%d" % (name, index))
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(certificate.public_bytes(Encoding.PEM))
        os.rename(staging, directory)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if _trusted_certificates(root, directory):  # another task built it at the same time
            return directory
        raise
    return directory
