"""The synthetic oracle computes SeqGAN's target-LSTM math."""

import numpy as np
import pytest
import torch

from textgan.models.oracle import PARAM_NAMES, OracleLSTM
from tests.conftest import requires_corpora, shared_corpora


def reference_log_prob(params: dict, tokens: np.ndarray, start: int = 0) -> np.ndarray:
    """The equations of corpora/synthetic_oracle.md, written independently in NumPy (float64)."""
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    B, T = tokens.shape
    H = params["U_i"].shape[0]
    h, c = np.zeros((B, H)), np.zeros((B, H))
    prev = np.full(B, start)
    out = np.zeros((B, T))
    for t in range(T):
        x = params["embedding"][prev]
        i = sig(x @ params["W_i"] + h @ params["U_i"] + params["b_i"])
        f = sig(x @ params["W_f"] + h @ params["U_f"] + params["b_f"])
        o = sig(x @ params["W_o"] + h @ params["U_o"] + params["b_o"])
        g = np.tanh(x @ params["W_c"] + h @ params["U_c"] + params["b_c"])
        c = f * c + i * g
        h = o * np.tanh(c)
        z = h @ params["W_out"] + params["b_out"]
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        out[:, t] = logp[np.arange(B), tokens[:, t]]
        prev = tokens[:, t]
    return out


def test_random_oracle_matches_the_written_math():
    oracle = OracleLSTM.random(seed=3, vocab_size=11, embed_dim=4, hidden_dim=5, seq_len=6)
    params = {n: getattr(oracle, n).detach().double().numpy() for n in PARAM_NAMES}
    tokens = torch.randint(0, 11, (4, 6), generator=torch.Generator().manual_seed(0))
    ours = oracle.log_prob(tokens).double().numpy()
    np.testing.assert_allclose(ours, reference_log_prob(params, tokens.numpy()), atol=1e-5)


def test_random_oracle_is_seeded_and_standard_normal():
    a, b = OracleLSTM.random(0), OracleLSTM.random(0)
    assert torch.equal(a.embedding, b.embedding)
    assert not torch.equal(a.embedding, OracleLSTM.random(1).embedding)
    assert abs(a.embedding.std().item() - 1.0) < 0.02  # N(0, 1) as SeqGAN's target_lstm init_matrix


def test_sampling_is_deterministic_and_shaped():
    oracle = OracleLSTM.random(0, vocab_size=50, embed_dim=8, hidden_dim=8, seq_len=7)
    s1 = oracle.sample(30, torch.Generator().manual_seed(5))
    s2 = oracle.sample(30, torch.Generator().manual_seed(5))
    assert s1.shape == (30, 7) and s1.dtype == torch.long
    assert torch.equal(s1, s2)
    assert 0 <= s1.min() and s1.max() < 50


def test_own_samples_score_below_random_tokens():
    oracle = OracleLSTM.random(0, vocab_size=200, embed_dim=16, hidden_dim=16, seq_len=10)
    own = oracle.nll(oracle.sample(500, torch.Generator().manual_seed(0)))
    rand = oracle.nll(torch.randint(0, 200, (500, 10), generator=torch.Generator().manual_seed(0)))
    assert own < np.log(200) < rand


@requires_corpora
def test_seqgan_oracle_pinned_values():
    path = shared_corpora() / "synthetic_oracle" / "seqgan_oracle_params.npz"
    oracle = OracleLSTM.from_npz(path)
    assert (oracle.vocab_size, oracle.embed_dim, oracle.hidden_dim) == (5000, 32, 32)
    params = {n: np.load(path)[n].astype(np.float64) for n in PARAM_NAMES}
    tokens = torch.arange(40).reshape(2, 20) * 97 % 5000
    np.testing.assert_allclose(oracle.log_prob(tokens).double().numpy(), reference_log_prob(params, tokens.numpy()),
                               atol=1e-4)
    # The shipped 10k oracle samples score about 5.75 nats/token; uniform tokens about 11.44.
    samples = torch.from_numpy(np.loadtxt(shared_corpora() / "synthetic_oracle" / "oracle_samples_10k.txt",
                                          dtype=np.int64, max_rows=2000))
    assert oracle.nll(samples) == pytest.approx(5.75, abs=0.03)
    uniform = torch.randint(0, 5000, (2000, 20), generator=torch.Generator().manual_seed(0))
    assert oracle.nll(uniform) == pytest.approx(11.44, abs=0.05)


def test_missing_parameter_file_is_a_user_error(tmp_path):
    from textgan.errors import TextganError

    with pytest.raises(TextganError, match="TEXTGAN_CORPORA"):
        OracleLSTM.from_npz(tmp_path / "none.npz")
