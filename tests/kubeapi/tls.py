"""Certificates and kubeconfigs: what a client needs to reach the server like a cluster.

HTTPS uses a throw-away certificate authority and a server certificate for 127.0.0.1 and
localhost signed by it (EC P-256, generated once per process with `cryptography`); the
kubeconfig names the CA file in `certificate-authority`, so kubectl and the python client
verify the server exactly as they verify a real cluster. Plain HTTP kubeconfigs are written
too. The user always has a bearer token (the server's, or a placeholder the server ignores
when it requires none): with no credentials at all kubectl prompts for a username.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Certificates:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


@functools.lru_cache(maxsize=1)
def certificates() -> Certificates:
    return issue("kubeapi-test-ca", "kube-apiserver", dns=("localhost", "kubernetes", "kubernetes.default"),
                 ips=("127.0.0.1",))


def issue(ca_name: str, server_name: str, *, dns: tuple[str, ...] = (), ips: tuple[str, ...] = (),
          days: int = 30) -> Certificates:
    """A new CA (`ca_name`) and a server certificate it signs for the names `dns` and the addresses `ips`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca = (x509.CertificateBuilder().subject_name(ca_subject).issuer_name(ca_subject)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    names = [x509.DNSName(name) for name in dns] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)]))
            .issuer_name(ca_subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return Certificates(ca.public_bytes(pem), cert.public_bytes(pem), key_pem)


def server_context() -> ssl.SSLContext:
    certs = certificates()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_alpn_protocols(["http/1.1"])
    with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain only reads files
        cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert.write_bytes(certs.cert_pem)
        key.write_bytes(certs.key_pem)
        os.chmod(key, 0o600)
        context.load_cert_chain(cert, key)
    return context


def write_kubeconfig(path: Path, *, url: str, token: str | None, namespace: str = "default",
                     name: str = "kubeapi") -> Path:
    """Write a kubeconfig for `url`; for https the CA goes next to it as `<file>.ca.crt`."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    cluster: dict = {"server": url}
    if url.startswith("https://"):
        ca_file = path.with_name(path.name + ".ca.crt")
        ca_file.write_bytes(certificates().ca_pem)
        cluster["certificate-authority"] = str(ca_file)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        # always a token: with no credentials kubectl prompts for a username over https
        "users": [{"name": name, "user": {"token": token or "kubeapi-test-no-auth"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
        "current-context": name,
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
