"""
PythonConnectionHandler: spec/directives.md §7 (process_connection, server
config of c->base_server, only the first handler runs, PythonPath applied,
return value handed to httpd, errors logged without client output),
python-api.md §1.4 and §6 (conn.readline / conn.write / conn.hlist), and
interpreters.md §3 rule 4 (interpreter named after the base server).

Each handler gets its own `Listen` port and an IP-based <VirtualHost>,
because a connection handler runs before any request (and so any Host
header) is read.
"""

import socket

import pytest

import harness

CONN_PY = r'''
from mod_python import apache

def connectionhandler(conn):
    # directives.md §7, the tested example: header lines until an empty one.
    lines = []
    while True:
        line = conn.readline()
        if line is None or line in (b"\r\n", b"\n"):
            break
        lines.append(line)
    body = ("lines=%d\nfirst=%s\ninterp=%s\nhandler=%s\n"
            % (len(lines), lines[0].decode().strip(), apache.interpreter,
               conn.hlist.handler)).encode()
    conn.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return apache.OK

def broken(conn):
    raise RuntimeError("connection handler blew up")

def not_an_int(conn):
    return "OK"

def declined(conn):
    return apache.DECLINED
'''

CONFIG = r'''
Listen 127.0.0.1:CONN_PORT
Listen 127.0.0.1:NAMED_PORT
Listen 127.0.0.1:PERDIRECTIVE_PORT
Listen 127.0.0.1:BROKEN_PORT
Listen 127.0.0.1:NOTINT_PORT
Listen 127.0.0.1:DECLINED_PORT

<VirtualHost 127.0.0.1:CONN_PORT>
    ServerName conn.test
    PythonPath "sys.path + ['{root}/connlib']"
    PythonConnectionHandler conn_handler conn_handler::broken
</VirtualHost>

<VirtualHost 127.0.0.1:NAMED_PORT>
    ServerName named.test
    PythonPath "sys.path + ['{root}/connlib']"
    PythonInterpreter conn_interp
    PythonConnectionHandler conn_handler
</VirtualHost>

<VirtualHost 127.0.0.1:PERDIRECTIVE_PORT>
    ServerName perdirective.test
    PythonPath "sys.path + ['{root}/connlib']"
    PythonInterpPerDirective On
    PythonConnectionHandler conn_handler
</VirtualHost>

<VirtualHost 127.0.0.1:BROKEN_PORT>
    ServerName broken.test
    PythonPath "sys.path + ['{root}/connlib']"
    PythonConnectionHandler conn_handler::broken
</VirtualHost>

<VirtualHost 127.0.0.1:NOTINT_PORT>
    ServerName notint.test
    PythonPath "sys.path + ['{root}/connlib']"
    PythonConnectionHandler conn_handler::not_an_int
</VirtualHost>

<VirtualHost 127.0.0.1:DECLINED_PORT>
    ServerName declined.test
    PythonPath "sys.path + ['{root}/connlib']"
    PythonConnectionHandler conn_handler::declined
</VirtualHost>
'''
FILES = {
    # Not on PYTHONPATH: found only through the vhost's PythonPath.
    "connlib/conn_handler.py": CONN_PY,
    "htdocs/hello.txt": "plain http\n",
}

HANDLER_PORTS = ("CONN", "NAMED", "PERDIRECTIVE", "BROKEN", "NOTINT", "DECLINED")

REQUEST = b"GET / HTTP/1.0\r\nHost: whatever\r\nX-One: 1\r\nX-Two: 2\r\n\r\n"


@pytest.fixture(scope="module")
def server(start_apache, mpm):
    # Fresh ports per server: the servers of both MPMs run at the same time.
    ports = {name: harness.free_port() for name in HANDLER_PORTS}
    config = CONFIG
    for name, port in ports.items():
        config = config.replace("%s_PORT" % name, str(port))
    server = start_apache(config, FILES, mpm=mpm)
    server.handler_ports = ports
    return server


def exchange(port, data, timeout=20):
    """Sends `data` on a fresh connection; returns everything received
    until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def response_body(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], dict(
        line.split("=", 1) for line in body.decode().splitlines())


def test_handler_reads_lines_and_writes_a_hand_made_response(server):
    status_line, facts = response_body(exchange(server.handler_ports["CONN"], REQUEST))
    assert status_line == b"HTTP/1.0 200 OK"
    assert facts["lines"] == "4"
    assert facts["first"] == "GET / HTTP/1.0"


def test_only_the_first_handler_of_the_list_runs(server):
    mark = server.log_mark()
    _, facts = response_body(exchange(server.handler_ports["CONN"], REQUEST))
    assert facts["handler"] == "conn_handler"
    assert "connection handler blew up" not in server.error_log(mark)


def test_interpreter_is_named_after_the_base_server(server):
    _, facts = response_body(exchange(server.handler_ports["CONN"], REQUEST))
    assert facts["interp"] == "conn.test"


def test_python_interpreter_of_the_base_server_is_used(server):
    _, facts = response_body(exchange(server.handler_ports["NAMED"], REQUEST))
    assert facts["interp"] == "conn_interp"


def test_per_directive_without_a_directory_is_the_main_interpreter(server):
    _, facts = response_body(exchange(server.handler_ports["PERDIRECTIVE"], REQUEST))
    assert facts["interp"] == "main_interpreter"


def test_servers_without_a_connection_handler_speak_http(server):
    status, _, body = server.get("/hello.txt")
    assert status == 200
    assert body == "plain http\n"


def test_declined_lets_httpd_process_the_connection(server):
    raw = exchange(server.handler_ports["DECLINED"], b"GET /hello.txt HTTP/1.0\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert raw.endswith(b"plain http\n")


def test_exception_is_logged_and_nothing_is_sent(server):
    mark = server.log_mark()
    assert exchange(server.handler_ports["BROKEN"], REQUEST) == b""
    server.wait_for_log(r"ConnectionHandler conn_handler::broken: RuntimeError: "
                        r"connection handler blew up", since=mark)
    assert server.crash_lines(mark) == []


def test_non_int_result_is_an_error(server):
    mark = server.log_mark()
    assert exchange(server.handler_ports["NOTINT"], REQUEST) == b""
    server.wait_for_log(r"ConnectionHandler conn_handler::not_an_int: AssertionError", since=mark)
    assert server.crash_lines(mark) == []
