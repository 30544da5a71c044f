"""kafka-python's own integration tests against StreamHouse."""
