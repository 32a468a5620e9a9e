"""On a CUDA GPU: a tiny generator trains by MLE and samples on the device (skipped without one)."""

import torch

from tests.conftest import requires_cuda
from textgan.models.lstm_generator import LSTMGenerator
from textgan.rl.losses import reinforce_loss


@requires_cuda
def test_lstm_generator_mle_step_and_sampling_on_cuda():
    torch.manual_seed(0)
    device = torch.device("cuda")
    g = LSTMGenerator(12, embed_dim=8, hidden_dim=16, max_len=6, start_token=1, pad_id=0, eos_id=2).to(device)
    data = torch.randint(3, 12, (32, 6), device=device)
    opt = torch.optim.Adam(g.parameters(), lr=0.05)
    first = None
    for _ in range(30):
        loss = g(data, output="nll")  # the MLE loss through forward
        first = loss.item() if first is None else first
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    assert all(p.device.type == "cuda" for p in g.parameters())
    assert torch.isfinite(loss) and loss.item() < first

    rng = torch.Generator(device=device).manual_seed(3)
    samples = g.sample(16, generator=rng, batch_size=8)
    assert samples.device.type == "cuda" and samples.shape == (16, 6) and samples.dtype == torch.long
    assert int(samples.min()) >= 0 and int(samples.max()) < 12
    assert not (samples == 1).any()  # the start token is never drawn
    again = g.sample(16, generator=torch.Generator(device=device).manual_seed(3), batch_size=8)
    assert torch.equal(samples, again)  # the same seed draws the same sequences
    hot = g.sample(16, temperature=1.5, top_k=5, generator=torch.Generator(device=device).manual_seed(3))
    assert hot.shape == (16, 6)

    rewards = torch.rand(samples.shape, device=device)
    opt.zero_grad(set_to_none=True)
    reinforce_loss(g, samples, rewards, temperature=1.5).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())
