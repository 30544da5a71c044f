"""Protocol errors: the one exception type for malformed input, and Kafka's error codes."""

from __future__ import annotations


class ProtocolError(Exception):
    """Malformed bytes: a frame, header, field or record batch that breaks the protocol.

    Decoding raises this and nothing else for bad input; any other exception is a bug.
    """


class EncodeError(ValueError):
    """A value that the chosen version cannot carry (a bug in the caller, not bad input)."""
