"""The `streamhouse` command: `streamhouse serve` runs a broker."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from broker.app import Broker
from broker.config import BrokerConfig, add_arguments, config_from

log = logging.getLogger("streamhouse")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamhouse", description="A Kafka-wire-compatible broker.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run a broker",
        description="Run a broker. With no flags: 127.0.0.1:9092, objects and SQLite metadata in ./streamhouse-data.",
    )
    add_arguments(serve)
    return parser


async def serve(config: BrokerConfig) -> None:
    broker = Broker(config)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    http = f", HTTP on {config.host}:{broker.http.port}" if config.metrics_port >= 0 else ""
    # Tests and scripts wait for this line: keep its shape.
    print(f"StreamHouse broker {config.broker_id} listening on {config.host}:{broker.port}{http}", flush=True)
    await stop.wait()
    log.info("shutting down")
    await broker.stop()
    log.info("stopped")


def run(coroutine_config: BrokerConfig) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(coroutine_config))
    else:
        uvloop.run(serve(coroutine_config))


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = config_from(args)
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    run(config)


if __name__ == "__main__":
    main()
