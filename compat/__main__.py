"""python -m compat: the stock-client matrix against a broker started here (or --bootstrap)."""

from __future__ import annotations

import argparse
import sys
import time

from compat.broker import running_broker
from compat.matrix import CLIENTS, SCENARIOS, run_matrix, table


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m compat", description=__doc__)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one (HOST:PORT)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="only these scenarios (repeatable)")
    parser.add_argument("--client", action="append", choices=CLIENTS, help="only these clients (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="cells run at once (default 2)")
    args = parser.parse_args()
    scenarios = args.scenario or list(SCENARIOS)
    clients = args.client or list(CLIENTS)
    started = time.monotonic()
    with running_broker(args.bootstrap) as bootstrap:
        outcomes = run_matrix(bootstrap, scenarios, clients, args.jobs)
    print(table(outcomes, scenarios, clients))
    print(f"matrix took {time.monotonic() - started:.0f} s")
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
