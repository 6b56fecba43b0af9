"""Writes the environment it was given, as JSON, to the file named by --out."""

import json
import os
import sys


def main():
    with open(sys.argv[sys.argv.index("--out") + 1], "w") as f:
        json.dump(dict(os.environ), f)
