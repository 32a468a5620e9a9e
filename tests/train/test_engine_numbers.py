"""Every recipe family gives, on today's code, the numbers it gave before the move onto the engine
(on the CPU the golden file was recorded on: see tests/train/engine_cases.py)."""

import json

import pytest

from tests.train.engine_cases import CASES, cpu_signature, golden_file, run_case


@pytest.mark.parametrize("case", CASES)
def test_same_numbers_as_before_the_engine(case, tmp_path):
    path = golden_file(case)
    if not path.is_file():
        pytest.skip(f"no golden numbers for this CPU ({cpu_signature()}): "
                    "record them with `python -m tests.train.engine_cases --record` on a known-good commit")
    expected = json.loads(path.read_text())
    got = json.loads(json.dumps(run_case(case, tmp_path)))  # tuples -> lists, as the golden file
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key
