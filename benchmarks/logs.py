"""Logging and the common arguments of job entry points: per-epoch lines go to the rule's log file and
to stderr; ``--log`` and ``--threads`` mean the same in every entry point."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Optional


def setup(log_file: Optional[Path], level: int = logging.INFO, tag: str = "") -> logging.Logger:
    """Log lines to stderr and ``log_file``; ``tag`` (e.g. "lenet5_caffe_mnist seed1") goes into every
    line, so that the console lines of jobs running side by side can be told apart."""
    root = logging.getLogger("ibbench")
    root.setLevel(level)
    root.handlers.clear()
    # a library's logging.config call (disable_existing_loggers) may have disabled our loggers in this
    # process: a job that asks for logging gets it
    for name, lg in logging.root.manager.loggerDict.items():
        if isinstance(lg, logging.Logger) and (name == "ibbench" or name.startswith("ibbench.")):
            lg.disabled = False
    head = f"%(asctime)s [{tag.replace('%', '%%')}] %(name)s" if tag else "%(asctime)s %(name)s"
    fmt = logging.Formatter(head + " %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a"))
        # Snakemake deletes a rule's log before rerunning the job: every attempt's lines (an interrupted
        # run's too) are also appended to <log>.history, which no rule declares and nothing deletes
        handlers.append(logging.FileHandler(f"{log_file}.history", mode="a"))
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    return root


def add_job_arguments(parser: Any, *, threads: bool = True) -> Any:
    """``--log`` (also append log lines to this file) and ``--threads`` (torch threads) on an argparse
    parser or sub-parser."""
    parser.add_argument("--log", type=Path, default=None, help="also append log lines to this file")
    if threads:
        parser.add_argument("--threads", type=int, default=None, help="torch threads of this job")
    return parser


def add_record_arguments(parser: Any) -> Any:
    """``--command`` and ``--config``: what a table builder records in its provenance."""
    parser.add_argument("--command", default="", help="the command that asked for the output (provenance)")
    parser.add_argument("--config", default="{}", help="the configuration behind the output, as JSON")
    return parser


def start_job(args: Any, tag: str = "") -> logging.Logger:
    """Set up logging (``tag``: see ``setup``) and the thread count an entry point was given."""
    root = setup(getattr(args, "log", None), tag=tag)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    return root
