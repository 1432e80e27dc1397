"""The fixed-seed runs of benchmarks/fixed_seeds.py still give their recorded numbers."""

import json

import pytest


# float64 cases: the same numbers here and on another CPU of this kind; the script itself
# compares every case bit for bit
@pytest.mark.parametrize("name", ["loop-gd-sgd-float64", "protein-gd-fire-float64"])
def test_a_fixed_seed_run_gives_its_recorded_numbers(tmp_path, fixed_seeds, name):
    expected = json.loads(fixed_seeds.REFERENCE.read_text())[name]
    found = fixed_seeds.run_case(name, tmp_path)
    assert {k: v for k, v in found.items() if k != "energy_final_exact"} == {
        k: v for k, v in expected.items() if k != "energy_final_exact"
    }
    assert found["energy_final_exact"] == pytest.approx(expected["energy_final_exact"], rel=1e-9)


def test_the_script_reports_a_changed_number(tmp_path, fixed_seeds, capsys):
    reference = json.loads(fixed_seeds.REFERENCE.read_text())
    reference["loop-gd-sgd-float64"]["energy_final_exact"] += 1e-12
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(reference))
    assert fixed_seeds.main(["--only", "loop-gd-sgd-float64", "--reference", str(moved)]) == 1
    assert "CHANGED: energy_final_exact" in capsys.readouterr().out
