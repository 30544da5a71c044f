"""One matrix cell in its own process (a hung or crashing client cannot take the run down):
python -m compat.cell SCENARIO CLIENT BOOTSTRAP TOPIC; exit 0 on pass, else the reason on stderr."""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> int:
    scenario, client, bootstrap, topic = argv
    module = importlib.import_module(f"compat.scenarios.{scenario}")
    try:
        module.run(client, bootstrap, topic)
    except Exception as error:
        print(f"{type(error).__name__}: {error}".replace("\n", " ")[:500], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
