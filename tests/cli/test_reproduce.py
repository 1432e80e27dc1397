"""Every `make reproduce-*` target names presets that exist and resolve, full and QUICK."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nrep.configs.compose import compose, expand_sweeps, preset_sweep, validate

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {"fig2": "loop", "fig3": "loop", "fig4": "fold", "fig5": "fold", "fig6": "fold", "fig8": "fold"}
PARTS = re.compile(r"for part in ([^;]+);")
SWEEP = re.compile(r"nrep (loop|fold) -m experiment=(fig\d+)/\$\{part\}(_quick)?(?: --pdb (\S+))?")


def planned_sweeps(figure: str, quick: bool) -> list[tuple[str, str, str | None]]:
    """(command, preset, --pdb) of each sweep the target would run, from `make -n`."""
    args = ["make", "-n", "-C", str(ROOT), f"reproduce-{figure}"] + (["QUICK=1"] if quick else [])
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    parts = PARTS.search(text).group(1).split()
    return [(command, f"{fig}/{part}{suffix}", pdb or None) for command, fig, suffix, pdb in SWEEP.findall(text) for part in parts]


def jobs(command: str, preset: str, pdb: str | None) -> list[list[str]]:
    overrides = [f"experiment={preset}"] + (["system=protein"] if command == "fold" else [])
    overrides += [f"system.pdb={pdb}"] if pdb else []
    return expand_sweeps(preset_sweep(overrides, command) + overrides, limit=1000)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("quick", [True, False], ids=["quick", "full"])
@pytest.mark.parametrize("figure", sorted(FIGURES))
def test_each_target_resolves_its_configs(figure, quick):
    sweeps = planned_sweeps(figure, quick)
    assert sweeps, f"reproduce-{figure} runs no sweep"
    for command, preset, pdb in sweeps:
        assert command == FIGURES[figure] and preset.startswith(f"{figure}/")
        assert preset.endswith("_quick") == quick
        planned = jobs(command, preset, pdb or None)
        first = validate(compose(planned[0], command=command))  # what `--cfg job` prints for the first job
        assert first.system.name == ("loop" if command == "loop" else "protein")
        if quick:  # small enough for a laptop: few jobs, each capped
            assert len(planned) <= 12 and (first.time_budget_s or 0) <= 90 or first.method.name.startswith("openmm")


def test_quick_fig4_uses_the_two_smallest_proteins_and_full_fig4_all_five():
    quick = {tuple(sorted({j for job in jobs("fold", p, None) for j in job if j.startswith("system.pdb")}))
             for _, p, _ in planned_sweeps("fig4", True)}
    assert quick == {("system.pdb=1PLW", "system.pdb=5AWL")}
    full = jobs("fold", "fig4/gnn", None)
    assert len(full) == 15  # five proteins x three seeds
    proteins = {f"system.pdb={p}" for p in ("2JOF", "1UNC", "1PLW", "5AWL", "2WXC")}
    assert {j for job in full for j in job if j.startswith("system.pdb")} == proteins
    assert validate(compose(full[0], command="fold")).method.hidden_dims == [300]
    assert ("fold", "fig4/gd", "3GB1") in planned_sweeps("fig4", False)  # fetched when it can be


def test_command_line_values_win_over_a_presets_sweep():
    planned = jobs("loop", "fig2/layouts_quick", None)
    assert len(planned) == 6
    given = ["experiment=fig2/layouts_quick", "seed=3,4"]
    planned = expand_sweeps(preset_sweep(given, "loop") + given)
    assert len(planned) == 12 and {j for job in planned for j in job if j.startswith("seed")} == {"seed=3", "seed=4"}
