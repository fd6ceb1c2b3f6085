"""The fake AT's key file and the `invx fake-at` command."""
import os
import stat
import subprocess

import requests

from invx.tax_authority import soap, wss
from invx.tax_authority.fake_at import (
    load_or_create_key,
)

from ...support.fake_at import (
    PASSWORD,
    USER,
    fake_at_argv,
    registration,
    wait_until_up,
)
from ...support.live import free_port

# --- key file and command ------------------------------------------------------------------


def test_load_or_create_key_creates_a_private_file_then_reuses_it(tmp_path):
    path = tmp_path / "key.pem"
    key = load_or_create_key(path, tmp_path / "public.pem")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = load_or_create_key(path)
    assert again.private_numbers() == key.private_numbers()
    assert wss.load_public_key((tmp_path / "public.pem").read_bytes()).public_numbers() == (
        key.public_key().public_numbers())
    assert (tmp_path / "key.public.pem").exists()


def test_the_command_serves_until_stopped(tmp_path):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INVX_INSTANCE_PATH": str(tmp_path)}
    process = subprocess.Popen([*fake_at_argv(), "--port", str(port), "--quiet"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pem = wait_until_up(process, base_url).content
        assert pem == (tmp_path / "fake-at-public.pem").read_bytes()
        assert stat.S_IMODE(os.stat(tmp_path / "fake-at-key.pem").st_mode) == 0o600
        token = wss.security_token(wss.load_public_key(pem), USER, PASSWORD)
        response = requests.post(f"{base_url}/SeriesWSService", timeout=5,
                                 data=soap.build_request("registarSerie", registration(), token))
        assert soap.parse_response(response.content, "registarSerie")[1] == 2001
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    out = out.decode()
    assert f"{base_url}/SeriesWSService" in out
    assert str(tmp_path / "fake-at-public.pem") in out
    assert USER in out
    assert PASSWORD not in out + err.decode()
