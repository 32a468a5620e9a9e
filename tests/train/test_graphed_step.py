"""The graph-capturable training step (textgan/engine/graphs.py) gives the plain loop's numbers.

On a CPU nothing is captured, but ``graphs=True`` rehearses what the CUDA path does before its
capture: three warm-up steps on the static buffers, then parameters, optimizer state and random
state put back. Any trace the warm-up left (a parameter, an Adam moment, the step count, the
dropout stream) changes the weights after an epoch, and these tests compare them exactly.
"""

import copy

import pytest
import torch

from textgan.engine import graphs
from textgan.engine.graphs import GraphedStep, make_capturable
from textgan.engine.optim import adam
from textgan.models.cnn_discriminator import CNNDiscriminator
from textgan.train.adversarial import discriminator_epochs


def _data(seed=0, n=96, length=12, vocab=50):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (n, length), generator=g), torch.randint(0, vocab, (n, length), generator=g)


def _train(graphs, rounds=2, dropout=0.25, warm_optimizer=False):
    torch.manual_seed(0)
    model = CNNDiscriminator(50, 16, filter_sizes=(2, 3), num_filters=(8, 8), dropout=dropout)
    optimizer = adam(model.parameters(), lr=1e-2)
    real, fake = _data()
    stats = []
    if warm_optimizer:  # Adam state that exists before the first graphed call must be restored, not zeroed
        stats.append(discriminator_epochs(model, optimizer, real, fake, 1, 16, torch.Generator().manual_seed(3),
                                          graphs=False))
    for r in range(rounds):
        stats.append(discriminator_epochs(model, optimizer, real, fake, 2, 16, torch.Generator().manual_seed(r),
                                          graphs=graphs))
    return model, optimizer, stats


@pytest.mark.parametrize("warm_optimizer", [False, True])
def test_rehearsed_step_gives_the_plain_loops_numbers(warm_optimizer):
    plain, plain_opt, plain_stats = _train(False, warm_optimizer=warm_optimizer)
    graphed, graphed_opt, graphed_stats = _train(True, warm_optimizer=warm_optimizer)
    assert graphed_stats == plain_stats
    for (name, a), b in zip(plain.state_dict().items(), graphed.state_dict().values()):
        assert torch.equal(a, b), name
    for a, b in zip(plain_opt.state.values(), graphed_opt.state.values()):
        assert torch.equal(a["step"], b["step"]) and torch.equal(a["exp_avg"], b["exp_avg"])
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    assert torch.equal(torch.rand(3), torch.rand(3)) is False  # the random stream still moves


def test_random_state_after_the_rehearsal_is_the_plain_loops():
    _train(False)
    after_plain = torch.get_rng_state()
    _train(True)
    assert torch.equal(torch.get_rng_state(), after_plain)


def test_the_step_is_kept_across_calls_and_captured_again_when_its_tensors_change():
    torch.manual_seed(0)
    model = CNNDiscriminator(50, 16, filter_sizes=(2,), num_filters=(4,))
    optimizer = adam(model.parameters(), lr=1e-2)
    real, fake = _data()
    discriminator_epochs(model, optimizer, real, fake, 1, 16, torch.Generator().manual_seed(0), graphs=True)
    first = graphs._CACHE[model]["discriminator"]
    discriminator_epochs(model, optimizer, real, fake, 1, 16, torch.Generator().manual_seed(1), graphs=True)
    assert graphs._CACHE[model]["discriminator"] is first
    optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # a resume: new state tensors, same values
    assert not first.valid(optimizer)
    discriminator_epochs(model, optimizer, real, fake, 1, 16, torch.Generator().manual_seed(2), graphs=True)
    assert graphs._CACHE[model]["discriminator"] is not first
    discriminator_epochs(model, optimizer, real, fake, 1, 8, torch.Generator().manual_seed(3), graphs=True)
    assert tuple(graphs._CACHE[model]["discriminator"].static[0].shape) == (8, real.size(1))


def test_graphed_step_without_rehearsal_is_the_eager_step():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([w], lr=0.5)

    def step(x):
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        return (loss,)

    g = GraphedStep(step, [], opt, (torch.zeros(3),), capture=False)
    (loss,) = g(torch.tensor([1.0, 2.0, 3.0]))
    assert loss.item() == 6.0 and torch.equal(w.detach(), torch.tensor([0.5, 0.0, -0.5]))
    (loss,) = g(torch.tensor([1.0, 0.0, 0.0]))  # gradients zeroed between calls, not accumulated
    assert torch.equal(w.detach(), torch.tensor([0.0, 0.0, -0.5]))


def test_make_capturable_refuses_an_optimizer_without_the_mode():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    with pytest.raises(ValueError, match="no capturable mode"):
        make_capturable(opt)


@pytest.mark.parametrize("drop_last", [True, False])
def test_rehearsed_mle_epochs_give_the_plain_loops_numbers(drop_last):
    from textgan.models.lstm_generator import LSTMGenerator
    from textgan.train.mle import mle_epoch

    data = _data(n=70, length=8, vocab=30)[0]
    results = []
    for graphs in (False, True):
        torch.manual_seed(0)
        gen = LSTMGenerator(30, 8, 8, max_len=8)
        opt = adam(gen.parameters(), lr=1e-2)
        losses = [mle_epoch(gen, data, opt, 16, 0.05, torch.Generator().manual_seed(e), drop_last=drop_last,  # a clip that binds
                            graphs=graphs) for e in range(3)]
        results.append((losses, [p.detach().clone() for p in gen.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the capture itself)")


@cuda
def test_captured_discriminator_epochs_match_the_eager_ones_on_cuda():
    results = []
    for graphs in (False, True):
        torch.manual_seed(0)
        model = CNNDiscriminator(50, 16, filter_sizes=(2, 3), num_filters=(8, 8), dropout=0.0).cuda()
        optimizer = adam(model.parameters(), lr=1e-2)
        real, fake = _data()
        stats = [discriminator_epochs(model, optimizer, real, fake, 2, 16, torch.Generator().manual_seed(r),
                                      graphs=graphs) for r in range(2)]
        if graphs:
            assert graphs_cache_of(model)["discriminator"].graph is not None  # it was captured and replayed
        results.append((stats, [p.detach().cpu() for p in model.parameters()]))
    for a, b in zip(results[0][0], results[1][0]):
        assert a["d_accuracy"] == b["d_accuracy"] and a["d_loss"] == pytest.approx(b["d_loss"], rel=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@cuda
def test_captured_mle_epochs_match_the_eager_ones_on_cuda():
    from textgan.models.lstm_generator import LSTMGenerator
    from textgan.train.mle import mle_epoch

    data = _data(n=70, length=8, vocab=30)[0]
    results = []
    for graphs in (False, True):
        torch.manual_seed(0)
        gen = LSTMGenerator(30, 8, 8, max_len=8).cuda()
        opt = adam(gen.parameters(), lr=1e-2)
        losses = [mle_epoch(gen, data, opt, 16, 0.05, torch.Generator().manual_seed(e), drop_last=False,
                            graphs=graphs) for e in range(3)]
        results.append((losses, [p.detach().cpu() for p in gen.parameters()]))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def graphs_cache_of(model):
    return graphs._CACHE[model]


def test_device_bench_times_eager_and_graphed_steps():
    from textgan.bench.device import bench_device_steps, format_device_steps

    result = bench_device_steps("cpu", repeats=1, vocab_size=40, seq_len=6, batch_size=8, dtypes=("float32",), num=32)
    kinds = [(r["what"].split(" (")[0], r["graphs"]) for r in result["rows"]]
    assert kinds == [("discriminator epoch", False), ("discriminator epoch", True), ("MLE epoch", False),
                     ("MLE epoch", True), ("sampling 32 x 6", False)]
    assert all(len(r["seconds"]) == 1 and r["seconds"][0] > 0 for r in result["rows"])
    assert "graphs" in format_device_steps(result)


def test_the_rehearsal_restores_parameters_the_optimizer_holds_outside_the_models():
    w = torch.nn.Parameter(torch.ones(3))
    opt = adam([w], lr=0.5)

    def step(x):
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        return (loss,)

    GraphedStep(step, [], opt, (torch.ones(3),), capture=False, rehearse=True)
    assert torch.equal(w.detach(), torch.ones(3))  # three warm-up steps, no trace
    assert all(torch.count_nonzero(v) == 0 for v in opt.state[w].values())
