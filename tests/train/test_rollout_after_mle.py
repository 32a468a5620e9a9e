"""Issue 14, item 2: the rollout copy is refreshed after the interleaved MLE phase, so the next
batch's rollouts use the weights that phase left (LeakGAN's "rollout policy = the generator")."""

import functools

import torch

from textgan.models.cnn_discriminator import CNNDiscriminator
from textgan.models.leakgan import LeakGANGenerator
from textgan.rl.leakgan import block_rewards, leakgan_loss, leakgan_rewards
from textgan.train.adversarial import AdversarialTrainer


def leakgan_trainer(mle_every=1, rate=0.0):
    torch.manual_seed(0)
    d = CNNDiscriminator(10, embed_dim=6, filter_sizes=(1, 2), num_filters=(4, 4), dropout=0.0)
    g = LeakGANGenerator(10, embed_dim=6, hidden_dim=6, max_len=6, goal_out_size=d.feature_dim, goal_size=4,
                         step_size=2, discriminator=d)
    real = torch.randint(0, 10, (32, 6), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(g.parameters(), lr=0.05)
    mle_opt = torch.optim.Adam(g.parameters(), lr=0.05)

    def mle_fn():  # one MLE step on real data: the weights move
        mle_opt.zero_grad()
        loss = g.nll_loss(real)
        loss.backward()
        mle_opt.step()
        return loss.item()

    trainer = AdversarialTrainer(g, d, real, reward_fn=functools.partial(leakgan_rewards, num_rollouts=2),
                                 loss_fn=leakgan_loss, g_optimizer=opt,
                                 d_optimizer=torch.optim.Adam(d.parameters(), lr=1e-3), batch_size=8, d_rounds=0,
                                 rollout_update_rate=rate, seed=0, mle_every=mle_every, mle_fn=mle_fn)
    return trainer


def test_rollout_copy_equals_the_generator_after_interleaved_mle():
    trainer = leakgan_trainer(mle_every=1, rate=0.0)
    g = trainer.generator
    for _ in range(2):
        stats = trainer.adversarial_batch()
        assert "mle_loss" in stats
        rollout = dict(trainer.rollout.named_parameters())
        stale = [n for n, p in g.named_parameters() if not torch.equal(p, rollout[n])]
        assert stale == [], stale  # before the fix: every weight the MLE step moved


def test_rollouts_after_interleaved_mle_are_the_generators_rollouts():
    trainer = leakgan_trainer(mle_every=1, rate=0.0)
    trainer.adversarial_batch()
    x = trainer.generator.sample(6, generator=torch.Generator().manual_seed(3))
    from textgan.rl.rollout import make_rollout_policy

    current = make_rollout_policy(trainer.generator)
    got = block_rewards(x, trainer.rollout, trainer.discriminator, num_rollouts=3, step_size=2,
                        generator=torch.Generator().manual_seed(4))
    want = block_rewards(x, current, trainer.discriminator, num_rollouts=3, step_size=2,
                         generator=torch.Generator().manual_seed(4))
    assert torch.equal(got, want)


def test_delayed_rate_averages_towards_the_post_mle_weights():
    trainer = leakgan_trainer(mle_every=1, rate=0.5)
    old = {n: p.clone() for n, p in trainer.rollout.named_parameters()}
    trainer.adversarial_batch()
    new = dict(trainer.generator.named_parameters())
    for n, p in trainer.rollout.named_parameters():
        want = new[n] if n.startswith("embedding.") else 0.5 * old[n] + 0.5 * new[n]
        assert torch.allclose(p, want, atol=1e-6), n


def test_seqgan_rate_zero_rolls_out_with_the_current_generator():
    """``rollout_update_rate: 0`` is what SeqGAN's TF code ran (its delayed update never reached the
    sampling graph): after every batch the rollout copy equals the generator."""
    from textgan.models.lstm_generator import LSTMGenerator
    from textgan.rl.losses import reinforce_loss
    from textgan.rl.rewards import rollout_rewards

    torch.manual_seed(0)
    g = LSTMGenerator(8, 6, 8, max_len=5)
    d = CNNDiscriminator(8, embed_dim=6, filter_sizes=(1, 2), num_filters=(4, 4))
    real = torch.randint(0, 8, (32, 5), generator=torch.Generator().manual_seed(1))
    trainer = AdversarialTrainer(g, d, real, reward_fn=functools.partial(rollout_rewards, num_rollouts=2),
                                 loss_fn=reinforce_loss, g_optimizer=torch.optim.Adam(g.parameters(), lr=0.05),
                                 d_optimizer=torch.optim.Adam(d.parameters(), lr=1e-3), batch_size=8, d_rounds=0,
                                 rollout_update_rate=0.0, seed=0)
    for _ in range(2):
        trainer.adversarial_batch()
        rollout = dict(trainer.rollout.named_parameters())
        assert all(torch.equal(p, rollout[n]) for n, p in g.named_parameters())


def test_reference_recipes_roll_out_as_their_reference_code_ran():
    """Issue 14, item 3: every SeqGAN recipe sets the rate its reference code effectively ran (0; the
    delayed update of LantaoYu/SeqGAN ``rollout.py`` never reached ``gen_x``), and the LeakGAN paper
    recipes use the TF code's batch-mean cosines. A recipe that drifts back to 0.8 fails here."""
    from pathlib import Path

    from textgan.config import load_recipe

    recipes = Path(__file__).resolve().parents[2] / "recipes"
    seqgan = sorted((recipes / "seqgan").glob("*.yaml"))
    assert len(seqgan) >= 6
    for path in seqgan:
        assert load_recipe(path).adversarial.rollout_update_rate == 0.0, path.name
    for name in ("synthetic_oracle", "synthetic_oracle_len40", "coco_captions", "emnlp_news"):
        adversarial = load_recipe(recipes / "leakgan" / f"{name}.yaml").adversarial
        assert adversarial.rollout_update_rate == 0.0, name
        assert adversarial.cosine_reduction == "batch_mean", name
