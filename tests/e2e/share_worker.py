"""A ShareConsumer in a process of its own that acknowledges nothing: it prints the offsets of its first poll.

Run as `python -m tests.e2e.share_worker BOOTSTRAP GROUP TOPIC`; it then holds those records (in
explicit mode it may not poll again without acknowledging them) until a test kills it.
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import ShareConsumer


def main(bootstrap: str, group: str, topic: str) -> None:
    consumer = ShareConsumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "share.acknowledgement.mode": "explicit"}
    )
    consumer.subscribe([topic])
    print("subscribed", flush=True)
    while True:
        messages = [m for m in consumer.poll(0.2) if m.error() is None]
        if messages:
            print(" ".join(str(m.offset()) for m in messages), flush=True)
            break
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
