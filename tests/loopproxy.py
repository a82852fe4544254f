"""A small HTTP proxy on 127.0.0.1 for tests: CONNECT tunnels and plain forwarding.

Forwarded requests are rewritten to origin form and sent with `Connection: close`, one
upstream connection per request, so no response framing has to be understood here. Every
request line it handled is kept in `seen`; `stop()` and `start()` again on the same port
take it down and bring it back, as a real proxy that restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class LoopProxy:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for client in list(self._clients):
                client.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        self.seen.append(f"{method} {target}")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return False
        parts = urlsplit(target)
        headers = [h for h in header_lines if h and not h.lower().startswith(
            ("connection:", "proxy-", "keep-alive:"))]  # fmt: skip
        length = next(
            (int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")),
            0,
        )
        body = await reader.readexactly(length) if length else b""
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        up_writer.write(
            f"{method} {path} {version}\r\n".encode("latin-1")
            + "".join(f"{h}\r\n" for h in headers).encode("latin-1")
            + b"Connection: close\r\n\r\n"
            + body
        )
        await up_writer.drain()
        await _pipe(up_reader, writer, close=False)
        up_writer.close()
        return False  # the upstream closed: close this side too, the client reconnects


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, close: bool = True
) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    if close:
        writer.close()
