"""One module per Kafka API; importing this package registers every one of them.

A declaration changed or added here needs `python -m streamhouse.protocol.generate`, which rewrites the typed
names of its classes in protocol/messages/ (a test fails until it is run).
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
