"""MaliGAN's reward by hand: normalised D / (1 - D), the baseline, the mixed-MLE prefix and its schedule."""

import pytest
import torch

from textgan.config import recipe_from_dict
from textgan.errors import TextganError
from textgan.models.cnn_discriminator import CNNDiscriminator
from textgan.models.lstm_generator import LSTMGenerator
from textgan.rl.losses import reinforce_loss
from textgan.rl.maligan import continue_prefixes, log_odds, maligan_draw, maligan_rewards, prefix_length


class FixedD(torch.nn.Module):
    """A discriminator whose D(real) of row b is ``probs[b]`` (only ``prob_real``: the ratio is taken from it)."""

    def __init__(self, probs):
        super().__init__()
        self.probs = torch.tensor(probs)

    def prob_real(self, tokens):
        return self.probs[: tokens.size(0)]


D = [0.5, 0.75, 0.2, 0.5]  # r = D / (1 - D) = 1, 3, 0.25, 1
TOKENS = torch.tensor([[3, 4, 5], [4, 4, 4], [5, 3, 3], [3, 3, 3]])


def test_whole_batch_weights_by_hand():
    r = [1.0, 3.0, 0.25, 1.0]  # sum 5.25
    expected = torch.tensor([x / 5.25 - 0.25 for x in r])  # normalised, minus the baseline 1/4
    out = maligan_rewards(TOKENS, None, FixedD(D))
    assert out.shape == (4, 3) and out.dtype == torch.float32
    assert torch.allclose(out, expected.unsqueeze(1).expand(4, 3), atol=1e-6)
    assert torch.allclose(out.sum(0), torch.zeros(3), atol=1e-6)  # the baseline centres the weights


def test_without_baseline_the_weights_are_the_normalised_ratios():
    out = maligan_rewards(TOKENS, None, FixedD(D), baseline=False)
    assert torch.allclose(out[:, 0], torch.tensor([1 / 5.25, 3 / 5.25, 0.25 / 5.25, 1 / 5.25]), atol=1e-6)


def test_mixed_mle_prefix_gets_mle_weight_and_groups_normalise_separately():
    out = maligan_rewards(TOKENS, None, FixedD(D), prefix=1, group_size=2)
    # groups (r = 1, 3) and (0.25, 1): weights 0.25 / 0.75 and 0.2 / 0.8, each minus 1/2
    assert torch.allclose(out[:, 1:], torch.tensor([[-0.25], [0.25], [-0.3], [0.3]]).expand(4, 2), atol=1e-6)
    assert torch.allclose(out[:, 0], torch.full((4,), 0.25))  # 1 / B: (1/m) per real prefix, m = 2 prefixes x 2 rows


def test_the_ratio_of_a_classifier_is_its_odds():
    torch.manual_seed(0)
    d = CNNDiscriminator(8, embed_dim=4, filter_sizes=(1, 2), num_filters=(3, 3)).eval()
    p = d.prob_real(TOKENS)
    assert torch.allclose(log_odds(d, TOKENS).exp(), p / (1 - p), rtol=1e-4)


def test_the_reinforce_loss_on_these_rewards_is_the_papers_objective():
    torch.manual_seed(0)
    g = LSTMGenerator(6, 4, 4, max_len=3)
    rewards = maligan_rewards(TOKENS, None, FixedD(D), prefix=1, group_size=2)
    lp = g(TOKENS, output="log_prob")
    w = torch.tensor([-0.25, 0.25, -0.3, 0.3])
    # (1/m) sum_i sum_{t<=N} log p(x_it) with each prefix counted once per row, + sum_ij (w_ij - b) log p(continuation)
    objective = lp[:, 0].sum() / 4 + (w * lp[:, 1:].sum(1)).sum()
    assert torch.allclose(reinforce_loss(g, TOKENS, rewards), -objective, atol=1e-6)


def test_prefix_schedule_shrinks_to_zero():
    assert [prefix_length(s, 20, 4, 10) for s in (0, 9, 10, 25, 50, 60)] == [20, 20, 16, 12, 0, 0]


def test_draw_keeps_real_prefixes_and_continues_each_several_times():
    torch.manual_seed(0)
    g = LSTMGenerator(7, 4, 4, max_len=5).eval()
    real = torch.randint(0, 7, (30, 5), generator=torch.Generator().manual_seed(1))
    tokens, info = maligan_draw(g, real, 8, generator=torch.Generator().manual_seed(2), step=3, mle_prefix=5,
                                mle_prefix_decay=1, mle_prefix_every=1, samples_per_prefix=4)
    assert info == {"prefix": 2, "group_size": 4} and tokens.shape == (8, 5)
    groups = tokens.view(2, 4, 5)
    assert (groups[:, :, :2] == groups[:, :1, :2]).all()  # one real prefix per group ...
    assert all(any(torch.equal(row[:2], r[:2]) for r in real) for row in groups[:, 0])  # ... taken from the data
    assert len({tuple(row.tolist()) for row in groups[0]}) > 1  # continuations differ
    # N = 0: plain samples from scratch, normalised over the whole batch
    tokens0, info0 = maligan_draw(g, real, 8, generator=torch.Generator().manual_seed(2), step=99, mle_prefix=5)
    assert info0 == {"prefix": 0, "group_size": 8}
    assert torch.equal(tokens0, g.sample(8, generator=torch.Generator().manual_seed(2)))


def test_continuation_of_a_full_prefix_is_the_prefix():
    g = LSTMGenerator(7, 4, 4, max_len=5).eval()
    x = torch.randint(0, 7, (3, 5), generator=torch.Generator().manual_seed(1))
    assert torch.equal(continue_prefixes(g, x, 5), x)


@pytest.mark.parametrize("adversarial,key", [
    ({"reward": "maligan", "mle_prefix": 10, "samples_per_prefix": 1}, "samples_per_prefix"),
    ({"reward": "maligan", "mle_prefix": 10, "samples_per_prefix": 5, "batch_size": 64}, "batch_size"),
    ({"reward": "maligan", "mle_prefix_every": 0}, "mle_prefix_every"),
])
def test_bad_maligan_keys_are_one_line_errors(adversarial, key):
    with pytest.raises(TextganError, match=key) as e:
        recipe_from_dict({"generator": {"type": "lstm"}, "discriminator": {}, "adversarial": adversarial})
    assert "\n" not in str(e.value)
