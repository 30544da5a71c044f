"""The TLS cost benchmark: one short run per listener kind against real brokers.

No figure is asserted beyond what any real run must show: every record went through both ways (the
run checks each one). The TLS broker has only its SSL listener, which a plaintext client cannot use.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tls_cost import KINDS, measured_run
from tests.tlscerts import TestCA


@pytest.mark.e2e
@pytest.mark.parametrize("kind", KINDS)
def test_a_run_moves_every_record_through_its_listener(kind: str, tmp_path: Path) -> None:
    run = measured_run(kind, TestCA(tmp_path), record_bytes=1024, records=500)
    assert run.kind == kind
    assert run.produce_mb_per_s > 0 and run.consume_mb_per_s > 0
