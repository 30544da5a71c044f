"""Consumer groups of the classic protocol; GroupCoordinator (coordinator.py) is the broker's service."""
