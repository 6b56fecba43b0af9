"""A Click-like entrypoint without Click: an object with `params` and
main(args, standalone_mode), as click.Command has. It records how it was
called in the file named by --out."""

import json
import sys


class Command:
    def __init__(self, name):
        self.name = name
        self.params = ["date", "out"]

    def __call__(self, *args, **kwargs):
        raise SystemExit("called directly instead of through main()")

    def main(self, args=None, prog_name=None, standalone_mode=True, **extra):
        out = args[args.index("--out") + 1]
        with open(out, "w") as f:
            json.dump(
                {
                    "args": args,
                    "standalone_mode": standalone_mode,
                    "sys_argv": sys.argv,
                },
                f,
            )
        return 0


main = Command("main")


def plain_fn():
    """Has neither main nor params: called as a plain function."""
    out = sys.argv[sys.argv.index("--out") + 1]
    with open(out, "w") as f:
        json.dump({"sys_argv": sys.argv}, f)
