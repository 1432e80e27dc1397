"""``nrep ls DIR...`` (one line per run) and ``nrep show RUN_DIR`` (one run in full), from the summaries alone.

Both read JSON and file names only: they import neither torch nor pandas, so they answer
at once however large the results are.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from nrep.core.errors import NrepError

LS_USAGE = """usage: nrep ls [DIR...] [--debug]

One line per run below the directories (default: results/): status, system, method and
optimiser, seed, final energy with its unit, wall time, and the run directory.

options:
  --debug  show tracebacks"""

SHOW_USAGE = """usage: nrep show RUN_DIR [--debug]

One run in full: status and stop reason, system, method, seed, energies, structure
quality, steps, times, the files it wrote, and the command that resumes it.

options:
  --debug  show tracebacks"""


def _number(value: Any, digits: int = 6) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "–" if value is None else str(value)
    return "nan" if isinstance(value, float) and math.isnan(value) else f"{value:.{digits}g}"


def _where(run_dir: str) -> str:
    """A run directory relative to the working directory when it lies below it."""
    path = Path(run_dir)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _system(run: dict[str, Any]) -> str:
    return str(run.get("pdb") or run.get("system") or run.get("cfg.system.name") or "?")


def _method(run: dict[str, Any]) -> str:
    method = run.get("method") or run.get("cfg.method.name") or "?"
    optim = run.get("optim")
    return f"{method}-{optim}" if optim else str(method)


def ls_line(run: dict[str, Any]) -> str:
    """One run as one line: status, system, method, seed, energy, time, directory."""
    seed = run.get("seed", run.get("cfg.seed"))
    energy = run.get("energy_final_exact")
    unit = run.get("energy_unit", "")
    energy_text = f"E={_number(energy)} {unit}".rstrip() if energy is not None else "E=–"
    time_s = run.get("time_total_s")
    time_text = f"{time_s:.1f} s" if isinstance(time_s, (int, float)) else "–"
    return (f"{run.get('status', '?'):<11} {_system(run):<8} {_method(run):<16} seed={_number(seed):<4} "
            f"{energy_text:<28} {time_text:>9}  {_where(run['run_dir'])}")


def run_ls(argv: Sequence[str]) -> int:
    args = [a for a in argv if a != "--debug"]
    if any(a in ("-h", "--help") for a in args):
        print(LS_USAGE)
        return 0
    unknown = [a for a in args if a.startswith("-")]
    if unknown:
        raise NrepError(f"unknown option {unknown[0]} for `nrep ls`; usage: nrep ls [DIR...]")
    from nrep.core.io.runs import find_runs

    directories = [Path(a) for a in args] or [Path("results")]
    runs = sorted(find_runs(directories), key=lambda run: run["run_dir"])
    if not runs:
        raise NrepError(f"no runs below {', '.join(map(str, directories))} (no summary.json)")
    for run in runs:
        print(ls_line(run))
    counts: dict[str, int] = {}
    for run in runs:
        counts[str(run.get("status"))] = counts.get(str(run.get("status")), 0) + 1
    print(f"{len(runs)} run{'s' if len(runs) != 1 else ''}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return 0


def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    if size < 1024:
        return f"{size:.0f} B"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


def show_lines(run: dict[str, Any], run_dir: Path) -> list[str]:
    """The lines of ``nrep show``: label, then value."""
    unit = run.get("energy_unit", "")
    rows: list[tuple[str, str]] = [("run", _where(str(run_dir)))]
    status = str(run.get("status", "?"))
    reason = run.get("stop_reason")
    rows.append(("status", f"{status} ({reason})" if reason and reason != status else status))
    if run.get("error"):
        rows.append(("error", str(run["error"])))
    if "n_particles" in run:
        system = f"{_system(run)}, {run['n_particles']} particles"
        if run.get("n_residues"):
            system += f", {run['n_residues']} residues (chain {run.get('chain')}, start {run.get('start')})"
        rows.append(("system", f"{system}; energy {run.get('energy_model')} ({unit})"))
    if "method" in run:
        optim = f", optim {run.get('optim') or 'its own'}" if "optim" in run else ""
        rows.append(("method", f"{run['method']}{optim}, seed {run.get('seed')}"))
    if "energy_final_exact" in run:
        rows.append(("energy", f"start {_number(run.get('energy_initial_exact'))}, final {_number(run.get('energy_final_exact'))}, "
                               f"best {_number(run.get('energy_best'))} {unit}"))
    if "rmsd_ca_A" in run:
        rows.append(("RMSD", ", ".join(f"{name} {_number(run.get(f'rmsd_{name}_A'), 3)} Å"
                                       for name in ("ca", "backbone", "heavy", "all") if f"rmsd_{name}_A" in run)))
    if "loop_closure" in run:
        rows.append(("loop", f"closure {_number(run['loop_closure'], 3)}, stuck pairs {run.get('stuck_pairs')}"))
    if "steps_total" in run:
        stages = [key[len("steps_"):] for key in run if key.startswith("steps_") and key != "steps_total"]
        per_stage = ", ".join(f"{stage} {run[f'steps_{stage}']} ({run.get(f'stop_reason_{stage}')})" for stage in stages)
        rows.append(("steps", f"{run['steps_total']}" + (f": {per_stage}" if per_stage else "")))
    if "time_total_s" in run:
        rows.append(("time", f"method {_number(run.get('time_method_s'), 4)} s, set-up {_number(run.get('time_setup_s'), 3)} s, "
                             f"total {_number(run.get('time_total_s'), 4)} s"))
    if "device" in run or "threads" in run:
        rows.append(("device", f"{run.get('device', '?')}, {run.get('threads', '?')} threads, {run.get('dtype', '?')}"))
    for key in ("started_at", "finished_at"):
        if key in run:
            rows.append((key.split("_")[0], str(run[key])))
    files = sorted(p for p in run_dir.iterdir() if p.is_file())
    rows.append(("files", ", ".join(f"{p.name} ({_size(p)})" for p in files) or "none"))
    from nrep.core.io.files import CHECKPOINT

    if (run_dir / CHECKPOINT).is_file():
        rows.append(("resume", f"nrep resume {_where(str(run_dir))}"))
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def run_show(argv: Sequence[str]) -> int:
    args = [a for a in argv if a != "--debug"]
    if any(a in ("-h", "--help") for a in args) or not args:
        print(SHOW_USAGE)
        return 0 if args else 2
    if len(args) > 1 or args[0].startswith("-"):
        raise NrepError(f"nrep show takes one run directory (got {' '.join(args)}); nrep ls DIR lists several")
    from nrep.core.io.files import SUMMARY
    from nrep.core.io.runs import find_runs, read_summary, unfinished

    run_dir = Path(args[0])
    if not run_dir.is_dir():
        raise NrepError(f"{run_dir}: no such directory; give a run directory (nrep ls results/ lists them)")
    if (run_dir / SUMMARY).is_file():
        run = read_summary(run_dir / SUMMARY)
    elif (run_dir / ".hydra").is_dir():
        run = unfinished(run_dir.resolve())
    else:
        inside = find_runs([run_dir])
        hint = f"it holds {len(inside)} runs: nrep ls {run_dir}" if inside else "it holds no run"
        raise NrepError(f"{run_dir} is not a run directory (no summary.json); {hint}")
    for line in show_lines(run, run_dir.resolve()):
        print(line)
    return 0


