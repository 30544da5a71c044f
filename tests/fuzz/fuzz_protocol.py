"""Coverage-guided fuzzing (atheris) of request decoding and of produce validation: not collected by pytest.

    pip install -e '.[fuzz]'
    python -m tests.fuzz.fuzz_protocol -runs=1000000 [-max_len=16384] [corpus folder, default .fuzz-corpus]

The first byte of an input picks the target, the rest is its data:
- even: a request frame (without its size prefix) for `protocol.wire.decode_request`, every registered API;
- odd: a record batch whose batchLength and CRC are set right before it is read, so that the fuzzer
  reaches the records: `iter_batches`, then `protocol.validation.validate_batch` and `record_errors`
  (with decompressed pieces of 1 MiB and of 5 bytes, which must accept and refuse alike), and the compiled
  record walk compared with its Python reference on the records section.

A crash is any exception but ProtocolError (InvalidRecordError and CorruptBatchError among them),
or two ways of reading disagreeing. The corpus folder is seeded, when new, from tests/golden/fixtures (the
frames, and the batches of their Produce requests), a request of every API and version, and a batch of
every codec; each crash found becomes a regression test in tests/protocol/.
"""

from __future__ import annotations

import contextlib
import struct
import sys
import warnings
from pathlib import Path

import atheris
import crc32c

with atheris.instrument_imports():
    import streamhouse.protocol.records  # noqa: F401  (loads the submodule the code reaches through the package)
    from streamhouse import protocol
    from streamhouse.protocol import wire
    from streamhouse.protocol._recordscan import scan
    from streamhouse.protocol.errors import ProtocolError
    from streamhouse.protocol.records import (
        HEADER_SIZE,
        LOG_OVERHEAD,
        Compression,
        Record,
        build_batch,
        iter_batches,
    )
    from streamhouse.protocol.registry import APIS
    from streamhouse.protocol.validation import (
        needs_record_errors,
        record_errors,
        scan_records_py,
        timestamp_bounds,
        validate_batch,
    )

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "fixtures"
LIMIT = 1 << 20  # decompressed bound, small: the fuzzer's inputs are small
BOUNDS = timestamp_bounds(now=1_800_000_000_000, before_max_ms=86_400_000, after_max_ms=3_600_000)
# Decompressed pieces of a few bytes send records through the path for records larger than a piece
# (read as they come); the validation target checks that it judges as reading whole does.
SMALL_PIECE = 5
WHOLE_PIECE = 1 << 20
DECODE = b"\x00"
VALIDATE = b"\x01"


def decode_frame(frame: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        wire.decode_request(frame)


def with_length_and_crc(data: bytes) -> bytes:
    """`data` as one batch: its batchLength the bytes there are, its CRC-32C right (magic left as it is)."""
    batch = bytearray(data)
    if len(batch) >= HEADER_SIZE:
        struct.pack_into(">i", batch, 8, len(batch) - LOG_OVERHEAD)
        struct.pack_into(">I", batch, 17, crc32c.crc32c(memoryview(batch)[21:]))
    return bytes(batch)


def validate(data: bytes) -> None:
    batch = with_length_and_crc(data)
    if len(batch) >= HEADER_SIZE:
        section = batch[HEADER_SIZE:]
        count = struct.unpack_from(">i", batch, 57)[0]
        for final in (True, False):
            compiled, reference = scan(section, 0, 0, count, final), scan_records_py(section, 0, 0, count, final)
            if compiled != reference:
                raise AssertionError(f"walks disagree: compiled {compiled}, reference {reference}")
    protocol.records.DECOMPRESS_PIECE = WHOLE_PIECE
    whole = judged(batch)
    protocol.records.DECOMPRESS_PIECE = SMALL_PIECE
    if judged(batch) != whole:
        raise AssertionError(f"records read as they come judged otherwise than read whole ({whole})")


def judged(batch: bytes) -> object:
    """What validation makes of `batch`: the summaries and record errors, or that it was refused.

    Not why it was refused: read as it comes, a compressed batch may show a wrong record before the
    codec's checksum at its end shows it damaged.
    """
    try:
        answers: list[object] = []
        for header, view in iter_batches(batch):
            summary = validate_batch(header, view, max_uncompressed=LIMIT)
            answers.append(summary)
            if needs_record_errors(header, summary, compacted=True, bounds=BOUNDS):
                answers.append(
                    record_errors(header, view, first_index=0, compacted=True, bounds=BOUNDS, max_uncompressed=LIMIT)
                )
        return answers
    except ProtocolError:
        return "refused"


def test_one_input(data: bytes) -> None:
    if not data:
        return
    if data[0] % 2 == 0:
        decode_frame(data[1:])
    else:
        validate(data[1:])


def seeds() -> list[bytes]:
    found = []
    for path in sorted(GOLDEN.glob("*.bin")):
        frame = path.read_bytes()
        found.append(DECODE + frame)
        request = wire.decode_request(frame, allow_trailing=True)
        for topic in getattr(getattr(request, "body", None), "topic_data", None) or []:
            for partition in topic.partition_data:
                found += [VALIDATE + bytes(batch) for _, batch in iter_batches(partition.records)]
    found += [DECODE + frame for frame in every_request()]
    records = [Record(b"key", b"value", [("header", b"x")]), Record(None, b"v" * 40), Record(b"k", None)]
    found += [VALIDATE + build_batch(records, compression=codec) for codec in Compression]
    return found


def every_request() -> list[bytes]:
    """A request of every registered API at every version, drawn by the round-trip tests' strategies."""
    from hypothesis.errors import NonInteractiveExampleWarning

    from tests.protocol.strategies import message_value

    frames = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        for api in APIS.values():
            for version in range(api.min_version, api.max_version + 1):
                body = message_value(api.request, version).example()
                frames.append(wire.encode_request(api, version, 7, "fuzz", body)[4:])
    return frames


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg.startswith("-")]
    folders = [arg for arg in sys.argv[1:] if not arg.startswith("-")] or [str(ROOT / ".fuzz-corpus")]
    corpus = Path(folders[0])
    if not corpus.exists():
        corpus.mkdir(parents=True)
        for number, seed in enumerate(seeds()):
            (corpus / f"seed-{number:04d}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *args, *folders], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
