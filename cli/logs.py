"""Where log records go: stderr, as rich lines in a terminal and as plain whole lines anywhere else.

Hydra's logging configs (``configs/hydra/*_logging/rich.yaml``) build their console handler
with :func:`console_handler`. In a terminal rich draws time, level and message beside the
progress bar; in a pipe, a file, CI or a SLURM log there is no terminal width to wrap at
and no colour to strip, so each record is one unbroken line with its time and level.
Records go to stderr either way, leaving stdout to what a command prints as its result.
"""

from __future__ import annotations

import logging
import sys

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(message)s"
PLAIN_TIME = "%Y-%m-%d %H:%M:%S"


def console_handler() -> logging.Handler:
    """rich's handler on stderr in a terminal, else a plain one-line-per-record handler on stderr."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=Console(stderr=True), show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        return handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(PLAIN_FORMAT, PLAIN_TIME))
    return handler
