"""Every bug of tests/rl/mutations.py, injected into a copy of the package, fails its quick test.

In process (a subprocess per mutation costs 5-20 s); ``python -m tests.rl.mutations`` runs the
full check, each mutation against all of its test files in a fresh interpreter.
"""

import dataclasses

import pytest

from tests.rl.mutations import MUTATIONS, caught_in_process


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_injected_bug_fails_a_test(mutation, tmp_path):
    failed = caught_in_process(mutation, tmp_path)
    assert failed, f"{mutation.name} survived {mutation.quick}: {mutation.what}"


def test_the_unmutated_package_passes_the_quick_tests(tmp_path):
    """The same machinery without a mutation: nothing fails (else the check above means nothing)."""
    for i, m in enumerate(MUTATIONS):
        identity = dataclasses.replace(m, new=m.old)
        assert caught_in_process(identity, tmp_path / str(i)) == [], m.name
