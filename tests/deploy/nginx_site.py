"""The nginx site of deploy/, run by a real nginx on 127.0.0.1 for the tests: its ports,
certificate, logs and upstream moved into a temporary folder, nothing else changed."""
import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..support.live import free_port
from .files import NGINX_SITE

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)),
    None)


def self_signed(folder):
    """A throwaway certificate for invx.example.com, *.invx.example.com and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "invx.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("invx.example.com"), x509.DNSName("*.invx.example.com"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _replace(text, old, new, count):
    """``text`` with ``old`` replaced, which must occur ``count`` times: a changed site
    fails here, rather than being tested half-moved."""
    assert text.count(old) == count, f"the site no longer has {count} x {old!r}"
    return text.replace(old, new)


class Nginx:
    """nginx serving the site on 127.0.0.1 (http_port, https_port), in front of
    ``upstream_port``, logging into ``folder``."""

    def __init__(self, folder, upstream_port=8000):
        self.folder = folder
        self.http_port, self.https_port = free_port(), free_port()
        self.access_log, self.error_log = folder / "access.log", folder / "error.log"
        self.cert, key = self_signed(folder)
        site = NGINX_SITE.read_text()
        for old, new, count in [
            ("/etc/letsencrypt/live/invx.example.com/fullchain.pem", self.cert, 1),
            ("/etc/letsencrypt/live/invx.example.com/privkey.pem", key, 1),
            ("/var/log/nginx/invx.access.log", self.access_log, 2),
            ("/var/log/nginx/invx.error.log", self.error_log, 2),
            ("/var/www/letsencrypt", folder, 1),
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};", 1),
            ("listen 80;", f"listen 127.0.0.1:{self.http_port};", 1),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{self.https_port} ssl http2;", 1),
            ("listen [::]:80;", "", 1),
            ("listen [::]:443 ssl http2;", "", 1),
        ]:
            site = _replace(site, old, str(new), count)
        (folder / "site.conf").write_text(site)
        # Workers as root only because the folder is root's (pytest's 0700 temporary one).
        user = "user root;\n" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {folder}/nginx.pid;\n"
            f"error_log {folder}/main-error.log warn;\nevents {{ worker_connections 64; }}\n"
            f"http {{\n  client_body_temp_path {folder}/body;\n"
            f"  proxy_temp_path {folder}/proxy;\n  include {folder}/site.conf;\n}}\n")
        self.process = None

    def command(self, *options):
        return [NGINX, "-e", str(self.folder / "main-error.log"), "-p", str(self.folder),
                "-c", str(self.folder / "nginx.conf"), *options]

    def check(self):
        """``nginx -t``: the configuration's text, its TLS files and its logs."""
        return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)

    def start(self, timeout=20):
        self._stderr = open(self.folder / "stderr.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                        stderr=self._stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.folder / 'stderr.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start in time")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self._stderr.close()

    def logs(self):
        """Both logs' text, whatever nginx has written of them."""
        return "".join(path.read_text() for path in (self.access_log, self.error_log)
                       if path.exists())

    @property
    def url(self):
        return f"https://127.0.0.1:{self.https_port}"
