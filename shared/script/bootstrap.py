# bqbackfill query-script bootstrap: runs one entrypoint of one query.py for
# one date, in a process of its own (shared/script). Invoked as
#   python3 -u -c <this file> SCRIPT ENTRYPOINT [ARG ...]
# It imports SCRIPT as a module (running its top-level code, but not its
# `if __name__ == "__main__":` block), fetches ENTRYPOINT and calls it the
# way bigquery-etl's `bqetl query backfill` does: a Click command through
# main(args=..., standalone_mode=False), anything else with sys.argv set to
# [SCRIPT, *ARGS].
import importlib.util
import os
import signal
import sys

MARK = "bqbackfill-bootstrap: "
EXIT_BOOTSTRAP = 86


def fail(message):
    sys.stderr.write(MARK + message + "\n")
    sys.stderr.flush()
    sys.exit(EXIT_BOOTSTRAP)


def end_group(signum, frame):
    # SIGTERM is the parent-death signal bqbackfill asks Linux for: it died
    # (even by kill -9). Take everything the script started along; the
    # group is ours only when we lead it, as bqbackfill starts us.
    os.killpg(os.getpgrp(), signal.SIGKILL)


def run():
    if hasattr(os, "getpgrp") and os.getpgrp() == os.getpid():
        signal.signal(signal.SIGTERM, end_group)
    script, entrypoint, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    sys.dont_write_bytecode = True
    # Import the script's neighbours as `python3 query.py` would: its own
    # directory first on the path (instead of -c's current directory).
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    # Scripts that parse arguments at import time see their own arguments.
    sys.argv = [script, *argv]
    name = "bqbackfill_query_script"
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        fail("cannot load %s as a Python module" % script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, entrypoint):
        fail("entrypoint %r not found in %s" % (entrypoint, script))
    fn = getattr(module, entrypoint)
    if not callable(fn):
        fail("entrypoint %r in %s is not callable (it is a %s)" % (entrypoint, script, type(fn).__name__))
    if hasattr(fn, "main") and hasattr(fn, "params"):
        fn.main(args=argv, standalone_mode=False)
    else:
        fn()


run()
