"""Proves that parallel runs share no process state. Each run stores its
date in a module global and in sys.argv, announces itself, waits until all
--n runs have announced themselves (so they really overlap), then reports
what its globals hold, which must still be its own."""

import json
import os
import sys
import time
from argparse import ArgumentParser

CALLS = 0
STATE = None


def main():
    global CALLS, STATE
    CALLS += 1
    parser = ArgumentParser()
    parser.add_argument("--date", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--n", type=int, required=True)
    args = parser.parse_args()
    STATE = args.date
    open(os.path.join(args.out_dir, "started-" + args.date), "w").close()
    deadline = time.time() + 120
    while sum(n.startswith("started-") for n in os.listdir(args.out_dir)) < args.n:
        if time.time() > deadline:
            sys.exit("timed out waiting for the other runs")
        time.sleep(0.01)
    again = ArgumentParser()
    again.add_argument("--date")
    again.add_argument("--out-dir")
    again.add_argument("--n")
    after = again.parse_args()
    tmp = os.path.join(args.out_dir, args.date + ".tmp")
    with open(tmp, "w") as f:
        json.dump(
            {"date": args.date, "state": STATE, "argv_date_after_barrier": after.date,
             "sys_argv": sys.argv, "calls": CALLS, "pid": os.getpid()},
            f,
        )
    os.rename(tmp, os.path.join(args.out_dir, args.date + ".json"))
