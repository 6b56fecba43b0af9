"""Fails while being imported."""

raise RuntimeError("cannot import: missing configuration")


def main():
    pass
