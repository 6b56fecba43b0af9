"""Entrypoints that fail in different ways."""

import sys


def main():
    print("starting", file=sys.stderr)
    raise ValueError("boom: partition " + sys.argv[2] + " is bad")


def exit3():
    print("out only")
    sys.exit(3)


def noisy():
    sys.stdout.write("x" * 200_000)
    for i in range(1000):
        print("line %d" % i, file=sys.stderr)
    sys.exit(1)


not_callable = {"a": 1}
