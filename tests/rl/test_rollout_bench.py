"""The rollout benchmark runs at tiny sizes and reports consistent numbers."""

from textgan.bench.rollout import bench_rollout, format_rollout_bench


def test_bench_rollout_tiny():
    r = bench_rollout(batch_size=2, seq_len=4, vocab_size=12, num_rollouts=2, embed_dim=4, hidden_dim=4,
                      threads=1, num_samples=20, mle_sequences=128, peak_size=64)
    assert r["threads"] == 1 and r["step_batched_s"] > 0 and r["step_sequential_s"] > 0
    assert r["speedup"] == r["step_sequential_s"] / r["step_batched_s"]
    text = format_rollout_bench(r)
    assert "batched" in text and "sequential" in text and "128 sequences" in text
    assert r["mle_epoch_plain_s"] > 0 and r["mle_chunk_rows"] > 0 and "plain cross-entropy" in text
    assert r["mle_epoch_anchor_s"] is None and "CPU:" in text


def test_anchor_is_timed_from_a_checkout_and_a_wrong_folder_is_refused(tmp_path, monkeypatch):
    """``--anchor`` drives a TextGAN-PyTorch checkout's generator; here a stand-in with its interface."""
    import sys

    import pytest

    from textgan.errors import TextganError

    with pytest.raises(TextganError, match="not a TextGAN-PyTorch checkout"):
        bench_rollout(batch_size=2, seq_len=4, vocab_size=12, anchor=tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "config.py").write_text("padding_idx = 0\nstart_letter = 1\ngen_lr = 0.01\nclip_norm = 5.0\n")
    (tmp_path / "models" / "generator.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass LSTMGenerator(nn.Module):\n"
        "    def __init__(self, embedding_dim, hidden_dim, vocab_size, max_seq_len, padding_idx, gpu=False):\n"
        "        super().__init__()\n        self.hidden_dim = hidden_dim\n"
        "        self.embeddings = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)\n"
        "        self.lstm = nn.LSTM(embedding_dim, hidden_dim, batch_first=True)\n"
        "        self.lstm2out = nn.Linear(hidden_dim, vocab_size)\n\n"
        "    def forward(self, inp, hidden):\n        out, _ = self.lstm(self.embeddings(inp), hidden)\n"
        "        return torch.log_softmax(self.lstm2out(out.reshape(-1, self.hidden_dim)), dim=-1)\n\n"
        "    def init_hidden(self, batch_size):\n"
        "        return torch.zeros(1, batch_size, self.hidden_dim), torch.zeros(1, batch_size, self.hidden_dim)\n")
    for name in ("config", "models", "models.generator"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    try:
        r = bench_rollout(batch_size=2, seq_len=4, vocab_size=12, num_rollouts=2, embed_dim=4, hidden_dim=4,
                          threads=1, num_samples=20, mle_sequences=128, peak_size=64, run_sequential=False,
                          anchor=tmp_path)
    finally:
        for name in ("config", "models", "models.generator"):
            sys.modules.pop(name, None)
    assert r["mle_epoch_anchor_s"] > 0 and "TextGAN-PyTorch's MLE epoch" in format_rollout_bench(r)


def test_bench_mle_times_every_variant_in_interleaved_rounds():
    from textgan.bench.rollout import bench_mle_epoch, format_mle_bench

    r = bench_mle_epoch(vocab_size=50, seq_len=5, embed_dim=4, hidden_dim=4, sequences=256, threads=1, repeats=2)
    assert set(r["times"]) == {"fused float32", "fused bfloat16", "plain float32"}
    assert all(len(t) == 2 and min(t) > 0 for t in r["times"].values())
    assert r["best"]["plain float32"] == min(r["times"]["plain float32"]) and r["spread"]["fused float32"] >= 1.0
    text = format_mle_bench(r)
    assert "fused bfloat16" in text and "best of 2" in text and "CPU:" in text
