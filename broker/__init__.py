"""The broker: asyncio listener, request handlers, CLI and HTTP endpoints."""
