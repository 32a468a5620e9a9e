"""Every recipe family gives, on today's code, the numbers it gave before the move onto the engine
(on the CPU the golden file was recorded on: see tests/train/engine_cases.py).

On a CPU with no golden files of its own the check is the portable one: the teacher-forced values
of the MLE phase (training loss and NLL-test, no sampling in them) within a relative 2e-3 of
another CPU's files, and the untrained model's NLL-oracle within 1e-5. Across the two CPUs that
have files the largest gap is 4.6e-4 (``test_the_portable_check_holds_between_the_recorded_cpus``);
a changed initialisation, loss or evaluation moves these values by far more.
"""

import json

import pytest

from tests.train.engine_cases import CASES, GOLDEN, cpu_signature, golden_file, run_case

PORTABLE_REL = 2e-3  # MLE-phase training loss and NLL-test across CPUs (largest seen: 4.6e-4)
UNTRAINED_REL = 1e-5  # NLL-oracle of the untrained generator (largest seen: 6.7e-8)


def portable_mismatches(got: dict, expected: dict) -> list[str]:
    """The MLE-phase values of ``got`` that are farther from ``expected`` than rounding on another
    CPU explains (empty: they agree)."""
    bad = []
    pairs = [(a, b) for a, b in zip(got["metrics"], expected["metrics"]) if b.get("phase") == "mle"]
    if not pairs:
        return ["no MLE-phase record to compare"]
    for a, b in pairs:
        checks = {"train_loss": PORTABLE_REL, "nll_test": PORTABLE_REL}
        if b.get("step") == 0:
            checks["nll_oracle"] = UNTRAINED_REL
        for key, rel in checks.items():
            if isinstance(b.get(key), float) and a.get(key) != pytest.approx(b[key], rel=rel):
                bad.append(f"mle step {b.get('step')} {key}: {a.get(key)} against {b[key]}")
    return bad


def other_cpu_files(case: str) -> list:
    return sorted(p for p in GOLDEN.glob(f"*/{case}.json") if p.parent.name != cpu_signature())


@pytest.mark.parametrize("case", CASES)
def test_same_numbers_as_before_the_engine(case, tmp_path):
    path = golden_file(case)
    others = other_cpu_files(case)
    if not path.is_file() and not others:
        pytest.skip(f"no golden numbers for {case}: record them with `python -m tests.train.engine_cases --record` "
                    "on a known-good commit")
    got = json.loads(json.dumps(run_case(case, tmp_path)))  # tuples -> lists, as the golden file
    if not path.is_file():  # another CPU's numbers: the portable check
        expected = json.loads(others[0].read_text())
        if case == "adm":
            pytest.skip(f"no golden numbers for this CPU ({cpu_signature()}) and the ADM case has no MLE phase: "
                        "record them with `python -m tests.train.engine_cases --record` on a known-good commit")
        assert portable_mismatches(got, expected) == [], others[0].parent.name
        return
    expected = json.loads(path.read_text())
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key


@pytest.mark.parametrize("case", ["seqgan", "leakgan", "pipeline"])
def test_the_portable_check_holds_between_the_recorded_cpus(case):
    files = sorted(GOLDEN.glob(f"*/{case}.json"))
    assert len(files) >= 2, "two CPUs' files are needed to check the portable tolerance"
    first = json.loads(files[0].read_text())
    for other in files[1:]:
        assert portable_mismatches(json.loads(other.read_text()), first) == [], other.parent.name


def test_the_portable_check_catches_a_changed_loss():
    expected = json.loads(golden_file("seqgan", "AVX2").read_text())
    got = json.loads(json.dumps(expected))
    got["metrics"][2]["train_loss"] *= 1.01  # a 1 % change in one epoch's loss
    assert portable_mismatches(got, expected) == [f"mle step 2 train_loss: {got['metrics'][2]['train_loss']} "
                                                  f"against {expected['metrics'][2]['train_loss']}"]
