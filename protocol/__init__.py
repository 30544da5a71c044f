"""Sans-I/O Kafka protocol: bytes in, typed requests out; typed responses in, bytes out."""
