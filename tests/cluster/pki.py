"""Certificates and keys a local control plane needs, generated fresh for every start.

A CA, the API server's serving certificate (127.0.0.1 / localhost / the in-cluster names),
client certificates (an admin and the tests' own helper in `system:masters`, the
controller-manager and the scheduler as their bootstrap-RBAC users), and the service-account signing key pair.
Nothing here is a secret worth keeping: the files live in the cluster's temp dir and go
with it.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=2)

ADMIN = "kubernetes-admin"          # what the product under test uses (the kubeconfig's user)
TEST_SETUP = "test-setup"           # what the tests' own helpers use, so audits can tell them apart
CONTROLLER_MANAGER = "system:kube-controller-manager"
SCHEDULER = "system:kube-scheduler"
# client certificate user -> group (bootstrap RBAC binds the two system users to their roles)
CLIENTS = {ADMIN: "system:masters", TEST_SETUP: "system:masters",
           CONTROLLER_MANAGER: "", SCHEDULER: ""}


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path
    clients: dict  # user name -> (cert path, key path)


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(*, subject: x509.Name, key, issuer: x509.Name, issuer_key, ca: bool,
          usages: list, sans: list | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def generate(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spiderpool-gitops test CA")])
    ca = _cert(subject=ca_name, key=ca_key, issuer=ca_name, issuer_key=ca_key, ca=True, usages=[])

    serving_key = _key()
    sans = [x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default",
                                      "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    serving = _cert(subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
                    key=serving_key, issuer=ca_name, issuer_key=ca_key, ca=False,
                    usages=[ExtendedKeyUsageOID.SERVER_AUTH], sans=sans)

    clients = {}
    for user, group in CLIENTS.items():
        key = _key()
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group)] if group else []
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        clients[user] = (key, _cert(subject=x509.Name(attrs), key=key, issuer=ca_name,
                                    issuer_key=ca_key, ca=False,
                                    usages=[ExtendedKeyUsageOID.CLIENT_AUTH]))

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    files = {
        "ca.crt": ca.public_bytes(serialization.Encoding.PEM), "ca.key": _pem_key(ca_key),
        "apiserver.crt": serving.public_bytes(serialization.Encoding.PEM),
        "apiserver.key": _pem_key(serving_key),
        "sa.key": sa_key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()),
        "sa.pub": sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo),
    }
    for user, (key, cert) in clients.items():
        files[f"{user.replace(':', '_')}.crt"] = cert.public_bytes(serialization.Encoding.PEM)
        files[f"{user.replace(':', '_')}.key"] = _pem_key(key)
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        path.chmod(0o600)
    d = directory
    paths = {u: (d / f"{u.replace(':', '_')}.crt", d / f"{u.replace(':', '_')}.key") for u in CLIENTS}
    return Pki(d / "ca.crt", d / "ca.key", d / "apiserver.crt", d / "apiserver.key",
               *paths[ADMIN], d / "sa.key", d / "sa.pub", paths)
