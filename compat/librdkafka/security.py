"""The secured brokers librdkafka's SSL, SASL and ACL tests need, as its trivup clusters set them up.

Each set-up gives the broker's flags (listener, certificates, mechanisms, authorizer), the users made
offline before it starts, the lines test.conf adds for the client (security.protocol, sasl.*, ssl.*), and
the SSL_* environment variables trivup exports for the tests that load certificates themselves (0097).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.securebroker import add_user, listener_args
from tests.tlsfiles import TlsFiles

# The set-up each security test id runs on; every other id runs on the PLAINTEXT broker.
SECURED_IDS = {
    "0081_admin": "acl",
    "0109_auto_create_topics": "acl",
    "0115_producer_auth": "acl",
    "0119_consumer_auth": "acl",
    "0097_ssl_verify": "ssl",
    "0126_oauthbearer_oidc": "sasl_ssl",
    "0135_sasl_credentials": "sasl_ssl",
    "0142_reauthentication": "sasl_ssl",
}
# trivup's first SASL user, a super user (its server.properties: super.users=User:admin).
USER, PASSWORD, MECHANISM = "admin", "admin", "SCRAM-SHA-256"
# KIP-368: 0142 reads it from the broker's configs (DescribeConfigs) and skips itself when it is unset.
MAX_REAUTH_MS = 10_000
# KAFKA_PATH for the tests that run $KAFKA_PATH/bin/kafka-acls.sh: our stand-in (kafka_acls.py).
KAFKA_PATH = Path(__file__).parent / "kafka"
REPOSITORY = Path(__file__).parents[2]


@dataclass(frozen=True)
class Setup:
    name: str
    broker_args: list[str]
    users: list[tuple[str, str, str]] = field(default_factory=list)  # name, password, mechanism
    test_conf: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def add_users(self, data_dir: Path) -> None:
        for name, password, mechanism in self.users:
            add_user(data_dir, name, password, mechanism)


def setup(name: str, port: int, tls: TlsFiles) -> Setup:
    """The set-up called `name`, its listener on 127.0.0.1:`port`."""
    if name == "acl":
        # trivup's brokers run an authorizer with ACLs allowing everyone where a resource has none.
        env = {"KAFKA_PATH": str(KAFKA_PATH), "PYTHONPATH": str(REPOSITORY), "STREAMHOUSE_PYTHON": sys.executable}
        return Setup(name, ["--authorizer", "acl", "--allow-everyone-if-no-acl-found", "true"], env=env)
    if name == "sasl_ssl":
        args = [
            *listener_args("SASL_SSL", port, tls),
            "--authorizer", "acl", "--super-users", f"User:{USER}", "--allow-everyone-if-no-acl-found", "true",
            "--connections-max-reauth-ms", str(MAX_REAUTH_MS),
        ]  # fmt: skip
        conf = {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": MECHANISM,
            "sasl.username": USER,
            "sasl.password": PASSWORD,
            "ssl.ca.location": str(tls.ca_pem),
        }
        return Setup(name, args, [(USER, PASSWORD, MECHANISM)], conf)
    if name == "ssl":
        # Mutual TLS, as trivup's ssl_client_auth=required: the broker asks for the client's certificate.
        args = [*listener_args("SSL", port, tls), "--ssl-cafile", str(tls.ca_pem), "--ssl-client-auth", "required"]
        conf = {
            "security.protocol": "SSL",
            "ssl.ca.location": str(tls.ca_pem),
            "ssl.certificate.location": str(tls.client_cert),
            "ssl.key.location": str(tls.client_key),
            "ssl.key.password": tls.password,
        }
        return Setup(name, args, test_conf=conf, env=trivup_ssl_env(tls))
    raise ValueError(f"no security set-up {name!r}")


def trivup_ssl_env(tls: TlsFiles) -> dict[str, str]:
    """The SSL_* variables trivup's LibrdkafkaTestApp exports: the client's key, certificate and CAs."""
    return {
        "SSL_ca_pem": str(tls.ca_pem),
        "SSL_ca_der": str(tls.ca_der),
        "SSL_unused_ca_pem": str(tls.unused_ca_pem),
        "SSL_unused_ca_der": str(tls.unused_ca_der),
        "SSL_all_cas_pem": str(tls.all_cas_pem),
        "SSL_client_auth": "required",
        "SSL_pub_pem": str(tls.client_cert),
        "SSL_pub_der": str(tls.client_cert_der),
        "SSL_priv_pem": str(tls.client_key),
        "SSL_priv_der": str(tls.client_key_der),
        "SSL_pkcs": str(tls.client_pkcs12),
        "SSL_password": tls.password,
    }
