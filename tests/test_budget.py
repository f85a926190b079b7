"""benchmarks/budget.py (the step-budget study of issue 21): bad input is refused with a message that says what to give."""
import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("budget", Path(__file__).parents[1] / "benchmarks" / "budget.py")
budget = importlib.util.module_from_spec(spec)
spec.loader.exec_module(budget)


@pytest.mark.parametrize("argv, says", [
    (["--preset", "smoke", "--methods", "nope"], "unknown methods ['nope']"),
    (["--preset", "smoke", "--fractions", "1,half"], "comma-separated numbers"),
    (["--preset", "smoke", "--fractions", "1,2"], "each must lie in (0, 1]"),
    (["--preset", "smoke", "--zoos", "tasks"], "recipe:net"),
])
def test_bad_arguments_are_refused_with_what_to_give(argv, says, capsys):
    with pytest.raises(SystemExit) as exc:
        budget.main(argv)
    assert exc.value.code == 2
    assert says in capsys.readouterr().err
