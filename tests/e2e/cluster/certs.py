"""Throw-away PKI for one e2e control plane.

Why: kube-apiserver needs a serving certificate, a client CA (the harness,
controller-manager and scheduler authenticate with client certificates so RBAC
sees real users) and a service-account key pair (so ServiceAccount tokens,
the TokenRequest API and the issuer work). Everything is generated fresh per
run with the `cryptography` package; nothing is reused across runs.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# DNS names a pod (or client) may use for the in-cluster API service.
APISERVER_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class CertPair:
    """Paths of a PEM certificate and its PEM private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """All key material a control plane needs, as files in one directory."""

    ca: CertPair
    apiserver: CertPair
    admin: CertPair
    controller_manager: CertPair
    scheduler: CertPair
    sa_private_key: Path
    sa_public_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = _dt.datetime.now(_dt.UTC)
    return builder.not_valid_before(now - _dt.timedelta(minutes=5)).not_valid_after(
        now + _dt.timedelta(days=7)
    )


class _Ca:
    def __init__(self) -> None:
        self.key = _key()
        name = _name("loocv-e2e-ca")
        builder = (
            _validity(x509.CertificateBuilder())
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
        )
        self.cert = builder.sign(self.key, hashes.SHA256())

    def issue(
        self,
        cn: str,
        *,
        orgs: tuple[str, ...] = (),
        server: bool = False,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = _key()
        usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            _validity(x509.CertificateBuilder())
            .subject_name(_name(cn, orgs))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if dns or ips:
            names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
            names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


def _save(
    directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> CertPair:
    pair = CertPair(cert=directory / f"{stem}.crt", key=directory / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair


def generate_pki(directory: Path, service_ip: str, node_ip: str | None = None) -> Pki:
    """Write a CA, the serving/client certificates and the SA key pair into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _Ca()
    ca_pair = _save(directory, "ca", ca.cert, ca.key)

    def issue(
        stem: str,
        cn: str,
        orgs: tuple[str, ...] = (),
        server: bool = False,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
    ) -> CertPair:
        cert, key = ca.issue(cn, orgs=orgs, server=server, dns=dns, ips=ips)
        return _save(directory, stem, cert, key)

    apiserver = issue(
        "apiserver",
        "kube-apiserver",
        server=True,
        dns=APISERVER_DNS_NAMES,
        ips=("127.0.0.1", "::1", service_ip, *([node_ip] if node_ip else [])),
    )
    admin = issue("admin", "kubernetes-admin", orgs=("system:masters",))
    kcm = issue("controller-manager", "system:kube-controller-manager")
    sched = issue("scheduler", "system:kube-scheduler")

    # Service-account tokens are signed with RSA, the kube-apiserver default.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_private = directory / "sa.key"
    sa_public = directory / "sa.pub"
    _write_key(sa_private, sa_key)
    sa_public.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Pki(
        ca=ca_pair,
        apiserver=apiserver,
        admin=admin,
        controller_manager=kcm,
        scheduler=sched,
        sa_private_key=sa_private,
        sa_public_key=sa_public,
    )


def issue_certificate(
    pki: Pki,
    stem: str,
    cn: str,
    orgs: tuple[str, ...] = (),
    server: bool = False,
    ips: tuple[str, ...] = (),
) -> CertPair:
    """One more certificate from the run's CA (the real node's kubelet and kube-proxy)."""
    ca = _Ca.__new__(_Ca)
    ca.cert = x509.load_pem_x509_certificate(pki.ca.cert.read_bytes())
    loaded = serialization.load_pem_private_key(pki.ca.key.read_bytes(), password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    ca.key = loaded
    cert, key = ca.issue(cn, orgs=orgs, server=server, ips=ips)
    return _save(pki.ca.cert.parent, stem, cert, key)
