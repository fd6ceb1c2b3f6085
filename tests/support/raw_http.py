"""HTTP/1.1 written by hand, for the tests of what a careless or hostile client sends."""
import socket
import time
import uuid


def connect(server, timeout=5.0):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def head(method, path, *headers):
    """A request's head: the request line and ``headers`` ("Name: value")."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def read_until_closed(sock, limit=5.0):
    """Everything the server sends until it closes the connection (or ``limit`` seconds)."""
    deadline = time.monotonic() + limit
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:  # closed with our unread body in its buffer
            break
        if not chunk:
            return data, True
        data += chunk
    return data, False


def status_of(answer):
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def body_of(answer):
    return answer.partition(b"\r\n\r\n")[2]


def chunked(body, size=256):
    """``body`` in the chunked transfer coding."""
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def entry_path(series_id=None, entry_id=None):
    return (f"/sequence/v1/series/{series_id or uuid.uuid4()}/entries/"
            f"{entry_id or uuid.uuid4()}")
