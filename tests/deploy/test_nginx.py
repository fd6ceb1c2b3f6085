"""deploy/nginx/invx.conf: no query string in its logs, bodies limited and buffered as invx
limits them, /metrics kept in; checked by nginx -t, and by nginx in front of a live invx
on 127.0.0.1 when nginx is installed."""
import http.client
import json
import re
import ssl

import pytest
import requests

from invx.config import Settings

from .files import nginx_block, nginx_directives, nginx_log_formats
from .nginx_site import NGINX, Nginx

needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed "
                                 "(apt-get install nginx-light to run these tests)")
QUERY_VARIABLES = ("$request ", '$request"', "$request_uri", "$args", "$query_string",
                   "$arg_", "$http_referer", "$request_body")


def test_the_access_log_format_has_the_path_without_its_query_string():
    formats = nginx_log_formats()
    assert set(formats) == {"invx_json"}
    assert '"path":"$uri"' in formats["invx_json"]
    for variable in QUERY_VARIABLES:
        assert variable not in formats["invx_json"] + '"', variable
    # Every access log names that format: one without it is "combined", with $request.
    assert nginx_directives("access_log") == ["/var/log/nginx/invx.access.log invx_json"] * 2
    assert nginx_directives("error_log") == ["/var/log/nginx/invx.error.log crit"] * 2


def test_the_limits_are_invx_s():
    defaults = Settings()
    assert nginx_directives("client_max_body_size") == ["1m"]
    assert defaults.max_body_bytes == 1024 * 1024
    assert nginx_directives("client_body_buffer_size") == ["1m"]  # the body, in memory
    assert nginx_directives("client_body_timeout") == [f"{defaults.body_timeout:g}s"]
    assert nginx_directives("proxy_request_buffering") == ["on"]
    assert nginx_directives("proxy_read_timeout") == ["130s"]  # gunicorn's timeout: 120 s


def test_the_request_id_and_forwarded_headers_are_passed():
    headers = dict(value.split(" ", 1) for value in nginx_directives("proxy_set_header"))
    assert headers["X-Request-ID"] == "$invx_request_id"
    assert headers["Host"] == "$host"
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
    assert headers["X-Forwarded-Proto"] == "$scheme"


def test_plain_http_is_redirected_and_every_account_host_is_served():
    assert nginx_directives("return")[0] == "308 https://$host$request_uri"
    assert nginx_directives("server_name") == ["invx.example.com *.invx.example.com"] * 2
    assert nginx_directives("ssl_protocols") == ["TLSv1.2 TLSv1.3"]


def test_metrics_are_denied_to_all_but_this_host():
    block = nginx_block("location = /metrics")
    assert nginx_directives("deny", block) == ["all"]
    assert nginx_directives("allow", block) == ["127.0.0.1", "::1"]


@pytest.fixture
def nginx_folder(tmp_path):
    folder = tmp_path / "nginx"
    folder.mkdir()
    return folder


@needs_nginx
def test_nginx_accepts_the_site(nginx_folder):
    checked = Nginx(nginx_folder).check()
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


@pytest.fixture
def proxied(live_server, nginx_folder):
    """invx under gunicorn (one worker, accounts named by host) with nginx in front."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light to run this test)")
    server = live_server(workers=1, INVX_ACCOUNT_DOMAIN="invx.example.com")
    proxy = Nginx(nginx_folder, server.port).start()
    yield server, proxy
    proxy.stop()


def _get(proxy, path, **headers):
    return requests.get(proxy.url + path, headers=headers, verify=str(proxy.cert),
                        timeout=10, allow_redirects=False)


def _access_lines(proxy):
    proxy.stop()  # its logs written whole
    return [json.loads(line) for line in proxy.access_log.read_text().splitlines()]


@pytest.mark.live
def test_a_key_in_the_query_string_never_reaches_nginxs_logs(proxied, key):
    server, proxy = proxied
    assert _get(proxy, f"/sequences.json?api_key={key}",
                **{"X-Request-ID": "deploy-check-1"}).status_code == 200
    assert _get(proxy, f"/sequences.json?api_key=wrong{key}").status_code == 401
    plain = requests.get(f"http://127.0.0.1:{proxy.http_port}/sequences.json?api_key={key}",
                         timeout=10, allow_redirects=False)
    assert plain.status_code == 308
    server.stop()  # and when invx is down, nginx's own error is logged
    assert _get(proxy, f"/sequences.json?api_key={key}").status_code == 502

    logs = proxy.logs()
    assert key not in logs and "api_key" not in logs
    lines = _access_lines(proxy)
    assert [(line["path"], line["status"]) for line in lines] == [
        ("/sequences.json", 200), ("/sequences.json", 401), ("/sequences.json", 308),
        ("/sequences.json", 502)]
    assert lines[0]["request_id"] == "deploy-check-1"
    assert re.fullmatch(r"[0-9a-f]{32}", lines[1]["request_id"])  # nginx's own


@pytest.mark.live
def test_the_host_names_the_account_through_nginx(proxied, key):
    _, proxy = proxied
    path = f"/sequences.json?api_key={key}"
    assert _get(proxy, path, Host="acme.invx.example.com").status_code == 200
    assert _get(proxy, path, Host="other.invx.example.com").status_code == 401


@pytest.mark.live
def test_a_body_over_invx_s_limit_is_refused_by_nginx_as_invx_would(proxied):
    _, proxy = proxied
    body = b"{" + b" " * Settings().max_body_bytes + b"}"
    answer = requests.post(proxy.url + "/sequence/v1/series", data=body,
                           verify=str(proxy.cert), timeout=10)
    assert answer.status_code == 413
    assert answer.json() == {"code": "too_large", "message": "The request body is too large."}
    answer = requests.post(proxy.url + "/sequences.json", data=body, verify=str(proxy.cert),
                           timeout=10)
    assert (answer.status_code, answer.content) == (413, b"")
    assert all(line["status"] == 413 for line in _access_lines(proxy))  # invx saw none


def _from(proxy, address, path):
    context = ssl.create_default_context(cafile=str(proxy.cert))
    connection = http.client.HTTPSConnection("127.0.0.1", proxy.https_port, timeout=10,
                                             source_address=(address, 0), context=context)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.live
def test_metrics_are_refused_to_another_address(proxied):
    _, proxy = proxied
    # 127.0.0.2 is this machine too, but not an address the site allows.
    for path in ("/metrics", "//metrics", "/%6Detrics", "/metrics?x=1"):
        assert _from(proxy, "127.0.0.2", path) == 403, path
    assert _from(proxy, "127.0.0.1", "/metrics") != 403
    assert _from(proxy, "127.0.0.2", "/livez") == 200
