from streamhouse.protocol.primitives import Buffer
from streamhouse.protocol.validation import ScanResult

def scan(data: Buffer, pos: int, index: int, count: int, final: bool, /) -> ScanResult: ...
