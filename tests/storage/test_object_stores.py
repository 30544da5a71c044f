"""Every object store backend passes the contract suite (backends: conftest.BACKENDS)."""

from __future__ import annotations

from tests.storage.contract import ObjectStoreContract


class TestObjectStoreContract(ObjectStoreContract):
    """The contract, once per backend of the `store` fixture."""
