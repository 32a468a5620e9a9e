"""The rollout benchmark runs at tiny sizes and reports consistent numbers."""

from textgan.bench.rollout import bench_rollout, format_rollout_bench


def test_bench_rollout_tiny():
    r = bench_rollout(batch_size=2, seq_len=4, vocab_size=12, num_rollouts=2, embed_dim=4, hidden_dim=4,
                      threads=1, num_samples=20, mle_sequences=128, peak_size=64)
    assert r["threads"] == 1 and r["step_batched_s"] > 0 and r["step_sequential_s"] > 0
    assert r["speedup"] == r["step_sequential_s"] / r["step_batched_s"]
    text = format_rollout_bench(r)
    assert "batched" in text and "sequential" in text and "128 sequences" in text
