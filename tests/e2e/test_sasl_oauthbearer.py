"""OAUTHBEARER with signed tokens: a broker checks JWTs against a JWKS (a file, or a URL) with issuer,
audience and expiry; confluent-kafka authenticates through an oauth_cb; bad tokens get
SASL_AUTHENTICATION_FAILED (58) and a closed connection."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from streamhouse.protocol.apis.metadata import METADATA
from streamhouse.protocol.errors import ErrorCode
from tests.brokerproc import BrokerProcess
from tests.saslwire import authenticate, handshake
from tests.wireclient import WireClient

pytestmark = pytest.mark.e2e

ISSUER, AUDIENCE, KID = "https://issuer.test", "streamhouse", "key-1"
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> str:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING_KEY.public_key()))
    return json.dumps({"keys": [public | {"kid": KID, "use": "sig", "alg": "RS256"}]})


def signed_token(subject: str = "svc", *, key: Any = SIGNING_KEY, lifetime_s: int = 600, **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": subject, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + lifetime_s} | claims
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": KID})


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    document = jwks().encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


@pytest.fixture(scope="module", params=["file", "url"])
def signed_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, jwks_url: str
) -> Iterator[BrokerProcess]:
    data = tmp_path_factory.mktemp("oauth")
    if request.param == "file":
        source = data / "jwks.json"
        source.write_text(jwks())
        where = str(source)
    else:
        where = jwks_url
    flags = [
        "--listeners",
        "SASL_PLAINTEXT://127.0.0.1:0",
        "--sasl-mechanisms",
        "OAUTHBEARER",
        "--sasl-oauthbearer-jwks",
        where,
    ]
    flags += ["--sasl-oauthbearer-issuer", ISSUER, "--sasl-oauthbearer-audience", AUDIENCE]
    process = BrokerProcess(data, flags).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def test_confluent_kafka_authenticates_with_a_signed_token_from_oauth_cb(signed_broker: BrokerProcess) -> None:
    from confluent_kafka import Producer

    def oauth_cb(_: str) -> tuple[str, float]:
        return signed_token("svc"), time.time() + 600

    producer = Producer(
        {
            "bootstrap.servers": signed_broker.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "OAUTHBEARER",
            "oauth_cb": oauth_cb,
        }
    )
    errors: list[object] = []
    producer.produce("signed", b"v", on_delivery=lambda error, _: errors.append(error))
    assert producer.flush(30) == 0
    assert errors == [None]
    assert "authenticated User:svc" in signed_broker.log_text()


def bearer(token: str) -> bytes:
    return f"n,,\x01auth=Bearer {token}\x01\x01".encode()


BAD_TOKENS = {
    "another key's signature": lambda: signed_token(key=OTHER_KEY),
    "wrong audience": lambda: signed_token(aud="someone-else"),
    "wrong issuer": lambda: signed_token(iss="https://elsewhere.test"),
    "expired": lambda: signed_token(lifetime_s=-60),
    "unsecured": lambda: jwt.encode({"sub": "svc", "exp": int(time.time()) + 60}, None, algorithm="none"),
}


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_bad_signed_tokens_are_refused(signed_broker: BrokerProcess, case: str) -> None:
    with WireClient(signed_broker.bootstrap) as client:
        assert handshake(client, "OAUTHBEARER").error_code == ErrorCode.NONE
        response = authenticate(client, bearer(BAD_TOKENS[case]()))
        assert response.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
        assert response.error_message.startswith("Authentication failed")
        assert client.is_closed_by_peer()
    with WireClient(signed_broker.bootstrap) as client:  # others unaffected
        assert handshake(client, "OAUTHBEARER").error_code == ErrorCode.NONE
        assert authenticate(client, bearer(signed_token())).error_code == ErrorCode.NONE
        assert client.request(METADATA, 1, METADATA.Request(topics=[])).brokers


def test_the_session_lasts_until_the_token_expires(signed_broker: BrokerProcess) -> None:
    with WireClient(signed_broker.bootstrap) as client:
        assert handshake(client, "OAUTHBEARER").error_code == ErrorCode.NONE
        response = authenticate(client, bearer(signed_token(lifetime_s=30)))
        assert response.error_code == ErrorCode.NONE
        assert 25_000 < response.session_lifetime_ms <= 30_000
