"""Transformer generators and discriminators from ``transformers`` (tiny configs built here; nothing downloads)."""

from __future__ import annotations

import copy

import pytest
import torch

from textgan.data.vocab import Vocab
from textgan.errors import TextganError
from textgan.models.hf import HFCausalLMGenerator, HFSequenceClassifier, vocabulary_rows
from textgan.rl.rollout import monte_carlo_rewards, sequential_monte_carlo_rewards

V, T = 20, 9
GPT = {"n_layer": 2, "n_embd": 16, "n_head": 2}
BERT = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
        "max_position_embeddings": 32}


def generator(seed: int = 0, **kw) -> HFCausalLMGenerator:
    torch.manual_seed(seed)
    return HFCausalLMGenerator(V, max_len=T, start_token=1, pad_id=0, eos_id=2, config=GPT, **kw).eval()


def vocab() -> Vocab:
    return Vocab.build([[f"w{i}" for i in range(V - 4)]], min_freq=1)


def test_cached_steps_give_the_teacher_forced_logits():
    g = generator()
    tokens = torch.randint(3, V, (4, T), generator=torch.Generator().manual_seed(0))
    full = g(tokens)  # (B, T, V)
    tok, state = g.initial_tokens(4), None
    for t in range(T):
        logits, state = g.step(tok, state)
        assert torch.allclose(logits, full[:, t], atol=1e-5), t
        tok = tokens[:, t]
    assert state[0][0].shape[2] == T  # one cached position per token read


def uncached_position(policy):
    policy.rollout_order = "position"
    return policy


def test_rollout_rewards_with_the_cache_equal_those_without_it():
    g = generator()
    uncached = copy.deepcopy(g)
    uncached.kv_cache = False
    tokens = g.sample(6, generator=torch.Generator().manual_seed(1))
    d = HFSequenceClassifier(V, pad_id=0, config=BERT).eval()

    def rewards(policy, fn=monte_carlo_rewards, **kw):
        return fn(tokens, policy, d.prob_real, 3, generator=torch.Generator().manual_seed(5), **kw)

    with torch.no_grad():
        cached = rewards(g)
        assert torch.allclose(cached, rewards(uncached), atol=1e-6)
        # row chunks: each chunk's cache is made from its own rows of the prefix cache
        assert torch.allclose(rewards(g, chunk_size=7), rewards(uncached, chunk_size=7), atol=1e-6)
        # the position-ordered algorithm (stacked caches) and the reference loop draw the same distribution
        g.rollout_order = "position"
        stacked = rewards(g)
        assert stacked.shape == cached.shape and torch.allclose(stacked, rewards(uncached_position(uncached)), atol=1e-6)
        assert rewards(g, fn=sequential_monte_carlo_rewards).shape == cached.shape
    assert cached.shape == (6, T) and bool(((cached >= 0) & (cached <= 1)).all())


def test_sampling_is_seeded_pads_after_the_end_and_filters():
    g = generator()
    a = g.sample(50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, g.sample(50, generator=torch.Generator().manual_seed(3)))
    for row in a.tolist():
        if 2 in row:
            assert all(t == 0 for t in row[row.index(2) + 1:])
        assert 1 not in row  # the start token is never drawn
    top1 = g.sample(5, top_k=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(top1, g.sample(5, top_k=1, generator=torch.Generator().manual_seed(9)))  # greedy


def test_bfloat16_sampling_draws_from_nearly_the_same_distribution():
    g = generator(sample_dtype="bfloat16")
    f32 = generator()
    a = g.sample(2000, generator=torch.Generator().manual_seed(0))
    b = f32.sample(2000, generator=torch.Generator().manual_seed(0))
    assert (a[:, 0] == b[:, 0]).float().mean() > 0.95  # first tokens: same uniforms, nearly the same probabilities
    assert all(p.dtype == torch.float32 for p in g.parameters())  # the trained weights stay float32


def test_checkpoint_folder_loads_back_with_transformers_alone(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from textgan.train.checkpoint import load_generator, save_checkpoint

    g = generator()
    save_checkpoint(tmp_path / "ckpt", g, "hf_causal_lm", vocab())
    back = load_generator(tmp_path / "ckpt").model
    tokens = g.sample(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(back(tokens), g(tokens))
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt" / "hf").eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "ckpt" / "hf")
    assert torch.allclose(hf(input_ids=g.shift_right(tokens)).logits, g(tokens), atol=1e-5)
    ids = tok("<bos> w3 w5", return_tensors="pt", add_special_tokens=False).input_ids
    assert ids[0].tolist() == vocab().encode(["<bos>", "w3", "w5"]) if "<bos>" in vocab() else ids.size(1) == 3
    out = hf.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] <= ids.shape[1] + 4


def test_pretrained_folder_keeps_the_rows_of_the_tokens_it_knows(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    words = ["[UNK]", "alpha", "beta", "gamma", "delta", "w3", "w4"]
    word = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    word.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=word, unk_token="[UNK]").save_pretrained(tmp_path / "pre")
    torch.manual_seed(0)
    pre = AutoModelForCausalLM.from_config(AutoConfig.for_model("gpt2", vocab_size=len(words), **GPT))
    pre.save_pretrained(tmp_path / "pre")
    v = vocab()
    ids, found = vocabulary_rows(tmp_path / "pre", list(v.itos))
    assert found == 2 and ids[v.itos.index("w3")] == 5
    g = HFCausalLMGenerator(len(v), max_len=T, start_token=v.bos_id, pad_id=v.pad_id, eos_id=v.eos_id,
                            pretrained=str(tmp_path / "pre"), vocab=v)
    emb = g.model.get_input_embeddings().weight
    assert emb.shape[0] == len(v)
    assert torch.equal(emb[v.itos.index("w4")], pre.get_input_embeddings().weight[6])
    assert torch.allclose(emb[v.itos.index("w9")], pre.get_input_embeddings().weight.mean(0))
    assert g.config()["config"]["n_layer"] == 2  # the checkpoint rebuilds without the folder


def test_positions_shorter_than_the_sequence_are_refused_in_one_line():
    with pytest.raises(TextganError) as e:
        HFCausalLMGenerator(V, max_len=40, config={**GPT, "n_positions": 16})
    assert "\n" not in str(e.value) and "n_positions" in str(e.value)
    with pytest.raises(TextganError) as e:
        HFCausalLMGenerator(V, max_len=4, model_type="no_such_model", config={})
    assert "model_type" in str(e.value)


@pytest.mark.parametrize("model_type,config", [("bert", BERT), ("gpt2", {**GPT, "n_positions": 32})])
def test_classifier_prefix_features_are_the_features_of_each_prefix(model_type, config):
    torch.manual_seed(0)
    d = HFSequenceClassifier(V, pad_id=0, model_type=model_type, config=config).eval()
    tokens = torch.randint(3, V, (3, T), generator=torch.Generator().manual_seed(0))
    tokens[0, 4:] = 0  # a sequence that ended early
    with torch.no_grad():
        prefixes = d.prefix_features(tokens, include_empty=True)
        assert prefixes.shape == (3, T + 1, d.feature_dim)
        for t in range(T):
            cut = torch.where(torch.arange(T) <= t, tokens, 0)
            assert torch.allclose(prefixes[:, t + 1], d.features(cut), atol=1e-5), t
        assert d(tokens).shape == (3, 2) and d.prob_real(tokens).shape == (3,)
    with pytest.raises(TextganError, match="position"):
        d(torch.ones(1, 40, dtype=torch.long))


def test_transformer_bench_reports_each_timing_against_its_target(monkeypatch):
    from textgan.bench import transformer as bench

    monkeypatch.setattr(bench, "BENCH_CONFIG", GPT)
    monkeypatch.setattr(bench, "TINY_CONFIG", GPT)
    monkeypatch.setattr(bench, "_real_sequences", lambda max_len, limit: None)  # random tokens, no corpus
    runs = bench.sampling_runs(vocab_size=V, lengths=(5,), num=8, batch_size=4)
    assert [r["sample_dtype"] for r in runs] == ["float32", "bfloat16"] and all(r["texts_per_s"] > 0 for r in runs)
    step = bench.adversarial_step(batch_size=4, num_rollouts=2, max_len=5, vocab_size=V)
    assert step["step_seconds"] > 0 and step["ratio_to_batch_pass"] == step["step_seconds"] / step["sample_batch_seconds"]
    mle = bench.mle_epoch_seconds(num=64, max_len=6, vocab_size=V, batch_size=16, batches=2)
    assert mle["batches_timed"] == 2 and mle["batches_per_epoch"] == 4 and not mle["measured_whole_epoch"]
    result = {"settings": {"cpu": bench.cpu_name(), "threads": 1, "torch": "x", "load_average": 0.0,
                           "sampling_model": GPT, "training_model": GPT},
              "sampling": runs, "mle_epoch": mle, "adversarial_step": step, "cache_comparison": None,
              "targets": {"texts_per_s_len51": 500.0, "step_ratio": 3.0}, "meets": {"texts_per_s_len51": False,
                                                                                  "step_ratio": False}}
    text = bench.format_transformer_bench(result)
    assert "projected from 2 batches" in text and "target" in text


def test_bfloat16_compute_keeps_float32_weights_and_a_close_loss():
    g32, g16 = generator(), generator(compute_dtype="bfloat16")
    tokens = g32.sample(8, generator=torch.Generator().manual_seed(0))
    loss32, loss16 = g32(tokens, output="nll"), g16(tokens, output="nll")
    assert loss16.dtype == torch.float32 and abs(float(loss16) - float(loss32)) < 0.05
    loss16.backward()
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in g16.parameters())


def test_another_model_type_with_the_default_keys_is_refused_in_one_line():
    from textgan.config import recipe_from_dict

    for section, raw in (("generator", {"type": "hf_causal_lm", "model_type": "llama"}),
                         ("discriminator", {"type": "hf_classifier", "model_type": "roberta"})):
        with pytest.raises(TextganError) as e:
            recipe_from_dict({"generator": {"type": "lstm"}, section: raw} if section == "discriminator"
                             else {section: raw})
        assert "\n" not in str(e.value) and f"{section}.config" in str(e.value)
    small_llama = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                   "num_key_value_heads": 2}
    g = HFCausalLMGenerator(V, max_len=T, start_token=1, pad_id=0, eos_id=2, model_type="llama", config=small_llama)
    tokens = g.eval().sample(3, generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (3, T) and torch.isfinite(g(tokens, output="nll"))
