"""Background passes that repeat: a failure is logged and the next pass tries again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from streamhouse.metadata.base import MetadataUnavailableError

log = logging.getLogger(__name__)


async def repeat(seconds: float, step: Callable[[], Awaitable[None]], what: str) -> None:
    """Sleep `seconds`, run `step`, for ever (until cancelled).

    An unreachable metadata store is expected now and then (a restart): a warning, and what the
    step keeps cached stays in use. Anything else is logged with its traceback.
    """
    while True:
        await asyncio.sleep(seconds)
        try:
            await step()
        except MetadataUnavailableError as exc:
            log.warning("%s failed; keeping the last state, the next pass retries: %s", what, exc)
        except Exception:
            log.exception("%s failed; the next pass retries", what)
