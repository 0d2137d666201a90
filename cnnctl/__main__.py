"""How the `cnnctl` command starts (also `python -m cnnctl`, and torchrun's workers).

The command line lives in cnnctl.cli; importing it (typer, YAML, the analysis) takes tens
of milliseconds, and a Ctrl-C in that instant would print Python's KeyboardInterrupt traceback.
This module imports nothing heavy itself, so it can catch it.
"""

import sys

INTERRUPTED = 130  # as cnnctl.errors.INTERRUPTED, which this module must not import yet


def main() -> None:
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("stopped by Ctrl-C while starting: nothing was done\n")
        sys.exit(INTERRUPTED)
    run()


if __name__ == "__main__":
    main()
