"""NLL-test in chunks bounded by the logits' size: the same number, memory independent of the vocabulary."""

import pytest
import torch

import textgan.train.evaluation as evaluation
from textgan.models.lstm_generator import LSTMGenerator


def test_chunked_nll_equals_whole_batches(monkeypatch):
    torch.manual_seed(0)
    model = LSTMGenerator(50, 8, 8, max_len=6)
    tokens = torch.randint(0, 50, (37, 6))
    whole = evaluation.generator_nll(model, tokens, batch_size=1000)
    monkeypatch.setattr(evaluation, "NLL_LOGITS_BUDGET", 6 * 50 * 4)  # 4 rows per chunk
    chunked = evaluation.generator_nll(model, tokens, batch_size=1000)
    assert chunked == pytest.approx(whole, rel=1e-12)
    assert evaluation.generator_nll(model, tokens, temperature=0.7) != pytest.approx(whole)


def test_chunks_are_capped_by_the_budget(monkeypatch):
    model = LSTMGenerator(50, 8, 8, max_len=6)
    rows = []
    real_forward = model.forward

    def spy(batch, *args, **kw):
        rows.append(batch.size(0))
        return real_forward(batch, *args, **kw)

    monkeypatch.setattr(model, "forward", spy)
    monkeypatch.setattr(evaluation, "NLL_LOGITS_BUDGET", 6 * 50 * 4)
    evaluation.generator_nll(model, torch.randint(0, 50, (10, 6)), batch_size=1000)
    assert rows == [4, 4, 2]
