"""RankGAN by hand: the rank score, the ranker's comparison sets and objective, the expected-rank reward."""

import math

import pytest
import torch
import torch.nn.functional as F

from textgan.config import recipe_from_dict
from textgan.errors import TextganError
from textgan.models.lstm_generator import LSTMGenerator
from textgan.models.ranker import RankerDiscriminator, rank_log_scores, ranker_loss
from textgan.rl.rankgan import rank_rewards
from textgan.train.adversarial import discriminator_epochs

S = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # two sentences' unit features
U = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # two references
C = torch.tensor([[0.6, 0.8]])  # one comparison sentence


def test_rank_score_by_hand():
    gamma = 2.0
    e = math.exp
    # s1 = (1, 0): against u1 cos 1 (comparison 0.6), against u2 cos 0 (comparison 0.8)
    r1 = (e(2) / (e(2) + e(1.2)) + e(0) / (e(0) + e(1.6))) / 2
    # s2 = (0, 1): against u1 cos 0, against u2 cos 1
    r2 = (e(0) / (e(0) + e(1.2)) + e(2) / (e(2) + e(1.6))) / 2
    out = rank_log_scores(S, U, C, gamma)
    assert torch.allclose(out.exp(), torch.tensor([r1, r2]), atol=1e-6)


def test_comparison_mask_selects_rows_and_an_empty_set_gives_one():
    c = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
    mask = torch.tensor([[True, False], [False, False]])  # s1 compared with c1 only, s2 with nothing
    out = rank_log_scores(S, U[:1], c, 1.0, c_mask=mask)
    assert torch.allclose(out, torch.tensor([math.log(math.e / (math.e + math.exp(0.6))), 0.0]), atol=1e-6)


def test_ranker_loss_by_hand():
    log_r = torch.tensor([-1.0, -2.0, -3.0, -5.0])
    labels = torch.tensor([1, 1, 0, 0])
    # -(mean of real) + (mean of generated) = 1.5 - 4
    assert torch.allclose(ranker_loss(log_r, labels), torch.tensor(-2.5))


def tiny_ranker(gamma=1.0):
    torch.manual_seed(0)
    return RankerDiscriminator(9, embed_dim=6, filter_sizes=(1, 2), num_filters=(5, 5), dropout=0.0, gamma=gamma,
                               reference_size=3, comparison_size=4)


def test_training_compares_real_with_generated_and_generated_with_real():
    r = tiny_ranker(gamma=3.0).eval()
    real = torch.randint(0, 9, (20, 6), generator=torch.Generator().manual_seed(1))
    r.draw_sets(real, torch.Generator().manual_seed(0))
    x = torch.randint(0, 9, (5, 6), generator=torch.Generator().manual_seed(2))
    y = torch.tensor([1, 0, 1, 1, 0])
    f = F.normalize(r.features(torch.cat([x, r.reference])), dim=-1)
    s, u = f[:5], f[5:]
    expected = torch.stack([rank_log_scores(s[i:i + 1], u, s[y != y[i]], 3.0)[0] for i in range(5)])
    assert torch.allclose(r.rank_log_score(x, y), expected, atol=1e-5)
    # without labels every row is ranked among the comparison buffer (C+, real sentences)
    cplus = F.normalize(r.features(r.comparison), dim=-1)
    assert torch.allclose(r.rank_log_score(x), rank_log_scores(s, u, cplus, 3.0), atol=1e-5)
    assert torch.allclose(r.prob_real(x), r.rank_log_score(x).exp(), atol=1e-5)
    assert torch.allclose(r.loss(x, y), ranker_loss(expected, y), atol=1e-5)


def test_ranker_training_ranks_real_above_generated():
    r = tiny_ranker()
    real = torch.full((64, 6), 3)
    fake = torch.randint(5, 9, (64, 6), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(r.parameters(), lr=1e-2)
    stats = discriminator_epochs(r, opt, real, fake, epochs=20, batch_size=16, shuffle=torch.Generator().manual_seed(0))
    assert bool(r.drawn) and r.reference.shape == (3, 6) and bool((r.reference == 3).all())
    assert stats["d_accuracy"] == 1.0 and stats["d_loss"] < 0
    r.eval()
    assert r.prob_real(real[:8]).min() > r.prob_real(fake[:8]).max()


def test_rank_reward_is_the_expected_rank_score():
    r = tiny_ranker(gamma=2.0)
    real = torch.randint(0, 9, (20, 5), generator=torch.Generator().manual_seed(1))
    r.draw_sets(real, torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    g = LSTMGenerator(9, 4, 4, max_len=5).eval()
    tokens = g.sample(3, generator=torch.Generator().manual_seed(0))
    out = rank_rewards(tokens, g, r, num_rollouts=4, generator=torch.Generator().manual_seed(5))
    assert out.shape == (3, 5) and bool(((out > 0) & (out < 1)).all())
    assert torch.allclose(out[:, -1], r.eval().prob_real(tokens), atol=1e-6)  # the whole sentence: its own score
    # a prefix's value is the mean score of its completions (same draws: the same generator seed)
    logs = rank_rewards(tokens, g, r, num_rollouts=4, generator=torch.Generator().manual_seed(5), log=True)
    assert torch.allclose(logs[:, -1].exp(), out[:, -1], atol=1e-6)
    assert bool((logs[:, :-1].exp() <= out[:, :-1] + 1e-6).all())  # Jensen: mean log R <= log mean R


def test_a_rank_reward_needs_a_ranker_and_a_pretrained_one():
    with pytest.raises(TextganError, match="discriminator.type=ranker") as e:
        recipe_from_dict({"generator": {"type": "lstm"}, "discriminator": {"type": "cnn"},
                          "adversarial": {"reward": "rank"}})
    assert "\n" not in str(e.value)
    with pytest.raises(TextganError, match="pretrain_rounds"):
        recipe_from_dict({"generator": {"type": "lstm"}, "discriminator": {"type": "ranker", "pretrain_rounds": 0},
                          "adversarial": {"reward": "rank"}})


def test_saved_sets_load_into_a_fresh_ranker():
    r = tiny_ranker()
    r.draw_sets(torch.randint(0, 9, (20, 7), generator=torch.Generator().manual_seed(1)))
    fresh = tiny_ranker()
    fresh.load_state_dict(r.state_dict())
    x = torch.randint(0, 9, (4, 7), generator=torch.Generator().manual_seed(3))
    assert torch.equal(fresh.eval()(x), r.eval()(x)) and bool(fresh.drawn)
