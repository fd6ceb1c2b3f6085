"""A local imitation of AT's series web service (SeriesWS), as a real HTTP server.

For development and end-to-end tests: it speaks AT's SOAP envelopes (``soap``), checks AT's
WS-Security UsernameToken with its own RSA key (``wss``), and applies AT's rules and state
machine to series kept in memory, per taxpayer (NIF). Failures that are hard to get from the
real service (timeouts, dropped connections, technical errors, proxy pages) can be switched
on at runtime, per document type.

Three layers, one module each:

- ``service``: ``FakeAT``, the service's state and rules, no HTTP
  (``handle(body) -> (status, body)``).
- ``http``: ``FakeATServer`` / ``start_in_thread``: the HTTP server, with JSON control endpoints
  under ``/_fake/``; ``server_tls_context`` for HTTPS.
- ``keys``: ``load_or_create_key``, the service's RSA key kept in a file.

The ``invx fake-at`` command that serves it is ``invx.commands.fake_at``.

It is plain HTTP unless given a server certificate; then HTTPS, with mutual TLS if given the
CA its clients' certificates must come from, to rehearse AT's TLS set-up locally. Its codes
were never issued by AT.
"""
from .http import FakeATServer, server_tls_context, start_in_thread
from .keys import load_or_create_key
from .rules import (
    DEFAULT_USERS,
    AuthenticationFailure,
    ConnectionDropped,
    Refusal,
    check_registration,
    parse_behaviour,
)
from .service import FakeAT, generate_key

__all__ = ["DEFAULT_USERS", "AuthenticationFailure", "ConnectionDropped", "FakeAT",
           "FakeATServer", "Refusal", "check_registration",
           "generate_key", "load_or_create_key", "parse_behaviour", "server_tls_context",
           "start_in_thread"]
