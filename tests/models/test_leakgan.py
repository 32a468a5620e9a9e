"""LeakGAN's generator: goals, w_t, logits, incremental features, sampling, gradients, checkpoints."""

import copy
import json

import pytest
import torch
import torch.nn.functional as F

from textgan.data.vocab import Vocab
from textgan.models.cnn_discriminator import CNNDiscriminator
from textgan.models.leakgan import IncrementalFeatures, LeakGANGenerator
from textgan.registry import build_generator_from_config, generators
from textgan.train.checkpoint import load_generator, save_checkpoint




def tiny_d(pad_id=None, widths=(1, 2, 3, 5), counts=(3, 4, 2, 3), dtype="float32") -> CNNDiscriminator:
    torch.manual_seed(0)
    return CNNDiscriminator(12, embed_dim=8, filter_sizes=widths, num_filters=counts, dropout=0.0, pad_id=pad_id,
                            compute_dtype=dtype)


def tiny(step_size=3, pad_id=None, eos_id=None, max_len=8, d=None) -> LeakGANGenerator:
    d = d or tiny_d(pad_id)
    torch.manual_seed(1)
    return LeakGANGenerator(12, embed_dim=8, hidden_dim=6, max_len=max_len, start_token=1 if pad_id is not None else 0,
                            pad_id=pad_id, eos_id=eos_id, goal_out_size=d.feature_dim, goal_size=4,
                            step_size=step_size, discriminator=d)


def tokens(b=3, t=8, seed=2):
    return torch.randint(3, 12, (b, t), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("pad_id", [None, 0])
@pytest.mark.parametrize("length", [8, 3])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_incremental_features_equal_prefix_features(pad_id, length, dtype):
    d = tiny_d(pad_id, dtype=dtype)
    x = tokens(4, length)
    ref = d.prefix_features(x, include_empty=True)  # (B, T + 1, F)
    inc = IncrementalFeatures(d, length)
    state = inc.start(4)
    rows = [inc.empty().expand(4, -1)]
    for t in range(length):
        f, state = inc.push(state, x[:, t])
        rows.append(f)
    assert torch.allclose(torch.stack(rows, 1), ref, atol=1e-5, rtol=1e-5)


def test_incremental_features_at_paper_widths():
    d = CNNDiscriminator(30, embed_dim=6, dropout=0.0)  # widths 1..10, 15, 20; F = 1720
    x = torch.randint(0, 30, (2, 20), generator=torch.Generator().manual_seed(0))
    ref = d.prefix_features(x)
    inc = IncrementalFeatures(d, 20)
    state = inc.start(2)
    for t in range(20):
        f, state = inc.push(state, x[:, t])
        assert torch.allclose(f, ref[:, t], atol=1e-5, rtol=1e-5)


def test_goals_are_unit_vectors_and_blocks_sum_the_last_c_goals():
    g = tiny(step_size=3)
    x = tokens()
    terms = g.terms(x)
    assert terms.goals.shape == (3, 8, g.goal_out_size)
    assert torch.allclose(terms.goals.norm(dim=-1), torch.ones(3, 8), atol=1e-6)
    # blocks of c = 3 over T = 8: G_0 = goal_init, G_1 = g_1 + g_2 + g_3, G_2 = g_4 + g_5 + g_6
    assert terms.block_goals.shape == (3, 3, g.goal_out_size)
    assert torch.equal(terms.block_goals[:, 0], g.goal_init.expand(3, -1))
    assert torch.allclose(terms.block_goals[:, 1], terms.goals[:, 1:4].sum(1), atol=1e-6)
    assert torch.allclose(terms.block_goals[:, 2], terms.goals[:, 4:7].sum(1), atol=1e-6)
    # the Manager reads f_0..f_{T-1}, the discriminator's features of the prefixes
    h, _ = g.manager(g.discriminator.prefix_features(x, include_empty=True)[:, :8])
    assert torch.allclose(terms.goals, F.normalize(g.manager_output(h), dim=-1), atol=1e-6)


def test_logits_are_worker_matrix_times_goal_embedding():
    g = tiny(step_size=3)
    x = tokens()
    terms = g.terms(x)
    h, _ = g.worker(g.embedding(g.shift_right(x)))  # (B, T, H)
    O = g.worker_output(h).view(3, 8, 12, 4)  # (B, T, V, K): O_t
    for t in range(8):
        G = terms.block_goals[:, t // 3]
        w = g.goal_projection(G)
        w = w / w.norm(dim=-1, keepdim=True)  # w_t = normalize(W_psi G_{t // c})
        expect = (O[:, t] @ w.unsqueeze(-1)).squeeze(-1)  # O_t w_t
        assert torch.allclose(terms.logits[:, t], expect, atol=1e-5)


def test_step_matches_teacher_forcing():
    g = tiny(step_size=3)
    x = tokens()
    full = g(x)
    tok, state = g.initial_tokens(3), None
    for t in range(8):
        logits, state = g.step(tok, state, 8)
        assert torch.allclose(logits, full[:, t], atol=1e-5)
        tok = x[:, t]


def test_sampling_reads_parameters_updated_by_fused_adam():
    """Fused Adam updates parameters without bumping their version counters: sampling after a
    training step must still read the new discriminator and Worker weights (no stale cache)."""
    from textgan.engine.optim import adam

    g = tiny(step_size=3).eval()
    d = g.discriminator
    x = tokens()
    with torch.no_grad():
        g.sample(4, generator=torch.Generator().manual_seed(0))  # builds whatever sampling builds
    for module in (d, g):
        opt = adam(module.parameters(), lr=0.5)
        versions = [p._version for p in module.parameters()]
        (d.loss(x, torch.ones(3, dtype=torch.long)) if module is d else g.nll_loss(x)).backward()
        opt.step()
        assert [p._version for p in module.parameters()] == versions  # the premise: no version bump
    seqs, logp = g.sample(16, generator=torch.Generator().manual_seed(1), return_log_probs=True)
    assert torch.allclose(logp, g.log_prob(seqs), atol=1e-5)


@pytest.mark.parametrize("pad_id,eos_id", [(None, None), (0, 2)])
def test_sample_log_prob_consistency(pad_id, eos_id):
    g = tiny(step_size=2, pad_id=pad_id, eos_id=eos_id).eval()
    seqs, logp = g.sample(16, generator=torch.Generator().manual_seed(0), return_log_probs=True)
    assert seqs.shape == (16, 8) and (logp <= 0).all() and logp.abs().sum() > 0
    assert torch.allclose(logp, g.log_prob(seqs), atol=1e-5)
    again = g.sample(16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(seqs, again)
    if pad_id is not None:  # text: no start token is drawn, padding only after the end token
        assert not (seqs == g.start_token).any()


def test_sample_with_prefix_keeps_the_prefix():
    g = tiny()
    prefix = tokens(5, 3)
    seqs = g.sample(5, prefix=prefix, generator=torch.Generator().manual_seed(0))
    assert torch.equal(seqs[:, :3], prefix)


def test_nll_loss_value_is_the_nll_and_gradients_reach_all_parameters():
    g = tiny()
    x = tokens()
    loss = g.nll_loss(x)
    nll = -g.log_prob(x).mean()
    assert loss.item() == pytest.approx(nll.item(), rel=1e-5)
    loss.backward()
    missing = [n for n, p in g.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []
    assert all(p.grad is None for p in g.discriminator.parameters())  # features are constants


def test_worker_path_does_not_train_the_manager():
    g = tiny()
    g.log_prob(tokens()).sum().backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in g.manager_parameters())
    assert g.goal_projection.weight.grad.abs().sum() > 0


def test_deepcopy_shares_the_discriminator_and_parameters_exclude_it():
    g = tiny()
    copy_ = copy.deepcopy(g)
    assert copy_.discriminator is g.discriminator
    names = {n for n, _ in g.named_parameters()}
    assert not any(n.startswith("_") or "conv" in n or "highway" in n for n in names)
    assert set(g.state_dict()) == names


def test_checkpoint_round_trip_saves_the_discriminator(tmp_path):
    g = tiny()
    vocab = Vocab.integers(12)
    save_checkpoint(tmp_path / "ckpt", g, "leakgan", vocab)
    loaded = load_generator(tmp_path / "ckpt")
    m = loaded.model
    assert isinstance(m, LeakGANGenerator) and m.config() == g.config()
    x = tokens()
    assert torch.allclose(m(x), g(x), atol=1e-6)
    for (n1, p1), (n2, p2) in zip(m.discriminator.state_dict().items(), g.discriminator.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)


def test_registry_builds_from_config_with_the_discriminator_feature_size():
    from textgan.config import recipe_from_dict

    d = tiny_d()
    cfg = recipe_from_dict({"generator": {"type": "leakgan", "embed_dim": 8, "hidden_dim": 6, "goal_size": 4,
                                          "step_size": 2}, "discriminator": {}}).generator
    g = build_generator_from_config(cfg,
                                    vocab_size=12, max_len=6, start_token=0, pad_id=None, eos_id=None, discriminator=d)
    assert g.goal_out_size == d.feature_dim and g.discriminator is d
    assert "discriminator" in generators().meta("leakgan")["needs"]
    with pytest.raises(ValueError):
        LeakGANGenerator(12, goal_out_size=d.feature_dim + 1, discriminator=d)


@pytest.mark.slow
def test_cpu_recipe_smoke_run(tmp_path):
    """The CPU recipe end to end with shrunk sizes: interleaved pretraining, adversarial steps with
    interleaved MLE, evaluation, and a checkpoint that loads with its discriminator."""
    from textgan.api import train

    overrides = [
        "data.oracle=random", "data.num_train=128", "data.num_test=64", "eval.num_samples=64", "eval.batch_size=64",
        "generator.embed_dim=8", "generator.hidden_dim=8", "mle.epochs=2", "eval.every=1",
        "discriminator.embed_dim=8", "discriminator.filter_sizes=[1,2,3]", "discriminator.num_filters=[4,4,4]",
        "discriminator.pretrain_rounds=2", "discriminator.pretrain_cycles=2", "discriminator.num_negatives=64",
        "adversarial.batches=2", "adversarial.mle_every=1", "adversarial.mle_batches=1", "eval.every_adversarial=1",
        "threads=1",
    ]
    result = train("recipes/leakgan/synthetic_oracle_cpu.yaml", tmp_path / "run", overrides, progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    phases = [r["phase"] for r in records]
    assert phases.count("discriminator") >= 2 and phases[-1] == "adversarial"
    assert all("nll_oracle" in r and "nll_test" in r for r in records if r["phase"] != "discriminator")
    assert any("mle_loss" in r for r in records)
    loaded = load_generator(tmp_path / "run")
    assert isinstance(loaded.model, LeakGANGenerator)
    assert loaded.model.sample(4).shape == (4, 20)
    assert result is not None


def test_bfloat16_worker_output_is_close_and_consistent():
    d = tiny_d()
    g32 = tiny(d=d)
    torch.manual_seed(1)
    g16 = LeakGANGenerator(12, embed_dim=8, hidden_dim=6, max_len=8, goal_out_size=d.feature_dim, goal_size=4,
                           step_size=3, discriminator=d, compute_dtype="bfloat16")
    g16.load_state_dict(g32.state_dict())
    x = tokens()
    assert torch.allclose(g16(x), g32(x), atol=5e-2)
    seqs, logp = g16.sample(8, generator=torch.Generator().manual_seed(0), return_log_probs=True)
    assert torch.allclose(logp, g16.log_prob(seqs), atol=1e-2)
    with pytest.raises(ValueError):
        LeakGANGenerator(12, goal_out_size=d.feature_dim, compute_dtype="float16")
