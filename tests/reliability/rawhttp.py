"""
rawhttp.py - HTTP at the byte level, for requests no well-behaved client
library would send: raw request bytes out, responses parsed back in order
(several per connection for pipelining). Talks only to 127.0.0.1.
"""

import socket
import time


class RawResponse:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers      # [(name bytes, value bytes)] as sent
        self.body = body            # bytes
        self.raw_head = raw_head    # the status line and headers, bytes

    def header(self, name):
        name = name.lower().encode() if isinstance(name, str) else name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def __repr__(self):
        return "<RawResponse %d %r>" % (self.status, self.body[:200])


def exchange(port, data, shut_write=False, timeout=30.0, read_until_close=True):
    """Sends `data` (bytes) on a new connection; optionally half-closes
    (the client sends nothing more); reads until the server closes or
    `timeout`. Returns the bytes received."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking it all
        if shut_write:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not read_until_close:
                break
        return b"".join(chunks)


def parse_responses(data, head_only_statuses=(100, 101, 204, 304)):
    """Splits `data` into RawResponses (Content-Length or chunked bodies,
    else the rest of the data). Interim 1xx responses are skipped."""
    responses = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end]
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            break
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else b""
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name.strip(), value.strip()))
        pos = end + 4
        if status in head_only_statuses or 100 <= status < 200:
            if 100 <= status < 200:
                continue
            body = b""
        else:
            hdr = {k.lower(): v for k, v in headers}
            if hdr.get(b"transfer-encoding", b"").lower() == b"chunked":
                body, pos = _dechunk(data, pos)
            elif b"content-length" in hdr:
                n = int(hdr[b"content-length"])
                body = data[pos:pos + n]
                pos += n
            else:
                body = data[pos:]
                pos = len(data)
        responses.append(RawResponse(status, reason, headers, body, head))
    return responses


def _dechunk(data, pos):
    body = []
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return b"".join(body), len(data)
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            end = data.find(b"\r\n\r\n", pos - 2)
            return b"".join(body), (end + 4 if end >= 0 else len(data))
        body.append(data[pos:pos + size])
        pos += size + 2


def request(port, data, **kw):
    """exchange() + parse_responses(); returns the list of responses."""
    return parse_responses(exchange(port, data, **kw))
