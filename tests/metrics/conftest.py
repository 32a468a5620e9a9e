"""Tiny randomly initialised transformers folders, built from configs (nothing downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = ["a cat sits on the mat", "the dog runs in the park", "a bird sings in a tree",
          "the man rides a horse", "a woman reads a book on the bench"]


def _word_tokenizer(texts, bos_eos: bool):
    from tokenizers import Tokenizer as RustTokenizer
    from tokenizers import models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[UNK]", "[PAD]", "[BOS]", "[EOS]", "[CLS]", "[SEP]", "[MASK]"]
    rust = RustTokenizer(models.WordLevel(unk_token="[UNK]"))
    rust.pre_tokenizer = pre_tokenizers.Whitespace()
    rust.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=specials, show_progress=False))
    kw = dict(unk_token="[UNK]", pad_token="[PAD]")
    if bos_eos:
        kw.update(bos_token="[BOS]", eos_token="[EOS]")
    else:
        kw.update(cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    return PreTrainedTokenizerFast(tokenizer_object=rust, **kw)


def make_causal_lm(path: Path, texts=CORPUS) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = _word_tokenizer(texts, bos_eos=True)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=16, n_layer=1, n_head=2,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


def make_encoder(path: Path, texts=CORPUS) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    tok = _word_tokenizer(texts, bos_eos=False)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    BertModel(cfg).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory) -> Path:
    return make_causal_lm(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return make_encoder(tmp_path_factory.mktemp("tiny-bert"))
