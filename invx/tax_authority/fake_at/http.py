"""The fake AT over HTTP: the SOAP service and JSON control endpoints under ``/_fake/``."""

import json
import socket
import ssl
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from ...json_text import load_json
from .. import soap
from .rules import MAX_BODY_BYTES, SERVICE_PATH, ConnectionDropped, integer
from .service import FakeAT

# HTTP

class _Handler(BaseHTTPRequestHandler):
    """SOAP on POST to any path; JSON control endpoints under /_fake/."""

    protocol_version = "HTTP/1.1"  # keep-alive, as AT's server; every answer has a length
    server_version = "FakeAT"
    timeout = 60  # idle keep-alive connections end, so their threads do too

    def do_POST(self):
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        if path.startswith("/_fake/"):
            return self._control("POST", path, body)
        try:
            status, answer = self.server.fake.handle(body)
        except ConnectionDropped:
            self.close_connection = True  # no status line, nothing: the socket just closes
            self.log_message("%s %s dropped", self.command, path)
            return
        except Exception:  # a bug in the fake must not look like a dropped connection
            traceback.print_exc()
            status, answer = 500, soap.build_fault("S:Server", "Fake AT internal error")
        content_type = "text/html" if status == 502 else "text/xml; charset=utf-8"
        self._send(status, answer, content_type)

    def do_GET(self):
        path = urlsplit(self.path).path
        if path.startswith("/_fake/"):
            return self._control("GET", path, b"")
        self._send(405, b"Method Not Allowed\n", "text/plain", {"Allow": "POST"})

    def _not_allowed(self):
        allow = "GET" if urlsplit(self.path).path.startswith("/_fake/") else "POST"
        self._send(405, b"Method Not Allowed\n", "text/plain", {"Allow": allow})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    # -- control endpoints -------------------------------------------------------------------

    def _control(self, method, path, body):
        endpoints = {
            "/_fake/calls": ("GET", lambda fake: self._send_json(200, fake.calls())),
            "/_fake/series": ("GET", lambda fake: self._send_json(200, fake.series())),
            "/_fake/behaviour": ("GET", lambda fake: self._send_json(200, fake.behaviour())),
            "/_fake/public-key": ("GET", lambda fake: self._send(
                200, fake.public_key_pem.encode("ascii"), "application/x-pem-file")),
            "/_fake/configure": ("POST", lambda fake: self._configure(fake, body)),
            "/_fake/reset": ("POST", lambda fake: self._reset(fake)),
        }
        if path not in endpoints:
            return self._send_json(404, {"error": f"no control endpoint {path}"})
        allowed, run = endpoints[path]
        if method != allowed:
            return self._send(405, b"Method Not Allowed\n", "text/plain", {"Allow": allowed})
        run(self.server.fake)

    def _configure(self, fake, body):
        try:
            behaviour = load_json(body or b"{}")
            if not isinstance(behaviour, dict):
                raise ValueError("expected a JSON object of behaviour keys")
            fake.configure(**behaviour)
        except ValueError as error:  # not JSON (load_json), or not an object
            return self._send_json(400, {"error": str(error)})
        self._send_json(200, fake.behaviour())

    def _reset(self, fake):
        fake.reset()
        self._send_json(200, {"reset": True})

    # -- plumbing ----------------------------------------------------------------------------

    def _read_body(self):
        """The request body, or None after refusing it (and closing: it was not read)."""
        if self.headers.get("Transfer-Encoding"):
            return self._refuse(411, b"Content-Length required (no chunked bodies)\n")
        # No Content-Length and no Transfer-Encoding: no body (RFC 9112, 6.3). ASCII digits
        # only (RFC 9110, 8.6): int() would also take "+1", " 1" or "1_0".
        length = integer(self.headers.get("Content-Length") or "0", 0)
        if length is None:
            return self._refuse(400, b"Bad Content-Length\n")
        if length > MAX_BODY_BYTES:
            return self._refuse(413, b"Request body too large\n")
        return self.rfile.read(length)

    def _refuse(self, status, message):
        # The unread body would otherwise be taken for the next request on this connection.
        self.close_connection = True
        self._send(status, message, "text/plain", {"Connection": "close"})
        return None

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status, payload):
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json")

    def log_request(self, code="-", size="-"):
        # Method, path and status only: bodies hold encrypted passwords and are never logged.
        self.log_message("%s %s %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, format, *args):
        if not self.server.quiet:
            sys.stderr.write("fake-at: " + (format % args) + "\n")


class FakeATServer(ThreadingHTTPServer):
    """The fake AT over HTTP: ``.url``, ``.fake``, ``.public_key_pem``, ``.stop()``.

    With ``tls`` (a server-side ``ssl.SSLContext``, see ``server_tls_context``) it speaks
    HTTPS, as AT does, and asks for a client certificate if the context does.
    """

    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections
    # socketserver listens with a backlog of 5: a client that opens more connections at
    # once (invx registers the eleven types concurrently) had some dropped, and retried
    # by TCP a second later.
    request_queue_size = 128

    def __init__(self, address, fake, quiet=False, tls=None):
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(address, _Handler)
        self.fake, self.quiet, self.tls = fake, quiet, tls
        self.public_key_pem = fake.public_key_pem
        port = self.server_address[1]
        # A wildcard address is reachable through loopback: advertise that.
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
        url_host = f"[{host}]" if ":" in host else host
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{url_host}:{port}{SERVICE_PATH}"
        self.base_url = self.url[: -len(SERVICE_PATH)]
        self._thread = None

    def finish_request(self, request, client_address):
        if not self.tls:
            return super().finish_request(request, client_address)
        # The handshake runs here, in the connection's own thread: a slow or silent client
        # holds up no one else.
        request.settimeout(_Handler.timeout)
        secured = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            secured.do_handshake()
        except OSError as error:  # no client certificate, one from another CA, not TLS...
            if not self.quiet:
                sys.stderr.write(f"fake-at: TLS handshake with {client_address[0]} failed: "
                                 f"{getattr(error, 'reason', None) or error}\n")
            with socket.socket(fileno=secured.detach()) as plain:
                _drain(plain)
            return
        try:
            super().finish_request(secured, client_address)
        finally:
            self.shutdown_request(secured)

    def serve_in_thread(self):
        # A short poll interval: stop() waits for the loop to notice, tests stop it often.
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,),
                                        name="fake-at", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close the listening socket."""
        if self._thread is not None:
            self.shutdown()  # only returns once serve_forever has stopped
            self._thread.join()
            self._thread = None
        self.server_close()


def _drain(sock, seconds=2.0):
    """Read what the client still sends, until it closes. With TLS 1.3 a client sends its
    request before it learns that its certificate was refused; closing on that unread
    request would reset the connection, and the reset would destroy the alert on its way."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def server_tls_context(cert_file, key_file, client_ca_file=None):
    """A server-side TLS context from PEM files; with ``client_ca_file``, clients must show a
    certificate issued by one of its CAs, as AT's clients must show the one AT issued."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(cafile=client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def start_in_thread(host="127.0.0.1", port=0, quiet=True, tls=None, **kwargs):
    """A running fake AT on ``host:port`` (0: any free port); ``kwargs`` go to ``FakeAT``."""
    return FakeATServer((host, port), FakeAT(**kwargs), quiet=quiet, tls=tls).serve_in_thread()


