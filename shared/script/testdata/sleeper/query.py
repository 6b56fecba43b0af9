"""Starts a child process, reports both pids in the file named by --out,
then sleeps: for cancellation and timeout tests."""

import json
import os
import subprocess
import sys
import time


def main():
    out = sys.argv[sys.argv.index("--out") + 1]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"pid": os.getpid(), "child": child.pid}, f)
    os.rename(tmp, out)
    time.sleep(600)
