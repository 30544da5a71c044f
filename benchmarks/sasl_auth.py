"""SCRAM authentications per second: many short connections, each one whole SCRAM exchange.

Run: `python -m benchmarks.sasl_auth [--mechanism SCRAM-SHA-256] [--connections 8] [--seconds 10]`.
Starts the embedded default broker on a SASL_PLAINTEXT listener with one user (4096 iterations), then keeps
`--connections` asyncio clients each connecting, sending SaslHandshake v1 and the two SaslAuthenticate
requests of a SCRAM exchange, checking the server's signature and closing, for `--seconds`. The
client's salted password is computed once (the salt is the user's): a client pays a few HMACs per
exchange and the broker's share of the two cores is what is measured. Prints exchanges per second
and the broker's CPU seconds per exchange (Linux /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from streamhouse.protocol import wire
from streamhouse.protocol.apis.sasl_authenticate import SASL_AUTHENTICATE
from streamhouse.protocol.apis.sasl_handshake import SASL_HANDSHAKE
from tests.brokerproc import BrokerProcess

USER, PASSWORD = "bench", "bench-password"
HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}


class Exchanges:
    def __init__(self, bootstrap: str, mechanism: str) -> None:
        self.host, port = bootstrap.rsplit(":", 1)
        self.port = int(port)
        self.mechanism = mechanism
        self.hash = HASHES[mechanism]
        self.salted: dict[bytes, bytes] = {}  # salt -> salted password
        self.correlation = 0

    async def _call(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, api: object, body: object
    ) -> object:
        self.correlation += 1
        writer.write(wire.encode_request(api, 1, self.correlation, "bench", body))  # type: ignore[arg-type]
        size = int.from_bytes(await reader.readexactly(4), "big")
        return wire.decode_response(api, 1, await reader.readexactly(size))[1]  # type: ignore[arg-type]

    async def one(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            answer = await self._call(reader, writer, SASL_HANDSHAKE, SASL_HANDSHAKE.Request(mechanism=self.mechanism))
            assert answer.error_code == 0  # type: ignore[attr-defined]
            nonce = secrets.token_hex(12)
            bare = f"n={USER},r={nonce}"
            first = await self._call(
                reader, writer, SASL_AUTHENTICATE, SASL_AUTHENTICATE.Request(auth_bytes=f"n,,{bare}".encode())
            )
            server_first = first.auth_bytes.decode()  # type: ignore[attr-defined]
            fields = dict(part.split("=", 1) for part in server_first.split(","))
            salt = base64.b64decode(fields["s"])
            if salt not in self.salted:
                self.salted[salt] = hashlib.pbkdf2_hmac(self.hash, PASSWORD.encode(), salt, int(fields["i"]))
            salted = self.salted[salt]
            client_key = hmac.new(salted, b"Client Key", self.hash).digest()
            without_proof = f"c=biws,r={fields['r']}"
            auth_message = f"{bare},{server_first},{without_proof}".encode()
            signature = hmac.new(hashlib.new(self.hash, client_key).digest(), auth_message, self.hash).digest()
            proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
            final = await self._call(
                reader,
                writer,
                SASL_AUTHENTICATE,
                SASL_AUTHENTICATE.Request(auth_bytes=f"{without_proof},p={proof}".encode()),
            )
            assert final.error_code == 0, final.error_message  # type: ignore[attr-defined]
            server_key = hmac.new(salted, b"Server Key", self.hash).digest()
            expected = b"v=" + base64.b64encode(hmac.new(server_key, auth_message, self.hash).digest())
            assert final.auth_bytes == expected  # type: ignore[attr-defined]
        finally:
            writer.close()


async def run(bootstrap: str, mechanism: str, connections: int, seconds: float) -> int:
    exchanges = Exchanges(bootstrap, mechanism)
    await exchanges.one()  # warm up: the salted password, the broker's codecs
    deadline = time.monotonic() + seconds
    done = 0

    async def client() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await exchanges.one()
            done += 1

    await asyncio.gather(*(client() for _ in range(connections)))
    return done


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mechanism", default="SCRAM-SHA-256", choices=sorted(HASHES))
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-m", "streamhouse.broker.cli", "users", "add", USER, "--password", PASSWORD,
             "--mechanism", args.mechanism, "--data-dir", folder],
            check=True, capture_output=True,
        )  # fmt: skip
        broker = BrokerProcess(
            Path(folder),
            [
                "--listeners",
                "SASL_PLAINTEXT://127.0.0.1:0",
                "--sasl-mechanisms",
                args.mechanism,
                "--log-level",
                "WARNING",
            ],
        ).start()
        try:
            assert broker.process is not None
            cpu_before = cpu_seconds(broker.process.pid)
            started = time.monotonic()
            done = asyncio.run(run(broker.bootstrap, args.mechanism, args.connections, args.seconds))
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(broker.process.pid) - cpu_before
        finally:
            broker.stop()
    print(
        f"{args.mechanism}: {done} exchanges in {elapsed:.1f} s over {args.connections} connections at a time: "
        f"{done / elapsed:,.0f} authentications/s, broker CPU {cpu / max(done, 1) * 1e6:,.0f} µs per authentication"
    )


if __name__ == "__main__":
    main()
