"""Label-conditional generation (docs/conditional.md): the generator, per-label rewards, a run end to end
with exact resume, and ``textgan generate --label / --labels``."""

import json
import signal
from pathlib import Path

import pytest
import torch

from tests.conftest import requires_corpora
from tests.train.engine_cases import outcome
from tests.train.test_resume import _run_and_kill, killed_when
from textgan import api
from textgan.cli import main
from textgan.models.conditional import ConditionalCNNDiscriminator, ConditionalLSTMGenerator
from textgan.rl.rewards import rollout_rewards
from textgan.rl.rollout import monte_carlo_rewards, prefix_order_rewards, sequential_monte_carlo_rewards

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "conditional" / "liar_cpu.yaml"
V, T, K = 10, 6, 3


def generator(seed: int = 0) -> ConditionalLSTMGenerator:
    torch.manual_seed(seed)
    return ConditionalLSTMGenerator(V, embed_dim=8, hidden_dim=8, label_dim=4, num_labels=K, max_len=T,
                                    start_token=1, pad_id=0, eos_id=2, init_std=0.5,
                                    label_names=["a", "b", "c"], label_prior=[0.5, 0.3, 0.2]).eval()


# --------------------------------------------------------------------------- (a) the generator


def test_the_label_changes_the_next_token_distribution_and_teacher_forcing_equals_stepping():
    g = generator()
    tokens = g.sample(6, labels=torch.tensor([0, 1, 2, 0, 1, 2]), generator=torch.Generator().manual_seed(0))
    by_label = [g(tokens, labels=torch.full((6,), k)) for k in range(K)]  # (B, T, V) each
    assert not torch.allclose(by_label[0], by_label[1]) and not torch.allclose(by_label[1], by_label[2])
    labels = torch.tensor([2, 0, 1, 1, 0, 2])
    forced = g(tokens, labels=labels)
    tok, state = g.initial_tokens(6), g.initial_state(labels)
    for t in range(T):
        logits, state = g.step(tok, state)
        assert torch.allclose(logits, forced[:, t], atol=1e-5)
        tok = tokens[:, t]
    # reordering a state reorders its labels with it
    index = torch.tensor([5, 0, 3])
    moved = g.reorder_state(state, index)
    assert torch.equal(moved[2], labels[index])
    both = g.concat_states([moved, g.reorder_state(state, torch.tensor([1]))])
    assert torch.equal(both[2], torch.tensor([2, 2, 1, 0]))


def test_without_labels_forward_is_the_exact_label_mixture():
    g = generator()
    tokens = g.sample(5, generator=torch.Generator().manual_seed(1))
    prior = g.label_prior
    per_label = torch.stack([g(tokens, output="log_prob", labels=torch.full((5,), k)).sum(1) for k in range(K)])
    marginal = torch.logsumexp(per_label + prior.log().unsqueeze(1), dim=0)  # log sum_k p(k) p(x | k)
    assert torch.allclose(g(tokens, output="log_prob").sum(1), marginal, atol=1e-5)
    # its "logits" are normalised log-probabilities
    assert torch.allclose(g(tokens).exp().sum(-1), torch.ones(5, T), atol=1e-5)


def test_sample_follows_its_labels_and_draws_them_from_the_prior_without():
    g = generator()
    rng = torch.Generator().manual_seed(0)
    labels = g.draw_labels(20000, rng)
    shares = torch.bincount(labels, minlength=K).float() / 20000
    assert torch.allclose(shares, g.label_prior, atol=0.02)
    a = g.sample(8, labels=torch.zeros(8, dtype=torch.long), generator=torch.Generator().manual_seed(3))
    b = g.sample(8, labels=torch.full((8,), 2), generator=torch.Generator().manual_seed(3))
    assert not torch.equal(a, b)
    with pytest.raises(ValueError, match="labels must lie"):
        g.sample(2, labels=torch.tensor([0, K]))


# --------------------------------------------------------------------------- (b) rewards per label


class ConstantPerLabel(torch.nn.Module):
    """A discriminator whose class probabilities ignore the text: P(class k) = probs[k]."""

    def __init__(self, probs: list[float]) -> None:
        super().__init__()
        self.probs = torch.tensor(probs)

    def prob_real(self, tokens, labels=None):
        p = self.probs.expand(tokens.size(0), -1)
        return 1 - p[:, -1] if labels is None else p.gather(1, labels.view(-1, 1)).squeeze(1)


class EmitsItsLabel:
    """A rollout policy that always writes token 3 + label: its state is the label alone."""

    def initial_tokens(self, n, device=None):
        return torch.ones(n, dtype=torch.long)

    def initial_state(self, labels):
        return labels

    def step(self, tokens, state):
        return torch.nn.functional.one_hot(state + 3, V).float() * 50.0, state

    def step_sample(self, tokens, state, generator=None):
        return state + 3, state

    def reorder_state(self, state, index):
        return state.index_select(0, index)

    def concat_states(self, states):
        return torch.cat(states)

    def ban_specials(self, logits):
        return logits

    def finish(self, tokens):
        return tokens


class ShareOfLabelToken:
    """P(class k | x) = share of x's tokens equal to 3 + k (the rest on "generated")."""

    def __call__(self, tokens, labels):
        return (tokens == (labels + 3).unsqueeze(1)).float().mean(1)


@pytest.mark.parametrize("fn", [monte_carlo_rewards, prefix_order_rewards, sequential_monte_carlo_rewards])
def test_each_row_is_rolled_out_and_scored_under_its_own_label(fn):
    tokens = torch.tensor([[3, 4, 5, 3, 4, 5], [4, 4, 4, 3, 3, 3], [5, 3, 5, 3, 5, 3], [3, 3, 9, 9, 9, 9]])
    labels = torch.tensor([0, 1, 2, 0])
    rewards = fn(tokens, EmitsItsLabel(), ShareOfLabelToken(), 2, generator=torch.Generator().manual_seed(0),
                 labels=labels)
    # prefix y_1..y_t, completed with token 3 + label: (matches in the prefix + T - t) / T
    expected = torch.empty(4, T)
    for b in range(4):
        for t in range(1, T + 1):
            full = torch.cat([tokens[b, :t], torch.full((T - t,), 3 + int(labels[b]))])
            expected[b, t - 1] = (full == 3 + labels[b]).float().mean()
    assert torch.allclose(rewards, expected)


def test_the_reward_of_a_text_generated_for_label_k_is_the_probability_of_class_k():
    g = generator()
    probs = [0.1, 0.5, 0.15, 0.25]  # real a, real b, real c, generated
    tokens = g.sample(6, labels=torch.tensor([0, 1, 2, 0, 1, 2]), generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    rewards = rollout_rewards(tokens, g, ConstantPerLabel(probs), num_rollouts=3,
                              generator=torch.Generator().manual_seed(1), labels=labels)
    expected = torch.tensor(probs)[labels].unsqueeze(1).expand(6, T)
    assert torch.allclose(rewards, expected)


def test_the_conditional_discriminator_scores_real_of_the_given_label():
    torch.manual_seed(0)
    d = ConditionalCNNDiscriminator(V, num_labels=K, embed_dim=8, filter_sizes=(1, 2), num_filters=(4, 4),
                                    dropout=0.0, pad_id=0).eval()
    assert d.num_classes == K + 1 and d.config()["num_labels"] == K
    tokens = torch.randint(3, V, (5, T), generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 1, 2, 1, 0])
    p = torch.softmax(d(tokens), dim=-1)
    assert torch.allclose(d.prob_real(tokens, labels=labels), p[torch.arange(5), labels])
    assert torch.allclose(d.prob_real(tokens), 1 - p[:, K])
    targets = d.class_targets(labels, torch.tensor([2, 0]))
    assert targets.tolist() == [0, 1, 2, 1, 0, K, K]
    g = generator()
    rewards = rollout_rewards(tokens, g, d, num_rollouts=2, generator=torch.Generator().manual_seed(0), labels=labels)
    assert torch.allclose(rewards[:, -1], p[torch.arange(5), labels])


# --------------------------------------------------------------------------- (c, d) runs and generation


def _labelled_file(path: Path) -> Path:
    """300 labelled texts: label "up" uses words a..e, label "down" words f..j (a few shared)."""
    rng = torch.Generator().manual_seed(0)
    words = {"up": "a b c d e x".split(), "down": "f g h i j x".split()}
    with open(path, "w") as f:
        for i in range(300):
            label = "up" if i % 3 else "down"
            n = int(torch.randint(3, 8, (1,), generator=rng))
            idx = torch.randint(0, 6, (n,), generator=rng).tolist()
            f.write(json.dumps({"text": " ".join(words[label][j] for j in idx), "label": label}) + "\n")
    return path


def _tiny(corpus: Path | None) -> list[str]:
    flags = ["mle.epochs=1", "eval.num_samples=32", "eval.every=1", "eval.every_adversarial=1",
             "eval.metrics=[nll_test]", "discriminator.embed_dim=8", "discriminator.filter_sizes=[1,2,3]",
             "discriminator.num_filters=[8,8,8]", "discriminator.pretrain_rounds=1", "discriminator.pretrain_epochs=1",
             "discriminator.num_negatives=64", "adversarial.batches=2", "adversarial.batch_size=8",
             "adversarial.num_rollouts=2", "generator.hidden_dim=16", "device=cpu", "threads=1"]
    if corpus is not None:
        flags += [f"data.corpus={corpus}", "data.tokenizer=whitespace", "data.lowercase=false", "data.min_freq=1",
                  "data.max_len=8"]
    return flags


def _sets(flags: list[str]) -> list[str]:
    return [x for f in flags for x in ("--set", f)]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow  # 40 s: a recipe smoke test, like the other recipes' (`pytest -m slow`); the parts have fast tests above
@requires_corpora
def test_the_liar_recipe_runs_end_to_end_shrunk(tmp_path):
    out = tmp_path / "run"
    flags = [*_sets(_tiny(None)), "--set", "data.max_len=12"]
    assert main(["run", str(RECIPE), "--out", str(out), "--quiet", *flags]) == 0
    adv = [r for r in records(out) if r["phase"] == "adversarial"]
    assert [r["batch"] for r in adv] == [0, 1] and all(abs(r["g_loss"]) < 1e6 for r in adv)
    config = json.loads((out / "checkpoints/last/config.json").read_text())
    assert config["args"]["label_names"] == ["pants-fire", "false", "barely-true", "half-true", "mostly-true", "true"]
    assert (out / "checkpoints/discriminator/model.safetensors").is_file()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conditional")
    corpus = _labelled_file(tmp / "labelled.jsonl")
    out = tmp / "run"
    assert main(["run", str(RECIPE), "--out", str(out), "--quiet", *_sets(_tiny(corpus))]) == 0
    return out, corpus


def test_a_conditional_run_writes_checkpoints_metrics_and_its_labels(trained):
    out, _ = trained
    kinds = [r["phase"] for r in records(out)]
    assert kinds.count("mle") == 2 and kinds.count("adversarial") == 2 and "discriminator" in kinds
    assert all(r["nll_test"] > 0 for r in records(out) if "nll_test" in r)
    config = json.loads((out / "checkpoints/last/config.json").read_text())
    assert config["kind"] == "conditional_lstm" and config["args"]["label_names"] == ["down", "up"]
    assert config["args"]["label_prior"] == pytest.approx([1 / 3, 2 / 3], abs=0.03)  # the training mix
    summary = json.loads((out / "run.json").read_text())
    assert summary["train_labels"] == {"down": pytest.approx(90, abs=10), "up": pytest.approx(180, abs=15)}


def test_a_conditional_generator_on_a_corpus_without_labels_is_refused(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("a b c\nd e f\ng h i\n")
    err = _error_of(["run", str(RECIPE), "--out", str(tmp_path / "r"), "--quiet", *_sets(_tiny(None)),
                     "--set", f"data.corpus={plain}", "--set", "data.tokenizer=whitespace"])
    assert "data.label_column" in err
    assert not (tmp_path / "r").exists()


def _error_of(argv: list[str]) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        assert main(argv) == 2
    lines = [line for line in buf.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_kill_9_then_resume_gives_the_uninterrupted_metrics(tmp_path):
    corpus = _labelled_file(tmp_path / "labelled.jsonl")
    overrides = [*_tiny(corpus), "adversarial.batches=8"]
    expected = outcome(api.train(RECIPE, out_dir=tmp_path / "whole", overrides=overrides, progress=False).path)
    out = tmp_path / "killed"
    assert _run_and_kill(RECIPE, overrides, out, killed_when("seqgan"), signal.SIGKILL) == -signal.SIGKILL
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert outcome(out) == json.loads(json.dumps(expected))


def _generated(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_one_label_a_mix_and_refuse_a_bad_label(trained, tmp_path):
    run, _ = trained
    one = tmp_path / "up.jsonl"
    assert main(["generate", str(run), "--num", "50", "--out", str(one), "--label", "up", "--quiet"]) == 0
    recs = _generated(one)
    assert len(recs) == 50 and {(r["class_label"], r["class_name"]) for r in recs} == {(1, "up")}
    assert all(r["label"] == "generated" for r in recs)
    by_index = tmp_path / "down.jsonl"
    assert main(["generate", str(run), "--num", "10", "--out", str(by_index), "--label", "0", "--quiet"]) == 0
    assert {r["class_name"] for r in _generated(by_index)} == {"down"}

    fixed = tmp_path / "fixed.jsonl"  # the torchrun layout draws its classes the same way
    assert main(["generate", str(run), "--num", "30", "--out", str(fixed), "--label", "up", "--fixed-shards",
                 "--shard-size", "16", "--quiet"]) == 0
    assert {r["class_name"] for r in _generated(fixed)} == {"up"} and len(_generated(fixed)) == 30

    mix = tmp_path / "mix.parquet"
    assert main(["generate", str(run), "--num", "800", "--out", str(mix), "--labels", "down:0.25,up:0.75",
                 "--quiet"]) == 0
    from textgan.generation import read_generated

    recs = read_generated(mix)
    share = sum(r["class_name"] == "up" for r in recs) / len(recs)
    assert len(recs) == 800 and abs(share - 0.75) < 0.05  # binomial sd 0.015
    default = tmp_path / "default.jsonl"
    assert main(["generate", str(run), "--num", "600", "--out", str(default), "--quiet"]) == 0
    share = sum(r["class_name"] == "up" for r in _generated(default)) / 600
    assert abs(share - 2 / 3) < 0.06  # the training mix

    for flags, needle in ((["--label", "sideways"], "up"), (["--label", "7"], "down"),
                          (["--labels", "up:x"], "NAME:WEIGHT"), (["--labels", "up:1,left:1"], "left")):
        bad = tmp_path / "bad.jsonl"
        err = _error_of(["generate", str(run), "--num", "5", "--out", str(bad), "--quiet", *flags])
        assert needle in err
        assert not bad.exists() and not list(tmp_path.glob("bad.jsonl*"))


def test_label_flags_are_refused_for_an_unconditional_model(tmp_path):
    from textgan.data.vocab import Vocab
    from textgan.models.lstm_generator import LSTMGenerator
    from textgan.train.checkpoint import save_checkpoint

    vocab = Vocab.build([["a", "b", "c"]], min_freq=1)
    ckpt = save_checkpoint(tmp_path / "ckpt", LSTMGenerator(len(vocab), 4, 4, max_len=5, start_token=vocab.bos_id,
                                                            pad_id=vocab.pad_id, eos_id=vocab.eos_id), "lstm", vocab)
    err = _error_of(["generate", str(ckpt), "--num", "5", "--out", str(tmp_path / "x.jsonl"), "--label", "up"])
    assert "conditional" in err and not (tmp_path / "x.jsonl").exists()


def test_misfits_are_one_line_errors():
    from textgan.config import recipe_from_dict
    from textgan.errors import TextganError
    from textgan.registry import check_conditional_fit

    cases = [({"generator": {"type": "lstm"}, "discriminator": {"type": "conditional_cnn"},
               "adversarial": {"reward": "conditional_rollout"}}, "adversarial.reward"),
             ({"generator": {"type": "conditional_lstm"}, "discriminator": {"type": "conditional_cnn"},
               "adversarial": {"reward": "rollout"}}, "conditional_rollout"),
             ({"generator": {"type": "conditional_lstm"}, "discriminator": {"type": "cnn"},
               "adversarial": {"reward": "conditional_rollout"}}, "discriminator.type=conditional_cnn")]
    for raw, fix in cases:
        with pytest.raises(TextganError, match=fix) as e:
            recipe_from_dict(raw)
        assert "\n" not in str(e.value)
    for raw, fix in (({"generator": {"type": "lstm"}, "discriminator": {"type": "conditional_cnn"}},
                      "generator.type=conditional_lstm"),
                     ({"generator": {"type": "conditional_lstm"}, "discriminator": {"type": "conditional_cnn"},
                       "adversarial": {"reward": "conditional_rollout", "kl_coef": 0.1}}, "kl_coef")):
        r = recipe_from_dict(raw)
        with pytest.raises(TextganError, match=fix):
            check_conditional_fit(r.generator.type, r.discriminator, r.adversarial)


def test_interleaved_pretraining_and_interleaved_mle_take_the_labels(tmp_path):
    corpus = _labelled_file(tmp_path / "labelled.jsonl")
    out = tmp_path / "run"
    assert main(["run", str(RECIPE), "--out", str(out), "--quiet", *_sets(_tiny(corpus)), "--set", "mle.epochs=2",
                 "--set", "discriminator.pretrain_cycles=2", "--set", "adversarial.mle_every=1",
                 "--set", "adversarial.mle_batches=2"]) == 0
    recs = records(out)
    assert [r["phase"] for r in recs].count("discriminator") == 2
    assert all(r["mle_loss"] > 0 for r in recs if r["phase"] == "adversarial")
