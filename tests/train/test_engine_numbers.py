"""Every recipe family gives, on today's code, the numbers it gave before the move onto the engine."""

import json

import pytest

from tests.train.engine_cases import CASES, GOLDEN, run_case


@pytest.mark.parametrize("case", CASES)
def test_same_numbers_as_before_the_engine(case, tmp_path):
    expected = json.loads((GOLDEN / f"{case}.json").read_text())
    got = json.loads(json.dumps(run_case(case, tmp_path)))  # tuples -> lists, as the golden file
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key
