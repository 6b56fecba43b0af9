#!/usr/bin/env python3
"""A plain-function entrypoint that reads its arguments with argparse from
sys.argv and writes what it saw, as JSON, to the file named by --out."""

import json
import os
import sys
from argparse import ArgumentParser

import helper

CALLS = 0

parser = ArgumentParser(description=__doc__)
parser.add_argument("--date", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--destination_table", default=None)
parser.add_argument("--dry_run", action="store_true")


def main():
    global CALLS
    CALLS += 1
    args = parser.parse_args()
    with open(args.out, "w") as f:
        json.dump(
            {
                "date": args.date,
                "destination_table": args.destination_table,
                "dry_run": args.dry_run,
                "argv": sys.argv,
                "cwd": os.getcwd(),
                "module": __name__,
                "helper": helper.GREETING,
                "env": os.environ.get("BQBACKFILL_TEST_ENV"),
                "calls": CALLS,
            },
            f,
        )
    print("wrote", args.out)


not_callable = 42

if __name__ == "__main__":
    # Not run: the script is imported, not executed as a program.
    raise SystemExit("the __main__ block must not run")
