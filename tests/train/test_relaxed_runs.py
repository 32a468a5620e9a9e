"""Relaxed adversarial training end to end: RelGAN and Rajeswar et al. recipes shrunk to seconds,
exact resume of the relaxed phase after SIGKILL, and misfits refused when the recipe loads."""

from __future__ import annotations

import json
import signal

import pytest

from tests.train.engine_cases import ROOT, outcome, read_jsonl
from tests.train.test_resume import _run_and_kill, killed_when
import textgan
from textgan import api
from textgan.cli import main
from textgan.config import recipe_from_dict
from textgan.errors import TextganError

TINY = ["data.num_train=256", "data.num_test=128", "data.max_len=8", "eval.num_samples=64", "eval.every=1",
        "eval.every_adversarial=1", "discriminator.filter_sizes=[2,3]", "discriminator.num_filters=[4,4]",
        "adversarial.batch_size=16", "adversarial.d_rounds=2", "threads=1", "device=cpu", "eval.save_samples=5"]
RELGAN = (ROOT / "recipes" / "relgan" / "synthetic_oracle_cpu.yaml",
          [*TINY, "mle.epochs=1", "generator.embed_dim=8", "generator.head_size=8", "discriminator.num_rep=4",
           "discriminator.rep_dim=2", "adversarial.batches=4"])
RAJESWAR = (ROOT / "recipes" / "rajeswar" / "synthetic_oracle_cpu.yaml",
            [*TINY, "generator.embed_dim=8", "generator.hidden_dim=8", "discriminator.rep_dim=8",
             "adversarial.batches=6", "adversarial.curriculum_every=2"])


def test_relgan_runs_end_to_end_with_an_annealed_gumbel_softmax(tmp_path):
    recipe, overrides = RELGAN
    assert main(["run", str(recipe), "--out", str(tmp_path / "run"), "--quiet",
                 *[a for o in overrides for a in ("--set", o)]]) == 0
    adversarial = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["phase"] == "adversarial"]
    assert [r["batch"] for r in adversarial] == [0, 1, 2, 3]
    assert [round(r["beta"], 4) for r in adversarial] == [round(100 ** (i / 4), 4) for i in range(4)]
    assert all(r["length"] == 8 and r["g_loss"] > 0 and r["d_loss"] > 0 for r in adversarial)
    for name in ("mle", "best", "last", "discriminator"):
        assert (tmp_path / "run" / "checkpoints" / name / "model.safetensors").is_file()
    assert len(textgan.load(tmp_path / "run").sample(3, seed=1)) == 3


def test_rajeswar_runs_end_to_end_with_a_growing_length(tmp_path):
    recipe, overrides = RAJESWAR
    result = api.train(recipe, out_dir=tmp_path / "run", overrides=overrides, progress=False)
    adversarial = [r for r in result.history if r["phase"] == "adversarial"]
    assert [r["length"] for r in adversarial] == [1, 1, 2, 2, 3, 3]
    assert all(r["beta"] == 1.0 for r in adversarial)
    d_losses = [r["d_loss"] for r in adversarial]
    assert all(d > 1.0 for d in d_losses[:2])  # the gradient penalty dominates an untrained critic's loss


@pytest.mark.parametrize("case", ["relgan", "rajeswar"])
def test_kill_9_in_the_relaxed_phase_then_resume_gives_the_uninterrupted_metrics(case, tmp_path):
    recipe, overrides = RELGAN if case == "relgan" else RAJESWAR
    overrides = [*overrides, "adversarial.batches=14"]
    expected = outcome(api.train(recipe, out_dir=tmp_path / "whole", overrides=overrides, progress=False).path)
    out = tmp_path / "killed"
    assert _run_and_kill(recipe, overrides, out, killed_when("seqgan"), signal.SIGKILL) == -signal.SIGKILL
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert outcome(out) == json.loads(json.dumps(expected))
    assert len(json.loads((out / "run.json").read_text())["resumed"]) == 1


@pytest.mark.parametrize("generator,discriminator,adversarial,named", [
    ("relgan", "relgan_cnn", {"reward": "gumbel", "loss": "reinforce"}, "use adversarial.loss=gan or rsgan or wgan_gp"),
    ("relgan", "relgan_cnn", {"reward": "rollout", "loss": "rsgan"}, "use adversarial.reward=gumbel or softmax"),
    ("lstm", "relgan_cnn", {"reward": "rollout", "loss": "wgan_gp"}, "use adversarial.loss=reinforce"),
    ("lstm", "cnn", {"reward": "softmax", "loss": "wgan_gp"}, "use discriminator.type=relgan_cnn"),
    ("leakgan", "cnn", {"reward": "gumbel", "loss": "rsgan"}, "use adversarial.reward=leakgan"),
    ("relgan", "relgan_cnn", {"reward": "gumbel", "loss": "rsgan", "mle_every": 5}, "remove it"),
    ("lstm", "relgan_cnn", {"reward": "softmax", "loss": "wgan_gp", "kl_coef": 0.1}, "adversarial.kl_coef"),
])
def test_a_misfit_is_refused_when_the_recipe_loads_in_one_line_naming_the_fix(generator, discriminator, adversarial,
                                                                              named):
    with pytest.raises(TextganError) as e:
        recipe_from_dict({"generator": {"type": generator}, "discriminator": {"type": discriminator},
                          "adversarial": adversarial})
    assert "\n" not in str(e.value) and named in str(e.value), str(e.value)


def test_the_cli_names_the_fix_of_a_misfit(tmp_path, capsys):
    recipe, _ = RELGAN
    assert main(["run", str(recipe), "--out", str(tmp_path / "run"), "--set", "adversarial.loss=wgan_gp",
                 "--set", "adversarial.mle_every=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "adversarial.mle_every" in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("g_steps,d_steps", [(1, 2), (0, 1), (1, 0)])
def test_a_relaxed_batch_steps_exactly_the_players_it_says(g_steps, d_steps):
    import torch

    from textgan.models.relgan import RelGANGenerator
    from textgan.models.soft_cnn import SoftCNNDiscriminator
    from textgan.registry import component_fn
    from textgan.engine.optim import adam
    from textgan.train.relaxed import RelaxedTrainer

    torch.manual_seed(0)
    g = RelGANGenerator(9, embed_dim=4, head_size=4, num_heads=2, max_len=5)
    d = SoftCNNDiscriminator(9, num_rep=2, rep_dim=2, filter_sizes=(2,), num_filters=(3,), dropout=0.0)
    acfg = recipe_from_dict({"generator": {"type": "relgan"}, "discriminator": {"type": "relgan_cnn"},
                             "adversarial": {"reward": "gumbel", "loss": "rsgan", "beta_max": 10}}).adversarial
    trainer = RelaxedTrainer(g, d, torch.randint(0, 9, (20, 5)), relaxation=component_fn("reward", acfg),
                             loss_fn=component_fn("loss", acfg), g_optimizer=adam(g.parameters(), 1e-2),
                             d_optimizer=adam(d.parameters(), 1e-2), batch_size=4, g_steps=g_steps, d_steps=d_steps,
                             grad_clip=5.0, steps=4, rng=torch.Generator().manual_seed(1),
                             shuffle=torch.Generator().manual_seed(2))
    before_g = [p.detach().clone() for p in g.parameters()]
    before_d = [p.detach().clone() for p in d.parameters()]
    stats = trainer.adversarial_batch()
    g_moved = any(not torch.equal(a, b) for a, b in zip(before_g, g.parameters()))
    d_moved = any(not torch.equal(a, b) for a, b in zip(before_d, d.parameters()))
    assert (g_moved, d_moved) == (g_steps > 0, d_steps > 0)
    assert stats["beta"] == 1.0 and trainer.batches_done == 1 and all(p.requires_grad for p in d.parameters())
    assert trainer.adversarial_batch()["beta"] == pytest.approx(10 ** 0.25)
