"""The adversarial trainer: D training, plug-in rewards and losses, rollout updates, errors, recipes."""

import functools
import json
from pathlib import Path

import pytest
import torch

from textgan.config import load_recipe, recipe_from_dict
from textgan.engine.optim import adam
from textgan.errors import NonFiniteLossError, TextganError
from textgan.models.cnn_discriminator import CNNDiscriminator
from textgan.models.lstm_generator import LSTMGenerator
from textgan.rl.losses import reinforce_loss
from textgan.rl.rewards import rollout_rewards
from textgan.train.adversarial import AdversarialTrainer, discriminator_epochs

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def tiny_models(vocab=8, T=5):
    torch.manual_seed(0)
    g = LSTMGenerator(vocab, 6, 8, max_len=T)
    d = CNNDiscriminator(vocab, embed_dim=6, filter_sizes=(1, 2), num_filters=(6, 6))
    return g, d


def make_trainer(g, d, real, reward_fn, loss_fn=reinforce_loss, **kw):
    args = dict(reward_fn=reward_fn, loss_fn=loss_fn, g_optimizer=torch.optim.Adam(g.parameters(), lr=0.05),
                d_optimizer=torch.optim.Adam(d.parameters(), lr=1e-2), batch_size=16, d_rounds=1, d_epochs=1,
                d_batch_size=16, seed=0)
    args.update(kw)
    return AdversarialTrainer(g, d, real, **args)


def test_discriminator_learns_real_from_fake():
    _, d = tiny_models()
    real = torch.full((64, 5), 3)
    fake = torch.randint(4, 8, (64, 5), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    stats = discriminator_epochs(d, opt, real, fake, epochs=5, batch_size=16, shuffle=torch.Generator().manual_seed(0))
    assert stats["d_accuracy"] == 1.0
    d.eval()
    assert d.prob_real(real[:4]).min() > 0.9 and d.prob_real(fake[:4]).max() < 0.1


def test_plugged_in_reward_steers_the_generator_and_rollout_follows():
    g, d = tiny_models()
    real = torch.randint(0, 8, (32, 5), generator=torch.Generator().manual_seed(1))

    def likes_token_3(tokens, rollout_policy, discriminator, *, generator=None):
        return (tokens == 3).float() * 2 - 1  # (B, T): +1 for token 3, -1 otherwise

    trainer = make_trainer(g, d, real, likes_token_3, d_rounds=0, rollout_update_rate=0.5)
    share = lambda: (g.sample(400, generator=torch.Generator().manual_seed(2)) == 3).float().mean().item()
    before = share()
    old = {k: v.clone() for k, v in trainer.rollout.named_parameters()}
    stats = trainer.adversarial_batch()
    new = dict(g.named_parameters())
    for name, p in trainer.rollout.named_parameters():  # one update at rate 0.5 (embedding copied)
        expected = new[name] if name.startswith("embedding.") else 0.5 * old[name] + 0.5 * new[name]
        assert torch.allclose(p, expected, atol=1e-6)
    for _ in range(15):
        trainer.adversarial_batch()
    assert share() > before + 0.3
    assert set(stats) >= {"g_loss", "reward_mean", "reward_last"} and trainer.batches_done == 16


def test_rollout_reward_batch_runs_d_rounds():
    g, d = tiny_models()
    real = torch.randint(0, 8, (48, 5), generator=torch.Generator().manual_seed(1))
    reward = functools.partial(rollout_rewards, num_rollouts=3)
    trainer = make_trainer(g, d, real, reward)
    assert trainer.num_negatives == 48  # as many as the positives, in whole batches
    stats = trainer.adversarial_batch()
    assert 0.0 <= stats["reward_mean"] <= 1.0 and 0.0 <= stats["d_accuracy"] <= 1.0
    assert d.training  # the reward left D's mode alone


def test_non_finite_generator_loss_stops_with_one_line():
    g, d = tiny_models()
    real = torch.randint(0, 8, (32, 5))
    nan_reward = lambda tokens, *a, **k: torch.full(tokens.shape, float("nan"))
    trainer = make_trainer(g, d, real, nan_reward, d_rounds=0)
    with pytest.raises(NonFiniteLossError) as err:
        trainer.adversarial_batch()
    assert "adversarial batch 0" in str(err.value) and "\n" not in str(err.value)


def test_adversarial_recipes_validate():
    with pytest.raises(TextganError, match="discriminator section"):
        recipe_from_dict({"adversarial": {"batches": 1}})
    r = recipe_from_dict({"discriminator": {"lr": "1e-4"}, "adversarial": {"lr": "1e-2"}})
    assert r.discriminator.lr == 1e-4 and r.adversarial.lr == 0.01 and r.adversarial.batches == 200
    with pytest.raises(TextganError, match="rollout_update_rate"):
        recipe_from_dict({"discriminator": {}, "adversarial": {"rollout_update_rate": 2}})
    assert recipe_from_dict({}).adversarial is None  # an MLE-only recipe stays MLE-only


@pytest.mark.parametrize("name", ["synthetic_oracle", "synthetic_oracle_cpu", "coco_captions", "emnlp_news"])
def test_seqgan_recipes_load(name):
    r = load_recipe(RECIPES / "seqgan" / f"{name}.yaml")
    assert r.adversarial is not None and r.discriminator is not None


SHRINK = ["mle.epochs=1", "data.num_train=256", "data.num_test=128", "eval.num_samples=128", "eval.every=1",
          "eval.every_adversarial=1", "discriminator.pretrain_rounds=1", "discriminator.pretrain_epochs=1",
          "discriminator.filter_sizes=[2,3]", "discriminator.num_filters=[4,4]", "adversarial.batches=2",
          "adversarial.d_rounds=1", "adversarial.d_epochs=1", "adversarial.num_rollouts=2", "threads=1"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["seqgan/synthetic_oracle", "seqgan/synthetic_oracle_cpu", "seqgan/coco_captions",
                                  "seqgan/emnlp_news", "mle/synthetic_oracle"])
def test_recipe_smoke_run(name, tmp_path):
    from textgan.api import train

    overrides = SHRINK if name.startswith("seqgan") else SHRINK[:5]
    if "synthetic" not in name:
        overrides = [o for o in overrides if not o.startswith("data.num_")] + ["data.max_vocab=500"]
    result = train(RECIPES / f"{name}.yaml", out_dir=tmp_path / "run", overrides=overrides, progress=False)
    records = [json.loads(line) for line in (result.path / "metrics.jsonl").read_text().splitlines()]
    if name.startswith("seqgan"):
        adv = [r for r in records if r["phase"] == "adversarial"]
        assert [r["step"] for r in adv] == [2, 3]  # the step counter continues after 1 MLE epoch
        assert (result.path / "checkpoints" / "discriminator" / "model.safetensors").is_file()
    assert (result.path / "checkpoints" / "last" / "model.safetensors").is_file()


def test_discriminator_epochs_without_host_reads_give_the_same_numbers():
    """The accelerator path (sums on the device, one read per epoch) equals the per-step-read CPU path."""
    results = []
    for reads in (True, False):
        g, d = tiny_models()
        torch.manual_seed(0)
        optimizer = adam(d.parameters(), lr=1e-2)
        real = torch.randint(1, 8, (40, 5), generator=torch.Generator().manual_seed(1))
        fake = torch.randint(1, 8, (40, 5), generator=torch.Generator().manual_seed(2))
        stats = discriminator_epochs(d, optimizer, real, fake, 2, 8, torch.Generator().manual_seed(3), host_reads=reads)
        results.append((stats, [p.detach().clone() for p in d.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def test_operator_call_counts_are_reported():
    from textgan.bench.discriminator import format_operator_calls, operator_calls_per_step

    result = operator_calls_per_step(batch_size=8, seq_len=6, vocab_size=30, steps=2, embed_dim=8)
    assert result["device_sums"]["host_reads_per_step"] < result["host_reads_every_step"]["host_reads_per_step"]
    assert "host reads" in format_operator_calls(result)
    graph = result["cuda_graph"]
    # a captured step leaves only the batch copies and one replay to the host, and no per-step read
    assert graph["launches_per_step"] < 20 < result["device_sums"]["top_level_ops_per_step"]
    assert graph["host_reads_outside_graph_per_step"] * result["steps"] <= 3  # per epoch: loss, accuracy, finite check
    assert "as a CUDA graph" in format_operator_calls(result)
