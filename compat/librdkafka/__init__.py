"""librdkafka's own test suite against StreamHouse."""
