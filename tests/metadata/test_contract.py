"""Runs the MetadataStore contract (contract.py) on every backend of conftest.BACKENDS."""

from tests.metadata.contract import *  # noqa: F403
