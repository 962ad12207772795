"""TDS 7.4 wire encoding: packets, PRELOGIN, LOGIN7, RPC parameters and response tokens.

Everything here follows [MS-TDS] (learn.microsoft.com/openspecs/windows_protocols/ms-tds):
2.2.3.1 packet header, 2.2.6.5 PRELOGIN, 2.2.6.4 LOGIN7 (+ 2.2.6.4 FeatureExt / FEDAUTH),
2.2.6.6 RPC request, 2.2.5 data types, 2.2.7 tokens.  Pure functions, no I/O.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import struct
import uuid

# Packet types (2.2.3.1.1)
PKT_SQL_BATCH = 0x01
PKT_RPC = 0x03
PKT_RESPONSE = 0x04
PKT_ATTENTION = 0x06
PKT_TRANSACTION = 0x0E
PKT_LOGIN7 = 0x10
PKT_PRELOGIN = 0x12

STATUS_EOM = 0x01

# PRELOGIN option tokens (2.2.6.5)
PL_VERSION, PL_ENCRYPTION, PL_INSTOPT, PL_THREADID, PL_MARS, PL_TRACEID, PL_FEDAUTHREQUIRED, PL_NONCE = range(8)
PL_TERMINATOR = 0xFF
ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_NOT_SUP, ENCRYPT_REQ = 0, 1, 2, 3

# Tokens (2.2.7)
TOK_ALTMETADATA = 0x88
TOK_COLMETADATA = 0x81
TOK_ERROR = 0xAA
TOK_INFO = 0xAB
TOK_RETURNVALUE = 0xAC
TOK_LOGINACK = 0xAD
TOK_FEATUREEXTACK = 0xAE
TOK_ROW = 0xD1
TOK_ENVCHANGE = 0xE3
TOK_RETURNSTATUS = 0x79
TOK_DONE = 0xFD
TOK_DONEPROC = 0xFE
TOK_DONEINPROC = 0xFF

DONE_FINAL = 0x00
DONE_MORE = 0x01
DONE_ERROR = 0x02
DONE_COUNT = 0x10
DONE_ATTN = 0x20
DONE_SRVERROR = 0x100

FEATURE_FEDAUTH = 0x02
FEATURE_TERMINATOR = 0xFF
FEDAUTH_LIB_SECURITYTOKEN = 0x01

# SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, flags IgnoreCase|IgnoreKana|IgnoreWidth, SortId 52
COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])

# Type codes (2.2.5.4)
T_NULL = 0x1F
T_INT1, T_BIT, T_INT2, T_INT4, T_DATETIM4, T_FLT4, T_MONEY, T_DATETIME, T_FLT8 = (
    0x30, 0x32, 0x34, 0x38, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E)
T_MONEY4, T_INT8 = 0x7A, 0x7F
T_GUID, T_INTN, T_DECIMAL, T_NUMERIC, T_BITN, T_DECIMALN, T_NUMERICN = 0x24, 0x26, 0x37, 0x3F, 0x68, 0x6A, 0x6C
T_FLTN, T_MONEYN, T_DATETIMN = 0x6D, 0x6E, 0x6F
T_DATEN, T_TIMEN, T_DATETIME2N, T_DATETIMEOFFSETN = 0x28, 0x29, 0x2A, 0x2B
T_BIGVARBIN, T_BIGVARCHR, T_BIGBINARY, T_BIGCHAR, T_NVARCHAR, T_NCHAR = 0xA5, 0xA7, 0xAD, 0xAF, 0xE7, 0xEF
T_XML, T_UDT, T_TEXT, T_IMAGE, T_NTEXT, T_SSVARIANT = 0xF1, 0xF0, 0x23, 0x22, 0x63, 0x62

FIXED_LEN = {T_INT1: 1, T_BIT: 1, T_INT2: 2, T_INT4: 4, T_DATETIM4: 4, T_FLT4: 4, T_MONEY: 8,
             T_DATETIME: 8, T_FLT8: 8, T_MONEY4: 4, T_INT8: 8, T_NULL: 0}


class ProtocolError(Exception):
    """The client sent something this server cannot parse."""


# ---------------------------------------------------------------- packets

def packet_header(ptype: int, status: int, length: int, packet_id: int, spid: int = 0) -> bytes:
    return struct.pack(">BBHHBB", ptype, status, length, spid, packet_id & 0xFF, 0)


def split_packets(ptype: int, payload: bytes, packet_size: int, spid: int = 0) -> bytes:
    """Frame `payload` as one TDS message of `packet_size`-sized packets."""
    body = max(packet_size - 8, 512)
    out = bytearray()
    if not payload:
        return packet_header(ptype, STATUS_EOM, 8, 1, spid)
    pid = 1
    for off in range(0, len(payload), body):
        chunk = payload[off:off + body]
        last = off + body >= len(payload)
        out += packet_header(ptype, STATUS_EOM if last else 0, len(chunk) + 8, pid, spid)
        out += chunk
        pid += 1
    return bytes(out)


# ---------------------------------------------------------------- PRELOGIN

def parse_prelogin(data: bytes) -> dict:
    opts = {}
    pos = 0
    while pos < len(data) and data[pos] != PL_TERMINATOR:
        token, off, length = struct.unpack_from(">BHH", data, pos)
        opts[token] = data[off:off + length]
        pos += 5
    return opts


def build_prelogin(options: list[tuple[int, bytes]]) -> bytes:
    header_len = 5 * len(options) + 1
    head = bytearray()
    body = bytearray()
    for token, value in options:
        head += struct.pack(">BHH", token, header_len + len(body), len(value))
        body += value
    head.append(PL_TERMINATOR)
    return bytes(head + body)


# ---------------------------------------------------------------- LOGIN7

def decode_password(raw: bytes) -> str:
    """LOGIN7 passwords are UTF-16 with every byte's nibbles swapped then XOR 0xA5 (2.2.6.4)."""
    out = bytes((((b ^ 0xA5) << 4) & 0xF0) | (((b ^ 0xA5) >> 4) & 0x0F) for b in raw)
    return out.decode("utf-16-le")


def parse_login7(data: bytes) -> dict:
    if len(data) < 94:
        raise ProtocolError("LOGIN7 too short")
    (length, tds_version, packet_size, _prog, _pid, _conn, flags1, flags2, type_flags, flags3,
     _tz, _lcid) = struct.unpack_from("<IIIIIIBBBBiI", data, 0)

    def field(off):
        ib, cch = struct.unpack_from("<HH", data, off)
        return data[ib:ib + 2 * cch]

    login = {
        "tds_version": tds_version,
        "packet_size": packet_size,
        "hostname": field(36).decode("utf-16-le"),
        "username": field(40).decode("utf-16-le"),
        "password": decode_password(field(44)),
        "appname": field(48).decode("utf-16-le"),
        "servername": field(52).decode("utf-16-le"),
        "library": field(60).decode("utf-16-le"),
        "language": field(64).decode("utf-16-le"),
        "database": field(68).decode("utf-16-le"),
        "sspi": struct.unpack_from("<H", data, 80)[0] > 0,
        "read_only_intent": bool(type_flags & 0x20),
        "features": {},
    }
    if flags3 & 0x10:  # fExtension: ibExtension points at a DWORD holding the FeatureExt offset
        ib_ext, cb_ext = struct.unpack_from("<HH", data, 56)
        if cb_ext >= 4:
            (fe_off,) = struct.unpack_from("<I", data, ib_ext)
            pos = fe_off
            while pos < len(data) and data[pos] != FEATURE_TERMINATOR:
                fid = data[pos]
                (flen,) = struct.unpack_from("<I", data, pos + 1)
                login["features"][fid] = data[pos + 5:pos + 5 + flen]
                pos += 5 + flen
    return login


def parse_fedauth_feature(data: bytes) -> dict:
    """FEDAUTH FeatureExt data (2.2.6.4): options byte, then for SECURITYTOKEN a length-prefixed token."""
    options = data[0]
    library = options >> 1
    echo = bool(options & 0x01)
    result = {"library": library, "echo": echo, "token": None}
    if library == FEDAUTH_LIB_SECURITYTOKEN:
        (tlen,) = struct.unpack_from("<I", data, 1)
        result["token"] = data[5:5 + tlen].decode("utf-16-le")
    return result


# ---------------------------------------------------------------- request payloads

def strip_all_headers(data: bytes) -> bytes:
    """SQL batch and RPC payloads start with ALL_HEADERS (2.2.5.3) in TDS 7.2+."""
    if len(data) >= 4:
        (total,) = struct.unpack_from("<I", data, 0)
        if 4 <= total <= len(data) and total < 1024:
            # sanity check: header total length covers at least one header (>= 18 bytes) or nothing
            return data[total:]
    return data


class Reader:
    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError("truncated message")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def b_varchar(self):
        n = self.u8()
        return self.take(2 * n).decode("utf-16-le")

    def at_end(self):
        return self.pos >= len(self.data)


def _read_type_info(r: Reader) -> dict:
    t = r.u8()
    info = {"type": t}
    if t in FIXED_LEN:
        info["fixed"] = FIXED_LEN[t]
    elif t in (T_INTN, T_BITN, T_FLTN, T_MONEYN, T_DATETIMN, T_GUID):
        info["len"] = r.u8()
    elif t in (T_DECIMALN, T_NUMERICN, T_DECIMAL, T_NUMERIC):
        info["len"] = r.u8()
        info["precision"] = r.u8()
        info["scale"] = r.u8()
    elif t == T_DATEN:
        pass
    elif t in (T_TIMEN, T_DATETIME2N, T_DATETIMEOFFSETN):
        info["scale"] = r.u8()
    elif t in (T_BIGVARCHR, T_BIGCHAR, T_NVARCHAR, T_NCHAR):
        info["len"] = r.u16()
        info["collation"] = r.take(5)
    elif t in (T_BIGVARBIN, T_BIGBINARY):
        info["len"] = r.u16()
    elif t in (T_TEXT, T_NTEXT):
        info["len"] = r.u32()
        info["collation"] = r.take(5)
    elif t == T_IMAGE:
        info["len"] = r.u32()
    elif t == T_XML:
        if r.u8():
            r.b_varchar()
            r.b_varchar()
            r.take(2 * r.u16())
    else:
        raise ProtocolError(f"unsupported parameter type 0x{t:02x}")
    return info


def _read_plp(r: Reader):
    total = r.u64()
    if total == 0xFFFFFFFFFFFFFFFF:
        return None
    out = bytearray()
    while True:
        n = r.u32()
        if n == 0:
            break
        out += r.take(n)
    return bytes(out)


def _decode_datetime_parts(days: int, ticks300: int) -> _dt.datetime:
    base = _dt.datetime(1900, 1, 1) + _dt.timedelta(days=days)
    return base + _dt.timedelta(milliseconds=round(ticks300 * 10 / 3))


def _decode_time(raw: bytes, scale: int) -> _dt.timedelta:
    v = int.from_bytes(raw, "little")
    return _dt.timedelta(microseconds=v * 10 ** 6 // 10 ** scale)


def _read_value(r: Reader, info: dict):
    t = info["type"]
    if t in FIXED_LEN:
        raw = r.take(info["fixed"])
        return _decode_fixed(t, raw)
    if t in (T_BIGVARCHR, T_BIGCHAR, T_NVARCHAR, T_NCHAR, T_BIGVARBIN, T_BIGBINARY):
        if info["len"] == 0xFFFF:
            raw = _read_plp(r)
        else:
            n = r.u16()
            raw = None if n == 0xFFFF else r.take(n)
        if raw is None:
            return None
        if t in (T_NVARCHAR, T_NCHAR):
            return raw.decode("utf-16-le")
        if t in (T_BIGVARCHR, T_BIGCHAR):
            return raw.decode("cp1252", "replace")
        return raw
    if t in (T_TEXT, T_NTEXT, T_IMAGE):
        # In RPC parameters text/ntext/image values carry a LONGLEN length, no text pointer (2.2.6.6).
        n = r.u32()
        if n == 0xFFFFFFFF:
            return None
        raw = r.take(n)
        if t == T_NTEXT:
            return raw.decode("utf-16-le")
        if t == T_TEXT:
            return raw.decode("cp1252", "replace")
        return raw
    if t == T_XML:
        raw = _read_plp(r)
        return None if raw is None else raw.decode("utf-16-le")
    n = r.u8()
    if n == 0:
        return None
    raw = r.take(n)
    if t == T_INTN:
        return int.from_bytes(raw, "little", signed=n > 1)
    if t == T_BITN:
        return bool(raw[0])
    if t == T_FLTN:
        return struct.unpack("<f" if n == 4 else "<d", raw)[0]
    if t == T_MONEYN:
        return _decode_fixed(T_MONEY if n == 8 else T_MONEY4, raw)
    if t == T_DATETIMN:
        return _decode_fixed(T_DATETIME if n == 8 else T_DATETIM4, raw)
    if t == T_GUID:
        return str(uuid.UUID(bytes_le=raw)).upper()
    if t in (T_DECIMALN, T_NUMERICN, T_DECIMAL, T_NUMERIC):
        sign = 1 if raw[0] else -1
        mag = int.from_bytes(raw[1:], "little")
        return decimal.Decimal(sign * mag).scaleb(-info["scale"])
    if t == T_DATEN:
        return _dt.date(1, 1, 1) + _dt.timedelta(days=int.from_bytes(raw, "little"))
    if t == T_TIMEN:
        return _decode_time(raw, info["scale"])
    if t in (T_DATETIME2N, T_DATETIMEOFFSETN):
        tlen = {0: 3, 1: 3, 2: 3, 3: 4, 4: 4, 5: 5, 6: 5, 7: 5}[info["scale"]]
        td = _decode_time(raw[:tlen], info["scale"])
        d = _dt.date(1, 1, 1) + _dt.timedelta(days=int.from_bytes(raw[tlen:tlen + 3], "little"))
        return _dt.datetime.combine(d, _dt.time()) + td
    raise ProtocolError(f"unsupported value type 0x{t:02x}")


def _decode_fixed(t, raw):
    if t == T_NULL:
        return None
    if t in (T_INT1,):
        return raw[0]
    if t == T_BIT:
        return bool(raw[0])
    if t in (T_INT2, T_INT4, T_INT8):
        return int.from_bytes(raw, "little", signed=True)
    if t == T_FLT4:
        return struct.unpack("<f", raw)[0]
    if t == T_FLT8:
        return struct.unpack("<d", raw)[0]
    if t == T_MONEY:
        hi, lo = struct.unpack("<iI", raw)
        return decimal.Decimal((hi << 32) | lo).scaleb(-4)
    if t == T_MONEY4:
        return decimal.Decimal(struct.unpack("<i", raw)[0]).scaleb(-4)
    if t == T_DATETIME:
        days, ticks = struct.unpack("<iI", raw)
        return _decode_datetime_parts(days, ticks)
    if t == T_DATETIM4:
        days, mins = struct.unpack("<HH", raw)
        return _dt.datetime(1900, 1, 1) + _dt.timedelta(days=days, minutes=mins)
    raise ProtocolError("bad fixed type")


def parse_rpc(data: bytes) -> list[dict]:
    """One or more RPC calls (2.2.6.6). Each: {'proc': name-or-id, 'params': [{'name','value','output','type'}]}."""
    r = Reader(strip_all_headers(data))
    calls = []
    while not r.at_end():
        n = r.u16()
        if n == 0xFFFF:
            proc = r.u16()
        else:
            proc = r.take(2 * n).decode("utf-16-le")
        r.u16()  # option flags
        params = []
        while not r.at_end() and r.data[r.pos] not in (0x80, 0xFF, 0xFE):
            name = r.b_varchar()
            status = r.u8()
            info = _read_type_info(r)
            value = _read_value(r, info)
            params.append({"name": name, "value": value, "output": bool(status & 0x01), "type": info})
        calls.append({"proc": proc, "params": params})
        if not r.at_end():
            r.u8()  # batch separator
    return calls


PROC_IDS = {1: "sp_cursor", 2: "sp_cursoropen", 3: "sp_cursorprepare", 4: "sp_cursorexecute",
            5: "sp_cursorprepexec", 6: "sp_cursorunprepare", 7: "sp_cursorfetch", 8: "sp_cursoroption",
            9: "sp_cursorclose", 10: "sp_executesql", 11: "sp_prepare", 12: "sp_execute",
            13: "sp_prepexec", 14: "sp_prepexecrpc", 15: "sp_unprepare"}


# ---------------------------------------------------------------- response tokens

def us_varchar(s: str) -> bytes:
    b = s.encode("utf-16-le")
    return struct.pack("<H", len(b) // 2) + b


def b_varchar(s: str) -> bytes:
    b = s.encode("utf-16-le")
    return struct.pack("<B", len(b) // 2) + b


def tok_envchange(kind: int, new: str, old: str) -> bytes:
    body = bytes([kind]) + b_varchar(new) + b_varchar(old)
    return struct.pack("<BH", TOK_ENVCHANGE, len(body)) + body


def tok_envchange_collation(collation: bytes = COLLATION) -> bytes:
    body = bytes([7, len(collation)]) + collation + b"\x00"
    return struct.pack("<BH", TOK_ENVCHANGE, len(body)) + body


def tok_message(token: int, number: int, state: int, klass: int, text: str, server: str,
                proc: str = "", line: int = 1) -> bytes:
    body = (struct.pack("<iBB", number, state, klass) + us_varchar(text) + b_varchar(server)
            + b_varchar(proc) + struct.pack("<i", line))
    return struct.pack("<BH", token, len(body)) + body


def tok_loginack(prog: str, version: tuple[int, int, int]) -> bytes:
    major, minor, build = version
    body = (bytes([1]) + bytes([0x74, 0x00, 0x00, 0x04]) + b_varchar(prog)
            + bytes([major, minor, (build >> 8) & 0xFF, build & 0xFF]))
    return struct.pack("<BH", TOK_LOGINACK, len(body)) + body


def tok_featureextack(features: dict[int, bytes]) -> bytes:
    out = bytearray([TOK_FEATUREEXTACK])
    for fid, data in features.items():
        out += struct.pack("<BI", fid, len(data)) + data
    out.append(FEATURE_TERMINATOR)
    return bytes(out)


def tok_done(token: int, status: int, curcmd: int = 0, rowcount: int = 0) -> bytes:
    return struct.pack("<BHHQ", token, status, curcmd, rowcount)


def tok_returnstatus(value: int) -> bytes:
    return struct.pack("<Bi", TOK_RETURNSTATUS, value)


# Column types the engine produces. Each maps to one TDS TYPE_INFO and a value encoder.
class SqlType:
    def __init__(self, name: str, tds: int, size: int = 0, precision: int = 0, scale: int = 0):
        self.name, self.tds, self.size, self.precision, self.scale = name, tds, size, precision, scale

    def type_info(self) -> bytes:
        t = self.tds
        if t in (T_INTN, T_BITN, T_FLTN, T_DATETIMN, T_GUID):
            return bytes([t, self.size])
        if t in (T_NVARCHAR, T_BIGVARCHR):
            return bytes([t]) + struct.pack("<H", self.size) + COLLATION
        if t == T_BIGVARBIN:
            return bytes([t]) + struct.pack("<H", self.size)
        if t == T_DECIMALN:
            return bytes([t, 17, self.precision, self.scale])
        if t == T_SSVARIANT:
            return bytes([t]) + struct.pack("<I", 8016)
        raise ValueError(t)

    def encode(self, v) -> bytes:
        t = self.tds
        if t in (T_NVARCHAR, T_BIGVARCHR, T_BIGVARBIN):
            if v is None:
                return b"\xff\xff"
            if t == T_NVARCHAR:
                raw = str(v).encode("utf-16-le")
            elif t == T_BIGVARCHR:
                raw = str(v).encode("cp1252", "replace")
            else:
                raw = bytes(v)
            raw = raw[:self.size]
            return struct.pack("<H", len(raw)) + raw
        if t == T_SSVARIANT:
            # sql_variant value (2.2.5.5.4): total length, base type, prop bytes, properties, data
            if v is None:
                return b"\x00\x00\x00\x00"
            if isinstance(v, bool) or isinstance(v, int):
                body = bytes([T_INT4, 0]) + int(v).to_bytes(4, "little", signed=True)
            else:
                raw = str(v).encode("utf-16-le")
                body = bytes([T_NVARCHAR, 7]) + COLLATION + struct.pack("<H", 8000) + raw
            return struct.pack("<I", len(body)) + body
        if v is None:
            return b"\x00"
        if t == T_INTN:
            return bytes([self.size]) + int(v).to_bytes(self.size, "little", signed=self.size > 1)
        if t == T_BITN:
            return b"\x01" + (b"\x01" if v else b"\x00")
        if t == T_FLTN:
            return b"\x08" + struct.pack("<d", float(v))
        if t == T_GUID:
            return b"\x10" + uuid.UUID(str(v)).bytes_le
        if t == T_DATETIMN:
            if isinstance(v, _dt.date) and not isinstance(v, _dt.datetime):
                v = _dt.datetime.combine(v, _dt.time())
            delta = v.replace(tzinfo=None) - _dt.datetime(1900, 1, 1)
            days = delta.days
            ticks = round((delta.seconds * 1000 + delta.microseconds / 1000) * 3 / 10)
            return b"\x08" + struct.pack("<iI", days, ticks)
        if t == T_DECIMALN:
            d = decimal.Decimal(v).scaleb(self.scale).to_integral_value()
            return bytes([17, 1 if d >= 0 else 0]) + int(abs(d)).to_bytes(16, "little")
        raise ValueError(t)


def tok_colmetadata(columns: list[tuple[str, SqlType]]) -> bytes:
    out = bytearray(struct.pack("<BH", TOK_COLMETADATA, len(columns)))
    for name, typ in columns:
        out += struct.pack("<IH", 0, 0x0001 | 0x0008)  # nullable, updateable-unknown
        out += typ.type_info()
        out += b_varchar(name)
    return bytes(out)


def tok_row(types: list[SqlType], values) -> bytes:
    out = bytearray([TOK_ROW])
    for typ, v in zip(types, values):
        out += typ.encode(v)
    return bytes(out)


def tok_returnvalue(ordinal: int, name: str, typ: SqlType, value) -> bytes:
    return (struct.pack("<BH", TOK_RETURNVALUE, ordinal) + b_varchar(name) + b"\x01"
            + struct.pack("<IH", 0, 0x0001) + typ.type_info() + typ.encode(value))
