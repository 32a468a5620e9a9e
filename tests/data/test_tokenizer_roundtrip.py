"""nltk detokenization inverts tokenization: tokenize(detokenize(t)) == t for the sequences a model samples."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from textgan.data.tokenizers import build_tokenizer

WORDS = ["the", "cat", "sat", "park", "Birds", "it", "do", "I", "ca", "wo", "can", "not", "gon", "na", "5", "3.5",
         "1,000", "e-mail", "Mr.", "U.S."]
PUNCTUATION = [",", ".", "...", "!", "?", ";", ":", "(", ")", "[", "]", "{", "}", "<", ">", "``", "''", "'", "`",
               "--", "-", "$", "%", "&", "#", "@", "*", "/", "'s", "n't", "'ll", "'re", "'ve", "'m", "'d"]
OPENERS = "([{<'`"
CLOSERS = {")", "]", "}", ">", "''", "'"}


@pytest.fixture(scope="module")
def nltk_tok():
    return build_tokenizer("nltk")


def representable(tokens: list[str]) -> bool:
    """False for the sequences no text tokenizes into (see ``NltkTokenizer.detokenize``)."""
    for i, t in enumerate(tokens):
        # a closing quote right after an opening bracket or quote reads as an opening quote
        if t == "''" and i > 0 and (tokens[i - 1] == "``" or tokens[i - 1][-1] in OPENERS):
            return False
        # a word ending in a period is split at the end of the text (closing brackets and quotes may follow)
        if len(t) > 1 and t.endswith(".") and t != "..." and all(u in CLOSERS for u in tokens[i + 1:]):
            return False
    return True


def test_every_vocabulary_token_reads_back_alone(nltk_tok):
    for token in WORDS + PUNCTUATION:
        if not token.endswith(".") or token == "." or token == "...":
            assert nltk_tok.tokenize(nltk_tok.detokenize([token])) == [token], token


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(st.sampled_from(WORDS + PUNCTUATION), min_size=1, max_size=14))
def test_round_trip_property(nltk_tok, tokens):
    assume(representable(tokens))
    text = nltk_tok.detokenize(tokens)
    assert nltk_tok.tokenize(text) == tokens, text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([",", ".", "...", "!", "?", ";", ":", "''", "``", "n't", "'s", "(", ")"]), min_size=1,
                max_size=6),
       st.lists(st.sampled_from(["the", "park", "birds", "ran"]), min_size=1, max_size=4))
def test_round_trip_of_repeated_punctuation_after_words(nltk_tok, punct, words):
    tokens = words + punct
    assume(representable(tokens))
    assert nltk_tok.tokenize(nltk_tok.detokenize(tokens)) == tokens


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([w.lower() for w in WORDS] + PUNCTUATION), min_size=1, max_size=10))
def test_round_trip_with_lowercasing(tokens):
    assume(representable(tokens))
    tok = build_tokenizer("nltk", lowercase=True)
    assert tok.tokenize(tok.detokenize(tokens)) == tokens


@pytest.mark.parametrize("tokens", [
    ["birds", "ran", "the", "mat", "the", "park", ",", ","],  # the GPU run's sample
    [",", ","], [",", ",", ","], [".", "."], ["the", ".", "."], ["the", ".", "park", "."],
    ["a", ".", "b", ",", "c", "."], ["the", "...", "..."], ["the", "!", "!", "?"],
    ["''", "the"], ["``", "the", "''"], ["the", "``", "``"], ["park", "''", "``"],
    ["(", ")"], ["[", "the", "]", "]", ")"], ["do", "n't"], ["n't"], ["n't", "n't"], ["it", "'s", "'s"],
    ["Mr.", "Smith", "."], ["the", "'", "'", "park"], ["--", "--"],
])
def test_round_trip_cases(nltk_tok, tokens):
    assert nltk_tok.tokenize(nltk_tok.detokenize(tokens)) == tokens


def test_natural_spacing_is_kept_when_it_round_trips(nltk_tok):
    tokens = ["He", "said", "``", "hello", ",", "world", "!", "''", "and", "it", "'s", "fine", "."]
    assert nltk_tok.detokenize(tokens) == 'He said "hello, world!" and it\'s fine.'
    assert nltk_tok.detokenize(["do", "n't", "stop", "(", "now", ")", "."]) == "don't stop (now)."
    assert nltk_tok.detokenize(["the", "park", ",", ","]) == "the park,,"


def test_a_mid_line_period_stays_a_token(nltk_tok):
    # nltk's detokenizer writes "the cat. sat", which tokenizes as "cat." (only a final period is split off)
    text = nltk_tok.detokenize(["the", "cat", ".", "sat", "."])
    assert nltk_tok.tokenize(text) == ["the", "cat", ".", "sat", "."]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(st.sampled_from(WORDS + PUNCTUATION + ["<unk>"]), min_size=1, max_size=12))
def test_special_tokens_keep_the_rest_round_tripping(nltk_tok, tokens):
    # "<unk>" itself reads back as "<", "unk", ">" whatever the spacing; everything around it must read back.
    plain = ["unkword" if t == "<unk>" else t for t in tokens]
    assume(representable(plain))
    text = nltk_tok.detokenize(tokens)
    assert text.count("<unk>") == tokens.count("<unk>")
    assert nltk_tok.tokenize(text.replace("<unk>", "unkword")) == plain, text


def test_special_tokens_keep_the_natural_spacing(nltk_tok):
    assert nltk_tok.detokenize(["a", "<unk>", ",", "the", "cat", ".", "sat", "."]) == "a <unk>, the cat . sat."
    assert nltk_tok.detokenize(["the", "<unk>", "park", "."]) == "the <unk> park."
