"""``nrep``: the command-line front-end.

``nrep loop`` and ``nrep fold`` are thin front-ends over one Hydra application. They turn
their own flags into overrides, check every job's config (one clear line for a
misspelt key, a bad value or a contradiction), refuse to write into an existing run's
directory, and then hand Hydra a rewritten ``sys.argv``: Hydra flags first (Hydra 1.3
rejects an override before ``-m``), then the injected overrides, then the user's, so
``-m``, ``--cfg job`` and launcher overrides work as in any Hydra app.

Only argparse and the standard library are imported until a command runs, so
``nrep --help`` answers at once; torch is imported by the run itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Sequence

from nrep.core.errors import NrepError

if TYPE_CHECKING:
    from nrep.configs.compose import ComposedJob

COMMANDS = {
    "loop": "minimise a synthetic bead loop (paper §3); needs no data",
    "fold": "fold a protein from a PDB id or file (paper §4): AMBER14 in vacuum, RMSD to the structure",
    "report": "tables and figures from finished runs: nrep report DIR...",
    "resume": "continue a run or sweep stopped by Ctrl-C or SIGTERM: nrep resume RUN_DIR|SWEEP_DIR",
    "ls": "one line per run below some directories: nrep ls [DIR...] (default results/)",
    "show": "one run in full: status, numbers, files, the resume command: nrep show RUN_DIR",
}

# Hydra's own flags: name -> does it take a value ("?" = an optional one).
HYDRA_FLAGS = {
    "-m": False, "--multirun": False,
    "-r": False, "--run": False,
    "--resolve": False, "--hydra-help": False,
    "-c": True, "--cfg": True,
    "-p": True, "--package": True,
    "-cd": True, "--config-dir": True,
    "--experimental-rerun": True,
    "--info": "?",
}
INFO_ONLY_FLAGS = {"-c", "--cfg", "--info", "--hydra-help"}
MULTIRUN_FLAGS = {"-m", "--multirun"}
REFUSED_FLAGS = {
    "-cp": "nrep uses its own config tree; add yours with --config-dir DIR",
    "--config-path": "nrep uses its own config tree; add yours with --config-dir DIR",
    "-cn": "nrep's primary config is fixed; choose a preset with experiment=NAME",
    "--config-name": "nrep's primary config is fixed; choose a preset with experiment=NAME",
    "-sc": "shell completion is not supported through nrep",
    "--shell-completion": "shell completion is not supported through nrep",
}


class Parser(argparse.ArgumentParser):
    """argparse that raises NrepError (one line) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise NrepError(f"{message} (see {self.prog} --help)")


@dataclass
class Invocation:
    """A command line split into its parts."""

    command: str
    hydra_flags: list[str] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    out: str | None = None
    overwrite: bool = False

    @property
    def multirun(self) -> bool:
        return any(flag in MULTIRUN_FLAGS for flag in self.hydra_flags)

    @property
    def info_only(self) -> bool:
        return any(flag.split("=", 1)[0] in INFO_ONLY_FLAGS for flag in self.hydra_flags)

    def hydra_argv(self) -> list[str]:
        return [f"nrep {self.command}", *self.hydra_flags, *self.injected, *self.overrides]


def command_parser(command: str) -> Parser:
    parser = Parser(prog=f"nrep {command}", add_help=False, allow_abbrev=False)
    parser.add_argument("-h", "--help", action="store_true")
    if command == "fold":
        parser.add_argument("--pdb", metavar="ID|FILE")
        parser.add_argument("--chain", metavar="ID[,ID]")
    parser.add_argument("--out", metavar="DIR")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", choices=["cpu", "cuda"])
    parser.add_argument("--debug", action="store_true")
    return parser


def split_hydra_args(args: Sequence[str], command: str) -> tuple[list[str], list[str]]:
    """Separate Hydra flags (with their values) from overrides; refuse unknown flags."""
    flags: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if name in REFUSED_FLAGS:
            raise NrepError(f"{name}: {REFUSED_FLAGS[name]}")
        if name in HYDRA_FLAGS:
            takes = HYDRA_FLAGS[name]
            flags.append(arg)
            has_inline_value = "=" in arg and arg.startswith("--")
            next_is_value = i + 1 < len(args) and not args[i + 1].startswith("-") and "=" not in args[i + 1]
            if takes is True and not has_inline_value:
                if i + 1 >= len(args):
                    raise NrepError(f"{name} needs a value (see nrep {command} --help)")
                flags.append(args[i + 1])
                i += 1
            elif takes == "?" and not has_inline_value and next_is_value:
                flags.append(args[i + 1])
                i += 1
        elif arg.startswith("-"):
            hint = "; proteins use `nrep fold --pdb ID`" if name in ("--pdb", "--chain") and command != "fold" else ""
            raise NrepError(f"unknown option {name} for `nrep {command}`{hint} (see nrep {command} --help)")
        elif "=" not in arg and not arg.startswith("~"):
            raise NrepError(f"'{arg}' is neither an option nor an override; write key=value (see nrep {command} --help)")
        else:
            overrides.append(arg)
        i += 1
    return flags, overrides


def _quoted(value: str) -> str:
    """A value for a Hydra override, quoted so that paths with spaces or commas survive."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _override_keys(overrides: Sequence[str]) -> dict[str, str]:
    return {o.split("=", 1)[0].lstrip("+~"): o for o in overrides if "=" in o}


def pdb_override_value(pdb: str, multirun: bool) -> str:
    """``--pdb`` as the value of ``system.pdb``: one id or file, or with -m a comma-separated list (a sweep)."""
    from nrep.core.systems.sources import check_pdb_id, looks_like_file

    entries = [p.strip() for p in pdb.split(",")] if multirun and not looks_like_file(pdb) else [pdb]
    for entry in entries:
        if not looks_like_file(entry):
            check_pdb_id(entry)
    return ",".join(_quoted(entry) for entry in entries)


def build_invocation(command: str, argv: Sequence[str]) -> tuple[Invocation, argparse.Namespace]:
    args, rest = command_parser(command).parse_known_args(list(argv))
    flags, overrides = split_hydra_args(rest, command)
    inv = Invocation(command, flags, [], overrides, args.out, args.overwrite)
    given = _override_keys(overrides)
    if inv.multirun and inv.info_only:
        raise NrepError("--cfg/--info show the config of one job; drop -m (a sweep's first job is the command without its commas)")

    from nrep.cli.launchers import check_launcher_choice

    check_launcher_choice(overrides, inv.multirun, inv.info_only)

    def inject(flag: str, key: str, value: str) -> None:
        if key in given:
            raise NrepError(f"{flag} and {given[key]} both set {key}; keep one of them")
        inv.injected.append(f"{key}={value}")

    from nrep.configs.compose import command_groups, command_options
    from nrep.configs.schema import SCHEMAS

    other = "fold" if command == "loop" else "loop"
    for group in command_groups(command):
        allowed = command_options(command, group)
        values = given[group].split("=", 1)[1].split(",") if group in given else []
        # options of the other command are refused here; typos are left to the composer's suggestions
        wrong = [v for v in values if v not in allowed and v in command_options(other, group)]
        if wrong:
            raise NrepError(
                f"{group}={wrong[0]} does not go with `nrep {command}` (choose {group} from: {', '.join(allowed)}); "
                f"it belongs to `nrep {other}`"
            )
    methods = given.get("method", "=").split("=", 1)[1].split(",")
    optim_keys = [o for k, o in given.items() if k == "optim" or k.startswith("optim.")]
    if any(getattr(SCHEMAS["method"].get(m), "in_openmm", False) for m in methods) and optim_keys:
        raise NrepError(f"the OpenMM methods use OpenMM's own minimiser or integrator; drop {optim_keys[0]}")
    if command == "fold" and not args.help:
        if "system" not in given:
            inv.injected.append("system=protein")
        if args.pdb is not None:  # an empty --pdb '' is refused by name, not mistaken for a missing one
            inject("--pdb", "system.pdb", pdb_override_value(args.pdb, inv.multirun))
        if args.chain is not None:
            inject("--chain", "system.chain", _quoted(args.chain))
    if args.seed is not None:
        inject("--seed", "seed", str(args.seed))
    if args.threads is not None:
        inject("--threads", "threads", str(args.threads))
    if args.device is not None:
        inject("--device", "device", args.device)
    if args.overwrite:
        inject("--overwrite", "output.overwrite", "true")
    if args.out is not None:
        key = "hydra.sweep.dir" if inv.multirun else "hydra.run.dir"
        inject("--out", key, _quoted(args.out))
    return inv, args


def output_dir(inv: Invocation, composed: Sequence[ComposedJob]) -> Path:
    """The directory the command writes into: the run's, or the sweep's."""
    from nrep.configs.compose import resolved

    return Path(resolved(composed[0].raw, "hydra.sweep.dir" if inv.multirun else "hydra.run.dir"))


def check_output_dirs(inv: Invocation, composed: Sequence[ComposedJob]) -> None:
    """Refuse before Hydra writes anything if a run would land in a used directory."""
    from nrep.core.io.files import check_new_run_dir

    overwrite = inv.overwrite or any(job.typed.output.overwrite for job in composed)
    check_new_run_dir(output_dir(inv, composed), overwrite)


def check_devices_and_threads(composed: Sequence[ComposedJob], cores: int) -> None:
    """Refuse a GPU torch cannot see before any directory is made; warn of more threads than cores."""
    for job in composed:
        if job.typed.device.name.startswith("cuda"):
            from nrep.core.runtime import check_device

            check_device(job.typed.device.name)
    threads = max((job.typed.threads or 0) for job in composed)
    if threads > cores:
        print(f"nrep: warning: threads={threads} is more than the {cores} cores this process may use; "
              f"the run will be slower, not faster (threads={cores} or fewer)", file=sys.stderr)


def check_sizes(composed: Sequence[ComposedJob]) -> None:
    """Refuse method settings a loop's size makes impossible (e.g. more slow modes than beads), and a loop
    beyond this build's size or this machine's memory, before any run starts."""
    from nrep.core.run.sizes import check_loop_size

    for job in composed:
        job.typed.method.check_size(job.typed.system.n, job.typed.system.name)
        check_loop_size(job.typed)


def check_structures(composed: Sequence[ComposedJob]) -> None:
    """Find (or download) and prepare each protein once before any run starts.

    A missing file, an unknown id, a malformed structure or an unsupported residue is
    then one line and exit code 2, with nothing written; the download lands in the cache
    that the runs read.
    """
    from nrep.core.systems.protein import locate_and_prepare, source_name, structure_settings

    for job in composed:  # a structure is prepared once per process (memoised), however many jobs use it
        typed = job.typed
        source, prepared = locate_and_prepare(typed.system.pdb, **structure_settings(typed.system))
        typed.method.check_size(prepared.positions_nm.shape[0], source_name(source))


def run_command(command: str, argv: Sequence[str]) -> int:
    """``nrep loop|fold ARGV``: the exit code."""
    return launch_command(command, argv)[0]


def launch_command(command: str, argv: Sequence[str]) -> tuple[int, Path | None]:
    """``nrep loop|fold ARGV``: the exit code and the directory written (the run's or the sweep's; None: nothing run)."""
    inv, args = build_invocation(command, argv)
    if args.help:
        from nrep.cli.help import command_help

        print(command_help(command, COMMANDS[command]))
        return 0, None
    if args.debug:
        os.environ["NREP_DEBUG"] = "1"
        os.environ["HYDRA_FULL_ERROR"] = "1"
    from nrep.configs.compose import compose_jobs

    composed = compose_jobs([*inv.injected, *inv.overrides], inv.multirun, command)
    os.environ["NREP_COMMAND_LINE"] = " ".join(["nrep", command, *argv])

    from nrep.cli.app import launch, problems

    if inv.info_only:
        return launch(inv.hydra_argv()), None
    from nrep.cli.launchers import check_parallel_threads
    from nrep.core.io.files import remove_run_files
    from nrep.core.io.locks import locked

    target = output_dir(inv, composed)
    key = "hydra.sweep.dir" if inv.multirun else "hydra.run.dir"
    if key not in _override_keys([*inv.injected, *inv.overrides]):  # ${now:...} resolves again at launch: pin it
        inv.injected.append(f"{key}={_quoted(str(target))}")
    from nrep.core.runtime import available_cores

    cores = available_cores()
    with locked(target):  # before anything is written: a second nrep into the same directory is refused
        check_parallel_threads(composed, cores)
        check_devices_and_threads(composed, cores)
        check_output_dirs(inv, composed)
        if command == "fold":
            check_structures(composed)
        else:
            check_sizes(composed)
        if inv.overwrite or any(job.typed.output.overwrite for job in composed):
            remove_run_files(target)  # the earlier run's files, once every check has passed; never a user's
        if inv.multirun:
            from nrep.cli.sweep import sweep_stop

            with sweep_stop(target) as stop:  # the jobs this process runs share it; the others poll its file
                code = launch(inv.hydra_argv())
            if stop.asked():
                from collections import Counter

                counts = ", ".join(f"{n} {what}" for what, n in sorted(Counter(what for _, what in problems).items()))
                print(f"nrep: the sweep in {target} was stopped ({counts}); continue it with: nrep resume {target}",
                      file=sys.stderr)
                return code, target
        else:
            code = launch(inv.hydra_argv())
    if code and len(problems) == 1:  # the run's log line went to stdout; the error belongs on stderr too
        run_dir, what = problems[0]
        print(f"nrep: the run in {run_dir} did not end with status ok: {what}", file=sys.stderr)
    elif code and problems:
        print(f"nrep: {len(problems)} runs did not end with status ok:", file=sys.stderr)
        for run_dir, what in problems:
            print(f"  {run_dir}: {what}", file=sys.stderr)
    return code, target


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("nrep")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def top_help() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: nrep <command> [options] [Hydra flags] [key=value ...]",
        "",
        "nrep minimises molecular energies by optimising a reparametrisation X = f(Z)",
        "(slow Hessian modes, or a graph neural network over them), then the coordinates.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()),
        "",
        "options:",
        "  -h, --help  show this help",
        "  --version   show nrep's version",
        "",
        "`nrep <command> --help` lists a command's options, config groups and defaults.",
        "Examples: nrep loop energy=pure_lj system.n=400 method=gd seed=0",
        "          nrep fold --pdb 2JOF -m method=gd,cg,gnn seed=0,1,2",
        "          nrep report results/2JOF",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if not debug:  # a log line that cannot be written (a full disk) is not worth a traceback on screen
        import logging

        logging.raiseExceptions = False
    try:
        if not argv or argv[0] in ("-h", "--help"):
            print(top_help())
            return 0
        if argv[0] == "--version":
            print(f"nrep {_version()}")
            return 0
        if argv[0] not in COMMANDS:
            raise NrepError(f"unknown command '{argv[0]}'; use one of: {', '.join(COMMANDS)} (see nrep --help)")
        if argv[0] == "report":
            from nrep.cli.report import run_report

            return run_report(argv[1:])
        if argv[0] == "resume":
            from nrep.cli.resume import run_resume

            return run_resume(argv[1:])
        if argv[0] in ("ls", "show"):
            from nrep.cli.inspect import run_ls, run_show

            return (run_ls if argv[0] == "ls" else run_show)(argv[1:])
        return run_command(argv[0], argv[1:])
    except NrepError as error:
        if debug:
            raise
        print(f"nrep: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nrep: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
