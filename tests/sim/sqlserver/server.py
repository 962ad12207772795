"""asyncio TDS 7.4 server: one listening socket per SQL Server instance.

Connection life ([MS-TDS] 3.3.5): PRELOGIN → (TLS 1.2 handshake carried in PRELOGIN packets) →
LOGIN7 (encrypted; with ENCRYPT_OFF only the login is) → LOGINACK → SQL batches / RPCs /
attention.  TLS runs on ssl.MemoryBIO so the server decides which bytes are wrapped in TDS packets.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import struct

from . import errors as E
from . import tds

log = logging.getLogger("sim.sqlserver.tds")


class ConnectionDropped(Exception):
    """Close the connection; `partial` response bytes (a TDS message cut short) go out first."""

    def __init__(self, partial=b""):
        super().__init__("connection dropped")
        self.partial = partial


class FatalError(Exception):
    """An error of severity 20 or more: SQL Server sends it and then closes the connection."""

    def __init__(self, tokens: bytes):
        super().__init__("fatal error")
        self.tokens = tokens


class LoginFailed(Exception):
    def __init__(self, number, state, text, klass=14):
        super().__init__(text)
        self.number, self.state, self.text, self.klass = number, state, text, klass


class _Wire:
    """Byte transport that can switch TLS on and off under the TDS framing."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.tls = None
        self.inbio = self.outbio = None
        self.buf = bytearray()

    async def _fill(self):
        data = await self.reader.read(65536)
        if not data:
            raise ConnectionDropped()
        if self.tls is None:
            self.buf += data
        else:
            self.inbio.write(data)
            while True:
                try:
                    chunk = self.tls.read(65536)
                except ssl.SSLWantReadError:
                    break
                if not chunk:
                    raise ConnectionDropped()
                self.buf += chunk

    async def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            await self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def read_message(self) -> tuple[int, bytes]:
        payload = bytearray()
        while True:
            head = await self.read_exact(8)
            ptype, status, length = struct.unpack(">BBH", head[:4])
            if length < 8:
                raise tds.ProtocolError("bad packet length")
            payload += await self.read_exact(length - 8)
            if status & tds.STATUS_EOM:
                return ptype, bytes(payload)

    def has_buffered(self) -> bool:
        return bool(self.buf)

    def send(self, data: bytes):
        if self.tls is None:
            self.writer.write(data)
        else:
            self.tls.write(data)
            self.writer.write(self.outbio.read())

    async def drain(self):
        await self.writer.drain()

    async def handshake(self, context: ssl.SSLContext, packet_size: int = 4096):
        """TLS handshake whose records travel inside PRELOGIN packets (MS-TDS 3.2.5.2)."""
        self.inbio, self.outbio = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = context.wrap_bio(self.inbio, self.outbio, server_side=True)
        while True:
            try:
                obj.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            out = self.outbio.read()
            if out:
                self.writer.write(tds.split_packets(tds.PKT_PRELOGIN, out, packet_size))
                await self.writer.drain()
            if done:
                break
            ptype, payload = await self.read_message()
            if ptype != tds.PKT_PRELOGIN:
                raise tds.ProtocolError("expected TLS handshake in PRELOGIN packet")
            self.inbio.write(payload)
        self.tls = obj

    def tls_off(self):
        self.tls = None


class TdsListener:
    """One listening port serving one instance (see instance.Instance for the engine side)."""

    def __init__(self, instance, ssl_context: ssl.SSLContext | None):
        self.instance = instance
        self.ssl_context = ssl_context
        self.server = None
        self.port = None
        self.connections = set()

    async def start(self, host="127.0.0.1"):
        self.server = await asyncio.start_server(self._serve, host, 0, backlog=64)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self):
        if self.server:
            self.server.close()
            for w in list(self.connections):
                w.close()
            await self.server.wait_closed()

    def drop_all(self):
        for w in list(self.connections):
            w.close()

    async def _serve(self, reader, writer):
        self.connections.add(writer)
        conn = _Connection(self, reader, writer)
        try:
            await conn.run()
        except (ConnectionDropped, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError,
                tds.ProtocolError) as exc:
            log.debug("connection ended: %r", exc)
        except asyncio.CancelledError:
            pass
        except Exception:  # pragma: no cover - keep the server alive, but say why
            log.exception("TDS connection failed")
        finally:
            self.connections.discard(writer)
            if conn.session is not None:
                self.instance.logout(conn.session)
            try:
                writer.close()
            except Exception:
                pass


class _Connection:
    def __init__(self, listener: TdsListener, reader, writer):
        self.listener = listener
        self.instance = listener.instance
        self.wire = _Wire(reader, writer)
        self.writer = writer
        self.packet_size = 4096
        self.session = None
        self.running: asyncio.Task | None = None
        self.attention = asyncio.Event()

    def send_tokens(self, payload: bytes):
        self.wire.send(tds.split_packets(tds.PKT_RESPONSE, payload, self.packet_size,
                                         self.session.spid if self.session else 0))

    async def run(self):
        ptype, payload = await self.wire.read_message()
        if ptype != tds.PKT_PRELOGIN:
            raise tds.ProtocolError("expected PRELOGIN")
        client = tds.parse_prelogin(payload)
        client_enc = client.get(tds.PL_ENCRYPTION, bytes([tds.ENCRYPT_NOT_SUP]))[0]
        if self.listener.ssl_context is None or client_enc == tds.ENCRYPT_NOT_SUP:
            enc = tds.ENCRYPT_NOT_SUP
        elif client_enc == tds.ENCRYPT_OFF:
            enc = tds.ENCRYPT_OFF  # login-only encryption, as SQL Server with a certificate does
        else:
            enc = tds.ENCRYPT_ON
        major, minor, build = self.instance.version_tuple
        opts = [(tds.PL_VERSION, struct.pack(">BBHH", major, minor, build, 0)),
                (tds.PL_ENCRYPTION, bytes([enc])),
                (tds.PL_INSTOPT, b"\x00"),
                (tds.PL_THREADID, b""),
                (tds.PL_MARS, b"\x00")]
        if tds.PL_FEDAUTHREQUIRED in client:
            opts.append((tds.PL_FEDAUTHREQUIRED, b"\x01"))
        self.wire.send(tds.split_packets(tds.PKT_RESPONSE, tds.build_prelogin(opts), 4096))
        await self.wire.drain()
        if enc in (tds.ENCRYPT_ON, tds.ENCRYPT_OFF):
            await self.wire.handshake(self.listener.ssl_context)
        ptype, payload = await self.wire.read_message()
        if ptype != tds.PKT_LOGIN7:
            raise tds.ProtocolError("expected LOGIN7")
        if enc == tds.ENCRYPT_OFF:
            self.wire.tls_off()
        await self._login(tds.parse_login7(payload))
        if self.session is None:
            return
        reader_task = asyncio.ensure_future(self._read_requests())
        try:
            await reader_task
        finally:
            if self.running and not self.running.done():
                self.running.cancel()

    async def _login(self, login: dict):
        inst = self.instance
        self.packet_size = max(512, min(login["packet_size"] or 4096, 32767))
        try:
            self.session = inst.login(login)
        except LoginFailed as exc:
            self.send_tokens(tds.tok_message(tds.TOK_ERROR, exc.number, exc.state, exc.klass, exc.text,
                                             inst.server_name, "", 1)
                             + tds.tok_done(tds.TOK_DONE, tds.DONE_ERROR))
            await self.wire.drain()
            return
        except Exception as exc:  # the watchdog, for LOGIN7: the client sees why instead of a closed socket
            log.exception("LOGIN7 failed inside the world")
            inst.record_internal_error(None, "LOGIN7", exc)
            number, klass, state, message = E.internal_error(exc)
            self.session = None
            self.send_tokens(tds.tok_message(tds.TOK_ERROR, number, state, klass, message, inst.server_name, "", 1)
                             + tds.tok_done(tds.TOK_DONE, tds.DONE_ERROR))
            await self.wire.drain()
            return
        s = self.session
        out = bytearray()
        out += tds.tok_envchange(1, s.database, "master")
        out += tds.tok_message(tds.TOK_INFO, 5701, 2, 0, f"Changed database context to '{s.database}'.",
                               inst.server_name)
        out += tds.tok_envchange_collation()
        out += tds.tok_envchange(2, "us_english", "")
        out += tds.tok_message(tds.TOK_INFO, 5703, 1, 0, "Changed language setting to us_english.",
                               inst.server_name)
        out += tds.tok_loginack("Microsoft SQL Server", inst.version_tuple)
        out += tds.tok_envchange(4, str(self.packet_size), str(self.packet_size))
        if tds.FEATURE_FEDAUTH in login["features"]:
            out += tds.tok_featureextack({tds.FEATURE_FEDAUTH: b""})
        out += tds.tok_done(tds.TOK_DONE, 0)
        self.send_tokens(bytes(out))
        await self.wire.drain()

    async def _read_requests(self):
        while True:
            ptype, payload = await self.wire.read_message()
            if ptype == tds.PKT_ATTENTION:
                if self.running and not self.running.done():
                    self.attention.set()
                    self.running.cancel()
                    try:
                        await self.running
                    except (asyncio.CancelledError, Exception):
                        pass
                self.send_tokens(tds.tok_done(tds.TOK_DONE, tds.DONE_ATTN))
                await self.wire.drain()
                continue
            if self.running and not self.running.done():
                await asyncio.wait({self.running})
            self.attention.clear()
            self.running = asyncio.ensure_future(self._execute(ptype, payload))
            # Let the request run while we keep reading (attention may arrive).
            await asyncio.sleep(0)

    async def _execute(self, ptype: int, payload: bytes):
        try:
            if ptype == tds.PKT_SQL_BATCH:
                text = tds.strip_all_headers(payload).decode("utf-16-le")
                out = await self.instance.run_batch(self.session, text)
            elif ptype == tds.PKT_RPC:
                out = await self.instance.run_rpc(self.session, tds.parse_rpc(payload))
            elif ptype == tds.PKT_TRANSACTION:
                out = await self.instance.run_transaction_request(self.session, payload)
            else:
                raise tds.ProtocolError(f"unexpected packet type {ptype}")
        except ConnectionDropped as drop:
            if drop.partial:
                self.wire.send(tds.split_packets(tds.PKT_RESPONSE, drop.partial, self.packet_size)[:-7])
                await self.wire.drain()
            self.writer.close()
            return
        except FatalError as fatal:
            self.send_tokens(fatal.tokens)
            await self.wire.drain()
            self.writer.close()
            return
        except asyncio.CancelledError:
            raise
        except tds.ProtocolError as exc:
            out = self.instance.protocol_error_tokens(str(exc))
        except Exception as exc:  # the watchdog: a fault of the world still gets an answer, and a log line
            out = self._internal_error(ptype, payload, exc)
        if not self.attention.is_set():
            self.send_tokens(out)
            await self.wire.drain()

    def _internal_error(self, ptype: int, payload: bytes, exc: Exception) -> bytes:
        """ERROR + DONE(error) for a request the world failed to answer; the traceback goes to the log
        (sim.log under simctl) and the request log gets a `tds` entry with status INTERNAL_ERROR."""
        log.exception("TDS request (packet type %#x) failed inside the world", ptype)
        text = ""
        try:
            if ptype == tds.PKT_SQL_BATCH:
                text = tds.strip_all_headers(payload).decode("utf-16-le", "replace")
        except Exception:  # the request itself may be what failed to decode
            text = ""
        number, klass, state, message = E.internal_error(exc)
        self.instance.record_internal_error(self.session, text or f"packet type {ptype:#x}", exc)
        return (tds.tok_message(tds.TOK_ERROR, number, state, klass, message, self.instance.server_name, "", 1)
                + tds.tok_done(tds.TOK_DONE, tds.DONE_ERROR))


def make_ssl_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # SQL Server 2022 negotiates TLS 1.2 inside TDS
    ctx.load_cert_chain(certfile, keyfile)
    return ctx
