"""minsheng: tag, route and answer citizen feedback. Floors, lowest first: core → model → store → assist /
training → api / serving → cli (tests/test_layers.py holds every import to that order)."""
