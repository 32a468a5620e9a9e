"""Mutation check of the reward and loss tests (issue 14, item 4).

Each mutation below injects one known kind of wrong reward or loss into a temporary copy of the
package (source patching: the copy is put first on ``PYTHONPATH``; the working tree is never
touched), runs the tests that should catch it, and reports which tests failed. A mutation that
no test catches "survives"; the script then exits non-zero.

    python -m tests.rl.mutations                 # every mutation
    python -m tests.rl.mutations --list          # their names
    python -m tests.rl.mutations manager_sign_loss rollout_one_step_early   # some of them
    python -m tests.rl.mutations --first         # stop each run at its first failing test (faster)
    python -m tests.rl.mutations --quick --jobs 2   # each mutation against its one quick test

The unmutated copy is run first (the tests must pass there, or the check means nothing).
``tests/rl/test_mutations.py`` runs the quick form of every mutation in the default suite.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

EXACT = "tests/rl/test_reward_exact.py"
LOSSES = "tests/rl/test_leakgan_losses.py"
LEAKGAN_REWARDS = "tests/rl/test_leakgan_rewards.py"
ROLLOUT = "tests/rl/test_rollout.py"
KL = "tests/rl/test_kl.py"
HF = "tests/models/test_hf.py"
MALIGAN = "tests/rl/test_maligan.py"
RANKGAN = "tests/rl/test_rankgan.py"


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` (which must occur exactly once) by ``new`` in ``file``; ``tests`` should catch it,
    and ``quick`` (one test id among them) alone does, in a few seconds."""

    name: str
    what: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    quick: str


MUTATIONS = (
    Mutation("block_reward_columns", "LeakGAN block rewards: the rollout values stored in the wrong (reversed) columns",
             "textgan/rl/leakgan.py",
             "out[:, k] = score(seqs).view(num_rollouts, B).mean(dim=0)",
             "out[:, len(given) - 1 - k] = score(seqs).view(num_rollouts, B).mean(dim=0)",
             (EXACT, LEAKGAN_REWARDS),
             LEAKGAN_REWARDS + "::test_block_rewards_complete_prefixes_every_c_steps"),
    Mutation("block_reward_token_columns", "LeakGAN per-token rewards: each block's value given to the next block's tokens",
             "textgan/rl/leakgan.py",
             "return scaled.repeat_interleave(step_size, dim=1)[:, :tokens.size(1)]",
             "return scaled.roll(1, dims=1).repeat_interleave(step_size, dim=1)[:, :tokens.size(1)]",
             (EXACT, LEAKGAN_REWARDS),
             EXACT + "::test_block_rewards_of_a_stateful_policy_equal_the_exact_expectation"),
    Mutation("manager_sign_loss", "LeakGAN loss: the Manager's term added with the wrong sign",
             "textgan/rl/leakgan.py", "    return manager + worker\n", "    return -manager + worker\n",
             (LOSSES, LEAKGAN_REWARDS),
             LOSSES + "::test_leakgan_loss_equals_the_hand_computed_value"),
    Mutation("manager_sign_per_position", "Manager goal loss (per position): sign flipped",
             "textgan/models/leakgan.py", "return -cos.sum() / (B * nb)", "return cos.sum() / (B * nb)",
             (LOSSES, LEAKGAN_REWARDS),
             LOSSES + "::test_per_position_manager_loss_by_hand"),
    Mutation("manager_sign_batch_mean", "Manager goal loss (batch-mean form): sign flipped",
             "textgan/rl/leakgan.py", "return -q * cos.mean()", "return q * cos.mean()", (LOSSES,),
             LOSSES + "::test_batch_mean_manager_loss_by_hand"),
    Mutation("rollout_one_step_early", "LeakGAN rollouts start one step early (the prefix's last token is redrawn)",
             "textgan/rl/leakgan.py", "given = [int(e) for e in ends[:-1]]", "given = [int(e) - 1 for e in ends[:-1]]",
             (EXACT, LEAKGAN_REWARDS),
             EXACT + "::test_block_rewards_of_a_stateful_policy_equal_the_exact_expectation"),
    Mutation("seqgan_rollout_one_step_early", "SeqGAN rollouts write each draw one position early (over the prefix)",
             "textgan/rl/rollout.py", "completions[:p * group, p] = last_tokens",
             "completions[:p * group, p - 1] = last_tokens", (EXACT, ROLLOUT),
             ROLLOUT + "::test_deterministic_policy_gives_identical_exact_rewards"),
    Mutation("manager_state_other_row", "LeakGAN rollouts: each row continues with another row's Manager state",
             "textgan/models/leakgan.py", "manager=pick(self.manager),",
             "manager=tuple(s.index_select(1, index.roll(1)) for s in self.manager),", (EXACT, LEAKGAN_REWARDS),
             EXACT + "::test_leakgan_state_reordering_keeps_each_rows_manager_and_worker"),
    Mutation("seqgan_state_other_row", "SeqGAN rollouts: completions continued from another row's state",
             "textgan/rl/rollout.py", "rollout_policy.reorder_state(prefix_states[p - 1], repeat_rows)",
             "rollout_policy.reorder_state(prefix_states[p - 1], repeat_rows.roll(1))", (EXACT, ROLLOUT),
             EXACT + "::test_seqgan_rewards_of_a_stateful_policy_equal_the_exact_expectation"),
    Mutation("kl_this_token_only", "KL penalty: each reward pays only its own token's KL, not the KL still to come",
             "textgan/rl/kl.py", "to_come = kl.flip(1).cumsum(1).flip(1)", "to_come = kl", (KL,),
             KL + "::test_each_reward_pays_for_the_kl_still_to_come"),
    Mutation("kl_sign", "KL penalty: the KL is added to the rewards instead of subtracted",
             "textgan/rl/kl.py", "penalised = rewards - beta * to_come", "penalised = rewards + beta * to_come", (KL,),
             KL + "::test_each_reward_pays_for_the_kl_still_to_come"),
    Mutation("transformer_cache_other_row", "transformer rollouts: cache rows taken in order instead of the selected rows",
             "textgan/models/hf.py",
             "return tuple((k.index_select(0, index), v.index_select(0, index)) for k, v in state)",
             "return tuple((k[:len(index)], v[:len(index)]) for k, v in state)", (HF,),
             HF + "::test_rollout_rewards_with_the_cache_equal_those_without_it"),
    Mutation("maligan_no_normalisation", "MaliGAN: the ratios D / (1 - D) used without dividing by their sum",
             "textgan/rl/maligan.py",
             "w = torch.softmax(logits.float().view(B // group_size, group_size), dim=1).reshape(B)",
             "w = logits.float().exp().reshape(B)", (MALIGAN,),
             MALIGAN + "::test_whole_batch_weights_by_hand"),
    Mutation("maligan_no_baseline", "MaliGAN: the baseline (the mean weight) not subtracted",
             "textgan/rl/maligan.py", "return w - 1.0 / group_size if baseline else w", "return w", (MALIGAN,),
             MALIGAN + "::test_whole_batch_weights_by_hand"),
    Mutation("maligan_ratio_is_d", "MaliGAN: D normalised instead of D / (1 - D) (Texygen's MaliganReward.py)",
             "textgan/rl/maligan.py", "return torch.log(p) - torch.log1p(-p)", "return torch.log(p)", (MALIGAN,),
             MALIGAN + "::test_whole_batch_weights_by_hand"),
    Mutation("maligan_prefix_without_mle", "MaliGAN mixed MLE: the real prefix gets no maximum-likelihood weight",
             "textgan/rl/maligan.py", "rewards[:, :min(prefix, T)] = 1.0 / B", "rewards[:, :min(prefix, T)] = 0.0",
             (MALIGAN,), MALIGAN + "::test_mixed_mle_prefix_gets_mle_weight_and_groups_normalise_separately"),
    Mutation("maligan_groups_ignored", "MaliGAN mixed MLE: weights normalised over the batch, not per prefix",
             "textgan/rl/maligan.py", "importance_weights(log_odds(discriminator, tokens), group_size or B, baseline)",
             "importance_weights(log_odds(discriminator, tokens), B, baseline)", (MALIGAN,),
             MALIGAN + "::test_mixed_mle_prefix_gets_mle_weight_and_groups_normalise_separately"),
    Mutation("ranker_loss_sign", "RankGAN ranker objective: real and generated terms with the wrong sign",
             "textgan/models/ranker.py",
             "return -(log_r * real).sum() / real.sum().clamp(min=1) + (log_r * fake).sum()",
             "return (log_r * real).sum() / real.sum().clamp(min=1) - (log_r * fake).sum()", (RANKGAN,),
             RANKGAN + "::test_ranker_loss_by_hand"),
    Mutation("rank_no_gamma", "RankGAN rank score: gamma left out of the sentence's own term",
             "textgan/models/ranker.py", "a_s = gamma * (s @ u.t())  # (B, K)", "a_s = s @ u.t()  # (B, K)",
             (RANKGAN,), RANKGAN + "::test_rank_score_by_hand"),
    Mutation("rank_sentence_not_in_its_softmax", "RankGAN rank score: the sentence missing from its own softmax",
             "textgan/models/ranker.py", "log_p = a_s - torch.logaddexp(a_s, rest)", "log_p = a_s - rest",
             (RANKGAN,), RANKGAN + "::test_rank_score_by_hand"),
    Mutation("rank_sum_over_references", "RankGAN rank score: summed, not averaged, over the reference set",
             "textgan/models/ranker.py", "return torch.logsumexp(log_p, dim=1) - math.log(u.size(0))",
             "return torch.logsumexp(log_p, dim=1)", (RANKGAN,), RANKGAN + "::test_rank_score_by_hand"),
    Mutation("rank_comparison_same_label", "RankGAN training: sentences compared with their own side, not the other",
             "textgan/models/ranker.py", "c_mask=real.unsqueeze(1) != real.unsqueeze(0)",
             "c_mask=real.unsqueeze(1) == real.unsqueeze(0)", (RANKGAN,),
             RANKGAN + "::test_training_compares_real_with_generated_and_generated_with_real"),
    Mutation("rank_reward_log_swapped", "RankGAN reward: log R given where R is asked for (and back)",
             "textgan/rl/rankgan.py", "return log_r if log else log_r.exp()", "return log_r.exp() if log else log_r",
             (RANKGAN,), RANKGAN + "::test_rank_reward_is_the_expected_rank_score"),
)


def copy_tree(dest: Path) -> None:
    """The package, the tests, the recipes and the pytest configuration, without caches."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(ROOT / "textgan", dest / "textgan", ignore=ignore)
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "golden"))
    shutil.copytree(ROOT / "recipes", dest / "recipes", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")


def apply(dest: Path, m: Mutation) -> None:
    path = dest / m.file
    text = path.read_text(encoding="utf-8")
    if text.count(m.old) != 1:
        raise ValueError(f"mutation {m.name}: {m.old!r} occurs {text.count(m.old)} times in {m.file} "
                         "(the code changed: update the mutation in tests/rl/mutations.py)")
    path.write_text(text.replace(m.old, m.new), encoding="utf-8")


def run_tests(dest: Path, tests: tuple[str, ...], first: bool) -> tuple[int, list[str], str]:
    """(exit code, failed test ids, output tail) of pytest on ``tests`` inside ``dest``."""
    env = dict(os.environ, PYTHONPATH=str(dest) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE", "--no-header",
           *(["-x"] if first else []), *tests]
    proc = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    failed = sorted(set(re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M)))
    return proc.returncode, failed, out[-2000:]


def check(names: list[str] | None = None, first: bool = False, quick: bool = False, baseline: bool = True,
          jobs: int = 1, verbose: bool = True) -> dict[str, list[str]]:
    """Run the baseline and the chosen mutations; returns ``{mutation name: failed tests}``.

    ``quick`` runs only each mutation's ``quick`` test; ``baseline=False`` skips the unmutated
    run (when the caller's own test run covers it); ``jobs`` mutations run at a time.
    """
    chosen = [m for m in MUTATIONS if names is None or m.name in names]
    unknown = set(names or []) - {m.name for m in MUTATIONS}
    if unknown:
        raise SystemExit(f"unknown mutations: {sorted(unknown)}; see --list")
    say = print if verbose else (lambda *a, **k: None)
    results: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="textgan-mutations-") as tmp:
        base = Path(tmp) / "base"
        copy_tree(base)
        if baseline:
            tests = tuple(sorted({t for m in chosen for t in ((m.quick,) if quick else m.tests)}))
            t0 = time.time()
            code, failed, tail = run_tests(base, tests, first=False)
            if code != 0:
                raise SystemExit(f"the unmutated tests fail ({failed}); fix them first:\n{tail}")
            say(f"baseline: {', '.join(tests)} pass ({time.time() - t0:.0f} s)")

        def one(m: Mutation) -> tuple[Mutation, list[str], float]:
            work = Path(tmp) / m.name
            shutil.copytree(base, work)
            apply(work, m)
            t0 = time.time()
            code, failed, tail = run_tests(work, (m.quick,) if quick else m.tests, first)
            if code != 0 and not failed:  # a crash before any test ran (an import error) counts as caught, but say so
                last = tail.strip().splitlines()[-1] if tail.strip() else ""
                failed = [f"(pytest exit {code}, no test id: {last})"]
            shutil.rmtree(work)
            return m, failed, time.time() - t0

        with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            for m, failed, seconds in pool.map(one, chosen):
                results[m.name] = failed
                say(f"{m.name}: {'caught' if failed else 'SURVIVED'} ({seconds:.0f} s) - {m.what}")
                for f in failed:
                    say(f"    {f}")
    return results


def _test_calls(fn):
    """The argument sets of a test function: one empty set, or the product of its parametrize marks."""
    calls = [{}]
    for mark in getattr(fn, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names, values = mark.args
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        values = [v if len(names) > 1 else (v,) for v in values]
        calls = [{**c, **dict(zip(names, v))} for c in calls for v in values]
    return calls


def caught_in_process(m: Mutation, workdir: Path) -> list[str]:
    """Run ``m.quick`` against a mutated copy of the package imported in this process.

    For the default test suite, where a subprocess per mutation costs too much: the ``textgan``
    modules are taken out of ``sys.modules``, the mutated copy is put first on ``sys.path``, the
    test module is loaded from its file under a private name and its quick test called (with
    every parameter set of its ``parametrize`` marks); then the original modules come back.
    The test must not need fixtures. Returns the failing calls (empty: the mutation survived).
    """
    import importlib
    import importlib.util

    shutil.copytree(ROOT / "textgan", workdir / "textgan", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    apply(workdir, m)
    file, func = m.quick.split("::")
    saved = {k: v for k, v in sys.modules.items() if k == "textgan" or k.startswith("textgan.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(workdir))
    importlib.invalidate_caches()
    failed = []
    try:
        import textgan

        if Path(textgan.__file__).resolve().parent != (workdir / "textgan").resolve():
            raise RuntimeError(f"the mutated copy was not imported ({textgan.__file__})")
        spec = importlib.util.spec_from_file_location(f"_mutated_{m.name}", ROOT / file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        fn = getattr(module, func)
        for kwargs in _test_calls(fn):
            try:
                fn(**kwargs)
            except Exception as exc:  # noqa: BLE001 - any failure (assertion or crash) catches the mutation
                failed.append(f"{m.quick}{kwargs or ''}: {type(exc).__name__}")
    finally:
        sys.path.remove(str(workdir))
        for k in [k for k in sys.modules if k == "textgan" or k.startswith("textgan.")]:
            del sys.modules[k]
        sys.modules.update(saved)
        importlib.invalidate_caches()
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--first", action="store_true", help="stop each run at its first failing test")
    parser.add_argument("--quick", action="store_true", help="run only each mutation's quick test")
    parser.add_argument("--jobs", type=int, default=1, help="mutations run at a time (default 1)")
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name}: {m.what} [{m.file}]")
        return 0
    results = check(args.names or None, first=args.first, quick=args.quick, jobs=args.jobs)
    survivors = [n for n, failed in results.items() if not failed]
    print(f"{len(results) - len(survivors)} of {len(results)} mutations caught"
          + (f"; SURVIVED: {', '.join(survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
