"""A transformer generator and discriminator through `textgan run`: MLE, then adversarial training
with cached rollouts and the KL penalty, on the engine (checkpoints, exact resume)."""

from __future__ import annotations

import json
import signal

from tests.train.engine_cases import ROOT, outcome, read_jsonl, write_news_corpus
from tests.train.test_resume import _run_and_kill
from textgan import api
from textgan.cli import main

RECIPE = ROOT / "recipes" / "transformer" / "coco_captions.yaml"  # the GPU recipe, shrunk


def tiny(corpus) -> list[str]:
    return [f"data.corpus={corpus}", "data.train_split=train", "data.test_split=test", "data.tokenizer=whitespace",
            "data.max_len=10", "generator.config={n_layer: 1, n_embd: 16, n_head: 2}", "mle.epochs=2",
            "mle.batch_size=32",
            "discriminator.config={hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, "
            "intermediate_size: 32, max_position_embeddings: 16}",
            "discriminator.pretrain_rounds=1", "discriminator.pretrain_epochs=1", "discriminator.num_negatives=64",
            "adversarial.batches=3", "adversarial.d_rounds=1", "adversarial.d_epochs=1", "adversarial.best_metric=null",
            "adversarial.batch_size=8", "adversarial.num_rollouts=2", "adversarial.kl_target=2.0",
            "eval.every=1", "eval.every_adversarial=1", "eval.num_samples=40", "eval.tokenizer=whitespace",
            "threads=1", "device=cpu"]


def test_transformer_recipe_trains_with_rollouts_and_the_kl_penalty(tmp_path):
    overrides = tiny(write_news_corpus(tmp_path / "news"))
    result = api.train(RECIPE, out_dir=tmp_path / "run", overrides=overrides, progress=False)
    records = read_jsonl(result.path / "metrics.jsonl")
    adversarial = [r for r in records if r["phase"] == "adversarial"]
    assert len(adversarial) == 3 and all("nll_test" in r and "bleu2" in r for r in adversarial)
    assert adversarial[0]["kl"] == 0.0  # the reference is the generator as the phase begins
    assert adversarial[-1]["kl"] != 0.0 and adversarial[-1]["kl_coef"] < 0.2  # adapted (KL far below target)
    for name in ("mle", "last", "discriminator"):
        assert (result.path / "checkpoints" / name / "model.safetensors").is_file()
    assert (result.path / "checkpoints" / "last" / "hf" / "config.json").is_file()
    assert len(result.sample(3, seed=1)) == 3


def test_transformer_run_killed_mid_adversarial_resumes_exactly(tmp_path):
    overrides = [*tiny(write_news_corpus(tmp_path / "news")), "adversarial.batches=8"]
    expected = outcome(api.train(RECIPE, out_dir=tmp_path / "whole", overrides=overrides, progress=False).path)
    out = tmp_path / "killed"

    def ready(run):
        try:
            lines = (run / "metrics.jsonl").read_text().splitlines()
        except FileNotFoundError:
            return False
        return sum('"adversarial"' in line for line in lines) >= 3

    assert _run_and_kill(RECIPE, overrides, out, ready, signal.SIGKILL, timeout=300) == -signal.SIGKILL
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert outcome(out) == json.loads(json.dumps(expected))


def test_pretrained_model_with_its_own_tokenizer_keeps_every_corpus_token(tmp_path):
    """data.tokenizer=hf on the model's folder + generator.pretrained=the folder: every token is the model's."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    corpus = write_news_corpus(tmp_path / "news")
    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train([str(corpus / "train.txt")], trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]"],
                                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    folder = tmp_path / "pretrained"
    PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="[UNK]").save_pretrained(folder)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model("gpt2", vocab_size=bpe.get_vocab_size(),
                                                                  n_layer=1, n_embd=16, n_head=2, n_positions=32))
    model.save_pretrained(folder)
    overrides = [o for o in tiny(corpus) if not o.startswith(("data.tokenizer", "generator.config", "eval.tokenizer"))]
    overrides += ["data.tokenizer=hf", f"data.tokenizer_path={folder}", f"generator.pretrained={folder}",
                  "data.max_len=15", "adversarial.batches=1", "eval.metrics=[nll_test]"]
    result = api.train(RECIPE, out_dir=tmp_path / "run", overrides=overrides, progress=False)
    g = result.model().model
    vocab = json.loads((result.path / "checkpoints" / "last" / "vocab.json").read_text())
    itos = vocab["itos"] if isinstance(vocab, dict) else vocab
    known = [t for t in itos if t in bpe.get_vocab()]
    assert len(known) == len(itos) - 4  # all but textgan's four special tokens
    assert g.model.config.n_layer == 1 and len(result.sample(2, seed=0)) == 2
