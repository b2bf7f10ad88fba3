"""A small TCP fault proxy for the fault tests: the gateway reaches its object store through it,
and the test switches what the proxy does to the connections it relays.

Modes (`FaultProxy.mode`, switched at any time; connections already open keep the mode they were
opened with, except `latency` and `bandwidth`, which act per chunk):

* `pass`: relays bytes both ways.
* `latency`: waits `delay` seconds before relaying each chunk.
* `bandwidth`: relays at most `rate` bytes per second each way.
* `reset`: accepts and closes at once with a TCP reset.
* `hang`: accepts, reads, and never answers.
* `http500`: answers every request itself with `500 Internal Server Error` (a store failing).
"""

from __future__ import annotations

import socket
import struct
import threading
import time


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self.delay = 0.0
        self.rate = 1 << 30
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode: str, *, delay: float = 0.0, rate: int = 1 << 30) -> None:
        """Switches the mode and drops every connection open, so none carries the old one on."""
        self.mode, self.delay, self.rate = mode, delay, rate
        with self._lock:
            for s in list(self._open):
                _close(s)
            self._open.clear()

    def stop(self) -> None:
        self._stopped = True
        _close(self._listener)
        self.set("pass")

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._open.add(s)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(client, self.mode), daemon=True).start()

    def _serve(self, client: socket.socket, mode: str) -> None:
        self._track(client)
        if mode == "reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        if mode == "hang":
            try:
                while client.recv(65536):
                    pass
            except OSError:
                pass
            _close(client)
            return
        if mode == "http500":
            self._answer_500(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            _close(client)
            return
        self._track(upstream)
        threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
        self._pipe(upstream, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                chunk = source.recv(16384 if self.mode != "bandwidth" else max(1, min(16384, self.rate // 10)))
                if not chunk:
                    break
                if self.mode == "latency":
                    time.sleep(self.delay)
                elif self.mode == "bandwidth":
                    time.sleep(len(chunk) / self.rate)
                sink.sendall(chunk)
        except OSError:
            pass
        _close(source)
        _close(sink)

    @staticmethod
    def _answer_500(client: socket.socket) -> None:
        body = b"<Error><Code>InternalError</Code><Message>injected fault</Message></Error>"
        buffer = b""
        try:
            while True:
                chunk = client.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                # One answer per request head; a body sent with it is read and ignored.
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value.strip() or 0)
                    while len(buffer) < length:
                        more = client.recv(65536)
                        if not more:
                            break
                        buffer += more
                    buffer = buffer[length:]
                    client.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\n"
                                   + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        except OSError:
            pass
        _close(client)


def _close(s: socket.socket) -> None:
    """Closes `s`, waking a thread blocked reading it (a bare close would not)."""
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
