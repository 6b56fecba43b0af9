"""A neighbour module: query.py imports it as `python3 query.py` would."""

GREETING = "hello from helper"
