"""The fan-out of a store's change reports to its subscribers (MetadataStore.subscribe)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from streamhouse.metadata.base import Change, ChangeListener

log = logging.getLogger(__name__)


class ChangeFeed:
    """Listeners of one store; a listener that raises is logged and the others still hear the change."""

    def __init__(self) -> None:
        self._listeners: list[ChangeListener] = []

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, changes: Iterable[Change]) -> None:
        for change in changes:
            for listener in list(self._listeners):
                try:
                    listener(change)
                except Exception:
                    log.exception("a metadata change listener failed on %s", change)
