"""Recipes: YAML files validated into frozen, typed dataclasses (the only place defaults live)."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from .errors import TextganError

# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class DataConfig:
    """What the generator learns from.

    ``corpus`` is a registered corpus name (``textgan corpus list``) or a path to a user file.
    For ``synthetic_oracle`` the training and test sets are drawn from the oracle.
    """

    corpus: str = "synthetic_oracle"
    oracle: Literal["random", "seqgan"] = "random"  # synthetic_oracle only: which oracle LSTM
    oracle_seed: int = 0  # seed of the random oracle's parameters
    num_train: int = 10_000  # oracle samples drawn as training data (SeqGAN: 10,000)
    num_test: int = 10_000  # fresh oracle samples for NLL-test
    train_split: str = "train"
    test_split: str | None = "test"  # a single user file has none: test_fraction of it is held out instead
    test_fraction: float = 0.1  # single user file only: share of its texts held out as the test split (seeded by seed)
    text_column: str | None = None
    label_column: str | None = None
    tokenizer: Literal["whitespace", "nltk", "sentencepiece", "hf"] = "whitespace"
    tokenizer_path: str | None = None  # folder of a local Hugging Face tokenizer (tokenizer: hf)
    sentencepiece_vocab_size: int = 8000
    sentencepiece_model_type: Literal["unigram", "bpe"] = "unigram"
    lowercase: bool = False
    min_freq: int = 1
    max_vocab: int | None = None
    max_len: int = 20  # tokens per sequence, including the end-of-sequence token for text
    keep_labels: tuple[str, ...] | None = None  # keep only rows whose label is one of these (e.g. [1]: FA-KES credible articles)

    def __post_init__(self) -> None:
        checks = [
            (self.num_train >= 1, f"data.num_train must be positive, got {self.num_train}", "set data.num_train=10000"),
            (self.num_test >= 0, f"data.num_test must be >= 0, got {self.num_test}", "set data.num_test=10000 (0: no test set)"),
            (self.min_freq >= 1, f"data.min_freq must be at least 1, got {self.min_freq}", "set data.min_freq=1 (keep every word)"),
            (self.max_vocab is None or self.max_vocab >= 1, f"data.max_vocab must be positive or null, got {self.max_vocab}",
             "set data.max_vocab=null (no cap) or a word count such as 5000"),
            (0.0 < self.test_fraction < 1.0, f"data.test_fraction must be in (0, 1), got {self.test_fraction}",
             "set data.test_fraction=0.1 (or data.test_split=null to train on the whole file without a test set)"),
            (self.sentencepiece_vocab_size >= 1,
             f"data.sentencepiece_vocab_size must be positive, got {self.sentencepiece_vocab_size}", "set it to e.g. 8000"),
        ]
        for ok, problem, fix in checks:
            if not ok:
                raise TextganError(f"{problem}: {fix}")
        if self.corpus == "synthetic_oracle" and self.max_vocab is not None:
            raise TextganError(f"data.max_vocab={self.max_vocab} does not apply to the synthetic oracle (its vocabulary is "
                               "the oracle's tokens): remove data.max_vocab, or set data.corpus to a text corpus")


@dataclass(frozen=True)
class GeneratorConfig:
    """The generator: ``type`` names a registered generator (``lstm``, SeqGAN's LSTM; ``leakgan``).

    The other keys of the section are the chosen generator's own config dataclass (e.g.
    :class:`textgan.models.lstm_generator.LSTMGeneratorConfig`), the only place their defaults live.
    """

    type: str = "lstm"


@dataclass(frozen=True)
class MLEConfig:
    """Maximum-likelihood (teacher-forcing) training of the generator."""

    epochs: int = 120
    batch_size: int = 64
    lr: float = 0.01
    grad_clip: float = 5.0  # global gradient-norm clip, as SeqGAN
    drop_last: bool = True  # SeqGAN uses 156 full batches of 64 out of 10,000 sequences

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise TextganError(f"mle.epochs must be >= 0, got {self.epochs}: set mle.epochs to the number of MLE epochs "
                               "(0: no MLE phase)")
        if self.batch_size < 1:
            raise TextganError(f"mle.batch_size must be positive, got {self.batch_size}: set mle.batch_size=64")
        if not self.lr > 0:
            raise TextganError(f"mle.lr must be > 0, got {self.lr}: set mle.lr=0.01")
        if self.grad_clip < 0:
            raise TextganError(f"mle.grad_clip must be >= 0 (0: no clipping), got {self.grad_clip}: set mle.grad_clip=5.0")


RUN_METRICS: tuple[str, ...] = ("nll_oracle", "nll_test", "bleu", "self_bleu", "fbleu", "ms_jaccard", "distinct",
                                 "entropy", "novelty", "length")
"""What a run can measure at each evaluation (``eval.metrics``); docs/evaluation.md explains each.
The costly distribution metrics (LM scores, Fréchet distance, MAUVE) are ``textgan evaluate``'s."""


@dataclass(frozen=True)
class EvalConfig:
    """When and how a run evaluates itself."""

    every: int = 5  # epochs between evaluations (the first and last epoch always evaluate)
    every_adversarial: int = 5  # adversarial batches between evaluations (SeqGAN: 5; the first and last always)
    num_samples: int = 10_000  # generated samples per evaluation (SeqGAN: 9,984)
    metrics: tuple[str, ...] = ("nll_oracle", "nll_test")
    temperature: float = 1.0
    save_samples: int = 200  # samples written to the run folder at each evaluation
    tokenizer: Literal["whitespace", "nltk"] = "whitespace"  # words for BLEU / Self-BLEU (Texygen: nltk); alias bleu_tokenize
    batch_size: int = 1000

    def __post_init__(self) -> None:
        checks = [
            (self.every >= 1, f"eval.every must be a positive number of epochs, got {self.every}", "set eval.every=5"),
            (self.every_adversarial >= 1, f"eval.every_adversarial must be positive, got {self.every_adversarial}",
             "set eval.every_adversarial=5"),
            (self.num_samples >= 1, f"eval.num_samples must be positive, got {self.num_samples}", "set eval.num_samples=10000"),
            (self.temperature > 0, f"eval.temperature must be > 0, got {self.temperature}", "set eval.temperature=1.0"),
            (self.save_samples >= 0, f"eval.save_samples must be >= 0, got {self.save_samples}", "set eval.save_samples=200"),
            (self.batch_size >= 1, f"eval.batch_size must be positive, got {self.batch_size}", "set eval.batch_size=1000"),
        ]
        for ok, problem, fix in checks:
            if not ok:
                raise TextganError(f"{problem}: {fix}")


@dataclass(frozen=True)
class DiscriminatorConfig:
    """The discriminator and its supervised training (SeqGAN's CNN; LantaoYu/SeqGAN sequence_gan.py).

    ``type`` names a registered discriminator (``cnn``); its architecture keys come from its own
    config dataclass (:class:`textgan.models.cnn_discriminator.CNNDiscriminatorConfig`).
    """

    type: str = "cnn"
    lr: float = 1e-4  # Adam
    batch_size: int = 64
    pretrain_rounds: int = 50  # rounds of fresh negatives before adversarial training
    pretrain_epochs: int = 3  # epochs over each round's positives + negatives
    num_negatives: int | None = None  # generated sequences per round; None: the training-set size rounded down to whole batches (SeqGAN: 9,984)
    pretrain_cycles: int = 1  # >1: pretraining alternates this many cycles of (pretrain_rounds / n D rounds, then mle.epochs / n MLE epochs), as LeakGAN's code (10)

    def __post_init__(self) -> None:
        if self.pretrain_cycles < 1:
            raise TextganError(f"discriminator.pretrain_cycles must be positive, got {self.pretrain_cycles}")


@dataclass(frozen=True)
class AdversarialConfig:
    """Policy-gradient adversarial training (SeqGAN, Yu et al. 2017; LantaoYu/SeqGAN sequence_gan.py).

    ``reward`` and ``loss`` name registered components; their own keys (``num_rollouts``,
    ``rollout_chunk_size``, ``loss_reduction``...) come from their config dataclasses
    (:mod:`textgan.rl.rewards`, :mod:`textgan.rl.losses`, :mod:`textgan.rl.leakgan`). A reward or
    loss that does not fit the generator is refused when the recipe loads.
    """

    batches: int = 200  # adversarial batches (SeqGAN's TOTAL_BATCH)
    batch_size: int = 64  # generated sequences per generator step
    g_steps: int = 1  # generator steps per adversarial batch
    d_rounds: int = 5  # rounds of fresh negatives per adversarial batch
    d_epochs: int = 3  # epochs over each round's data
    reward: str = "rollout"  # Monte Carlo rollouts scored by the discriminator (leakgan: every c steps, rank-rescaled)
    rollout_update_rate: float = 0.8  # rollout <- rate * rollout + (1 - rate) * generator after each step
    loss: str = "reinforce"
    temperature: float = 1.0  # softmax temperature of the batches the generator is trained on (LeakGAN: 1.5)
    mle_every: int = 0  # >0: an MLE phase on real data after every this many adversarial batches (LeakGAN on text: 15)
    mle_batches: int | None = None  # batches per interleaved MLE phase; None: one epoch
    lr: float = 0.01  # a fresh Adam for the adversarial phase, as SeqGAN's separate g_opt
    grad_clip: float = 5.0
    best_metric: str | None = None  # also keep checkpoints/best by this eval metric (nll_*: lower is better)
    kl_coef: float = 0.0  # >0: per-token KL penalty to the frozen MLE model on the rewards (TRL's PPO form; textgan/rl/kl.py)
    kl_target: float | None = None  # adapt kl_coef towards this per-sequence KL (TRL's AdaptiveKLController); None: fixed
    kl_horizon: int = 10_000  # the adaptive controller's horizon, in sequences

    def __post_init__(self) -> None:
        if self.kl_coef < 0 or (self.kl_target is not None and self.kl_target <= 0) or self.kl_horizon < 1:
            raise TextganError("adversarial.kl_coef must be >= 0, kl_target > 0 (or null) and kl_horizon >= 1: "
                               "fix the adversarial section")
        if self.batch_size < 1 or self.batches < 0:
            raise TextganError("adversarial.batch_size must be positive and adversarial.batches non-negative: "
                               "fix the adversarial section")
        if not 0.0 <= self.rollout_update_rate <= 1.0:
            raise TextganError(f"adversarial.rollout_update_rate must be in [0, 1], got {self.rollout_update_rate}")
        if self.temperature <= 0 or self.mle_every < 0:
            raise TextganError("adversarial.temperature must be > 0 and adversarial.mle_every >= 0: fix the adversarial section")


@dataclass(frozen=True)
class ADMConfig:
    """Adversarial Document Model (Glover, 2016) on binary bags of words; see docs/adm.md.

    When a recipe has this section, ``generator``, ``mle`` and ``eval`` do not apply; ``data``
    gives the corpus, splits and columns (its tokenizer and length keys do not apply either).
    """

    vocab_file: str | None = None  # one word per line: a path, or a file of the named corpus; None builds one
    vocab_size: int = 2000  # words kept when the vocabulary is built from the training split
    tokenizer: Literal["nltk", "words"] = "nltk"  # nltk: the reference's Treebank tokens; words: fast regex
    validation_fraction: float = 0.1  # share of the training split held out (seeded by the recipe's seed)
    hidden_dim: int = 50  # discriminator hidden units = embedding size
    noise: float = 0.4  # masking noise: share of vocabulary entries zeroed, one mask per batch
    shared_mask: bool = False  # True: one mask for the real and the generated batch of a discriminator update (AYLIEN)
    negative_slope: float = 0.2  # leaky ReLU of the discriminator
    noise_dim: int = 50  # generator input z
    generator_dim: int = 300  # generator hidden units (two layers)
    margin: float | None = None  # EBGAN margin; None: vocabulary size // 20, as the reference
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 64
    steps: int = 150_000  # the reference's num_steps
    eval_every: int = 500  # steps between validations (the reference's save_every)
    select_recall: float = 0.0002  # validation precision at this recall picks the checkpoint
    recalls: tuple[float, ...] = (0.0001, 0.0002, 0.0005, 0.002, 0.01, 0.05, 0.2, 1.0)  # test table columns
    baselines: tuple[str, ...] = ("adm_ae", "dae", "bow", "tfidf")  # also trained / scored in the same run
    # opt-in: lsa, lda, doc2vec (gensim), encoder (adm.encoder_path); "lsa@300" picks the size (textgan/baselines.py)
    baseline_dim: int = 50  # size of lsa / lda / doc2vec without "@D"
    encoder_path: str | None = None  # local transformers folder for the "encoder" baseline (mean-pooled)
    encoder_max_length: int = 256  # encoder tokens per document
    evaluations: tuple[str, ...] = ("retrieval", "probe", "clustering")  # textgan/metrics/representation.py
    embed_batch_size: int = 4096
    compute_dtype: Literal["float32", "bfloat16", "auto"] = "float32"  # bfloat16: autocast forward passes (faster CPUs)
    embedding_map: Literal["tsne", "pca", "none"] = "tsne"  # 2-D map of the test embeddings
    map_points: int = 1500  # t-SNE subsample (exact t-SNE is O(N^2))

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.noise < 1.0, f"adm.noise must be in [0, 1), got {self.noise}"),
            (0.0 < self.validation_fraction < 1.0, f"adm.validation_fraction must be in (0, 1), got {self.validation_fraction}"),
            (self.steps >= 1 and self.eval_every >= 1 and self.batch_size >= 1,
             "adm.steps, adm.eval_every and adm.batch_size must be positive"),
            (0.0 < self.select_recall <= 1.0 and all(0.0 < r <= 1.0 for r in self.recalls) and self.recalls,
             "adm.select_recall and adm.recalls must be fractions in (0, 1]"),
            (self.vocab_size >= 1 and self.hidden_dim >= 1 and self.noise_dim >= 1 and self.generator_dim >= 1,
             "adm sizes (vocab_size, hidden_dim, noise_dim, generator_dim) must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise TextganError(f"{message}: fix the adm section")
        known = {"adm_ae", "dae", "bow", "tfidf", "lsa", "lda", "doc2vec", "encoder"}
        for b in self.baselines:
            name, _, size = b.partition("@")
            if name not in known or (size and (name not in ("lsa", "lda", "doc2vec") or not size.isdigit()
                                               or int(size) < 1)):
                raise TextganError(f"adm.baselines has unknown method {b!r}: use some of {sorted(known)} "
                                   "(lsa, lda and doc2vec take a size: lsa@300)")
        if len(set(self.baselines)) != len(self.baselines):
            raise TextganError(f"adm.baselines lists a method twice: {list(self.baselines)}")
        if "encoder" in self.baselines and not self.encoder_path:
            raise TextganError("adm.baselines has 'encoder' but adm.encoder_path is not set: give a local "
                               "transformers model folder")
        if self.baseline_dim < 1 or self.encoder_max_length < 1:
            raise TextganError("adm.baseline_dim and adm.encoder_max_length must be positive")
        for e in self.evaluations:
            if e not in ("retrieval", "probe", "clustering"):
                raise TextganError(f"adm.evaluations has unknown evaluation {e!r}: use some of "
                                   "['retrieval', 'probe', 'clustering']")


@dataclass(frozen=True)
class DetectorConfig:
    """The baseline detector of a pipeline: SeqGAN's CNN trained from scratch on real vs generated texts."""

    embed_dim: int = 64
    filter_sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
    num_filters: tuple[int, ...] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
    dropout: float = 0.25
    l2_reg: float = 0.2
    lr: float = 1e-4  # Adam
    batch_size: int = 64
    epochs: int = 3  # the epoch with the best validation accuracy is kept
    max_len: int | None = None  # tokens per text (None: the longest train text, at most 512)
    tokenizer: Literal["whitespace", "nltk"] = "whitespace"  # alias tokenize
    compute_dtype: Literal["float32", "bfloat16", "auto"] = "float32"
    max_eval_samples: int = 2000  # generated / real test texts scored by BLEU and Self-BLEU
    transformer: str | None = None  # also fine-tune a transformer detector: "small" (BERT from a config) or a local folder
    cnn_seeds: int = 1  # train the CNN with this many seeds (seed, seed + 1, ...): mean and std in the report

    def __post_init__(self) -> None:
        if len(self.filter_sizes) != len(self.num_filters) or not self.filter_sizes:
            raise TextganError("pipeline.detector.filter_sizes and num_filters must be non-empty lists of equal length")
        if isinstance(self.cnn_seeds, bool) or not isinstance(self.cnn_seeds, int) or self.cnn_seeds < 1:
            raise TextganError(f"pipeline.detector.cnn_seeds is {self.cnn_seeds!r}: use a whole number >= 1")


@dataclass(frozen=True)
class AugmentationConfig:
    """After training a label-conditional generator: a classifier trained on real data versus real +
    generated data, evaluated on the real test split (``textgan.detection.augment``; docs/fake_news.md)."""

    real: str | None = None  # labelled corpus with train / validation / test splits; None: data.corpus
    train_split: str | None = None  # None: data.train_split
    validation_split: str | None = None  # None: the first of validation / valid / dev present
    test_split: str | None = None  # None: data.test_split (the generator never trains on it)
    per_label: int | None = None  # generated texts per label (balanced); None: ratio
    ratio: float | None = None  # generated = ratio x real train texts used (None with per_label None: 1.0)
    mix: Literal["train", "balanced"] | None = None  # labels of the generated texts (None: train with ratio)
    classifier: Literal["tfidf_logreg", "cnn"] = "tfidf_logreg"
    seeds: tuple[int, ...] = (0, 1, 2)
    real_fractions: tuple[float, ...] = (1.0, 0.1)  # shares of the real train texts used (stratified)
    label_map: tuple[str, ...] | None = None  # "GENERATOR_LABEL:CORPUS_LABEL" pairs where the names differ
    n_bootstrap: int = 1000
    temperature: float = 1.0
    drop_train_copies: bool = True

    def __post_init__(self) -> None:
        if self.per_label is not None and self.ratio is not None:
            raise TextganError("pipeline.augmentation.per_label and ratio both set the generated amount: set one of them")
        if (self.per_label is not None and self.per_label < 1) or (self.ratio is not None and not self.ratio > 0):
            raise TextganError("pipeline.augmentation.per_label and ratio must be positive")
        if not self.seeds or any(not 0 < f <= 1 for f in self.real_fractions) or not self.real_fractions:
            raise TextganError("pipeline.augmentation needs seeds and real_fractions in (0, 1], e.g. [1.0, 0.1]")


@dataclass(frozen=True)
class PipelineConfig:
    """After training: generate texts, build a real-vs-generated detection dataset, report detectability.

    See docs/fake_news.md; the stages live in textgan/detection/pipeline.py (``run_pipeline``).
    """

    num_generate: int = 10_000
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_len: int = 1  # shorter texts are dropped (and counted)
    ban_unk: bool = False  # never generate <unk> (textgan generate --ban-unk)
    seed: int | None = None  # None: the recipe's seed
    shard_size: int = 10_000
    batch_size: int = 1000
    drop_duplicates: bool = True
    drop_train_copies: bool = True
    real: str | None = None  # NAME, NAME:SPLIT or a file; None: data.corpus's test split (its train split without one)
    real_labels: tuple[str, ...] | None = None  # None: data.keep_labels
    real_max_tokens: int | None = None  # real texts cut to this many tokens; None: data.max_len - 1
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    max_per_class: int | None = None
    split_by: Literal["run", "random", "source", "date", "topic"] = "run"  # see docs/fake_news.md section 2, Splits
    group_column: str | None = None  # the real corpus's column for source/date/topic (None: source, date, subject)
    near_dup_threshold: float | None = 0.8  # Jaccard of word 3-gram shingles; 0 or null: no near-duplicate removal
    # no length shortcut: "cut" (true) pairs each generated text with a real one at least as long and cuts the
    # real one to its length (articles);
    # "sample" keeps as many real as generated texts at every length, cutting nothing (sentences)
    match_length: bool | Literal["cut", "sample"] = False
    # real tokens the generator cannot emit (textgan corpus detection --oov): auto, unk, drop, keep, or delete
    # (those tokens and every <unk> taken out of both sides: articles, nearly all holding <unk> at unequal rates)
    oov: Literal["auto", "unk", "drop", "keep", "delete"] = "auto"
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    augmentation: AugmentationConfig | None = None  # then: the augmentation experiment (a conditional generator)

    def __post_init__(self) -> None:
        if self.num_generate < 1:
            raise TextganError(f"pipeline.num_generate must be positive, got {self.num_generate}")
        if not (0 <= self.validation_fraction < 1 and 0 < self.test_fraction < 1
                and self.validation_fraction + self.test_fraction < 1):
            raise TextganError("pipeline.validation_fraction and test_fraction must be in [0, 1) and sum below 1")
        if self.near_dup_threshold is not None and not 0 <= self.near_dup_threshold <= 1:
            raise TextganError(f"pipeline.near_dup_threshold must be a Jaccard similarity in [0, 1] (0 or null: off), "
                               f"got {self.near_dup_threshold}")


@dataclass(frozen=True)
class CheckpointConfig:
    """When a run saves its full training state (``state/``, what ``textgan run --resume`` reads)."""

    every: int | None = None  # steps of a phase between saves; None: after every evaluation (and at every phase's end)
    phase_states: bool = True  # keep the state each phase starts from (phase_states/<phase>/, hard links): `textgan run --fork RUN --at PHASE`

    def __post_init__(self) -> None:
        if self.every is not None and self.every < 1:
            raise TextganError(f"checkpoint.every must be a positive number of steps or null, got {self.every}")


@dataclass(frozen=True)
class Recipe:
    """A whole experiment. Load with :func:`load_recipe`."""

    name: str = "experiment"
    description: str = ""
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = None  # torch intra-op threads (None: torch's default)
    tensorboard: bool = False  # also log metrics to <run>/tensorboard (needs the tensorboard extra)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=lambda: section_class(GeneratorConfig, {})())
    mle: MLEConfig = field(default_factory=MLEConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    adm: ADMConfig | None = None  # an Adversarial Document Model run instead of a language model
    discriminator: DiscriminatorConfig | None = None  # needed by an adversarial section
    adversarial: AdversarialConfig | None = None  # policy-gradient training after MLE (SeqGAN)
    pipeline: PipelineConfig | None = None  # after training: generate, detection dataset, report (fake news)

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise TextganError(f"threads must be a positive number of torch threads, got {self.threads}: "
                               "set threads=1 or more, or threads=null for torch's default")
        if self.adm is not None and self.data.corpus == "synthetic_oracle":
            raise TextganError("an adm recipe needs a text corpus: set data.corpus (e.g. newsgroups20 or a file path)")
        if self.adversarial is not None and self.discriminator is None:
            raise TextganError("an adversarial section needs a discriminator section: add `discriminator: {type: cnn}`")
        from .registry import check_discriminator_fit, check_fit, check_trainer_fit, generator_needs

        if "discriminator" in generator_needs(self.generator.type) and self.discriminator is None:
            raise TextganError(f"generator.type {self.generator.type} reads the discriminator's features: "
                               "add a discriminator section")
        if self.adversarial is not None:
            check_fit(self.generator.type, self.adversarial.reward, self.adversarial.loss)
            check_trainer_fit(self.generator.type, self.adversarial)
            check_discriminator_fit(self.adversarial.reward, self.discriminator.type)
        if self.pipeline is not None and self.data.corpus == "synthetic_oracle":
            raise TextganError("a pipeline section needs a text corpus: set data.corpus (e.g. emnlp_news)")
        if self.data.max_len < 2:
            raise TextganError(f"data.max_len must be at least 2, got {self.data.max_len}: set data.max_len=20 or more")
        for m in self.eval.metrics:
            if m not in RUN_METRICS:
                later = " (train a language model or an encoder: score the run's samples with `textgan evaluate`)" \
                    if m in ("lm_score", "reverse_lm_score", "frechet", "mauve") else ""
                raise TextganError(f"eval.metrics has unknown metric {m!r}{later}: use some of {list(RUN_METRICS)}")


# --------------------------------------------------------------------------- sections made of components

DISPATCH: dict[type, tuple[tuple[str, str], ...]] = {
    GeneratorConfig: (("type", "generator"),),
    DiscriminatorConfig: (("type", "discriminator"),),
    AdversarialConfig: (("reward", "reward"), ("loss", "loss")),
}
"""Sections whose keys depend on registered components: section class -> (key naming the component, table)."""

_COMPOSED: dict[tuple, type] = {}


def section_class(base: type, raw: dict) -> type:
    """The dataclass of a section made of ``base``'s keys plus those of the components ``raw`` names.

    E.g. ``generator: {type: leakgan, ...}`` validates against :class:`GeneratorConfig` plus
    the fields of LeakGAN's config dataclass. Composed classes are cached, so two recipes with
    the same components compare equal.
    """
    from .registry import component_config, table

    parts = []
    for key, kind in DISPATCH[base]:
        name = raw.get(key, next(f.default for f in dataclasses.fields(base) if f.name == key))
        if not isinstance(name, str):
            raise TextganError(f"recipe key {key!r} names a {kind} and must be a string, got {name!r}")
        table(kind).get(name)  # an unknown name: one line with the nearest known one
        parts.append(component_config(kind, name))
    cache_key = (base, *parts)
    if cache_key not in _COMPOSED:
        own = {f.name for f in dataclasses.fields(base)}
        extra, seen = [], {}
        for part in parts:
            for f in dataclasses.fields(part):
                if f.name in own:
                    raise TypeError(f"{part.__name__}.{f.name} clashes with a key of {base.__name__}")
                if f.name in seen:
                    continue  # two components sharing a key (e.g. num_rollouts) share its default
                seen[f.name] = part
                default = (dataclasses.field(default=f.default) if f.default is not dataclasses.MISSING
                           else dataclasses.field(default_factory=f.default_factory))
                extra.append((f.name, typing.get_type_hints(part)[f.name], default))

        def __post_init__(self, _parts=tuple(parts)) -> None:
            if hasattr(base, "__post_init__"):
                base.__post_init__(self)
            for part in _parts:
                if hasattr(part, "__post_init__"):
                    part.__post_init__(self)

        names = "+".join(p.__name__ for p in parts)
        cls = dataclasses.make_dataclass(f"{base.__name__}[{names}]", extra, bases=(base,), frozen=True,
                                         namespace={"__post_init__": __post_init__, "__module__": base.__module__})
        cls.__doc__ = f"{base.__doc__}\n\nComposed with: {names}."
        _COMPOSED[cache_key] = cls
    return _COMPOSED[cache_key]


# --------------------------------------------------------------------------- validation


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin in (tuple, list):
        return f"list of {_type_name(get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp) or tp is dict or origin is dict:
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML value to ``tp`` or raise a one-line TextganError naming ``key``."""
    origin = get_origin(tp)
    bad = TextganError(f"recipe key {key!r} expects {_type_name(tp)}, got {value!r} ({type(value).__name__}): fix the value in the recipe or --set")
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            if isinstance(value, dict) and dataclasses.is_dataclass(arg):
                return _coerce(value, arg, key)  # an optional section: its own error names the bad key
            try:
                return _coerce(value, arg, key)
            except TextganError:
                continue
        raise bad
    if origin is Literal:
        if value in get_args(tp):
            return value
        close = difflib.get_close_matches(str(value), [str(a) for a in get_args(tp)], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TextganError(f"recipe key {key!r} must be {_type_name(tp)}, got {value!r}{hint}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise bad
        (inner, *rest) = get_args(tp)
        items = [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is dict or origin is dict:  # free-form options passed on as they are (a transformers config)
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad
        if tp in DISPATCH:
            tp = section_class(tp, value)
        return _build(tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                f = float(value)
            except ValueError:
                raise bad from None
            if f.is_integer():
                return int(f)
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads 1e-4 as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad
    raise bad


def _hints(cls: type) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):  # composed sections: the base's hints, then the components'
        if dataclasses.is_dataclass(klass):
            try:
                hints.update(typing.get_type_hints(klass))
            except NameError:
                hints.update({f.name: f.type for f in dataclasses.fields(klass)})
    for f in dataclasses.fields(cls):
        if not isinstance(f.type, str):
            hints[f.name] = f.type
    return hints


ALIASES: dict[str, str] = {"bleu_tokenize": "tokenizer", "tokenize": "tokenizer"}
"""Older spellings of recipe keys, accepted wherever the new name is a key of the section."""


def _build(cls: type, raw: dict, prefix: str = "") -> Any:
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    renamed = {}
    for key, value in raw.items():
        new = ALIASES.get(key) if key not in names else None
        if new in names:
            if new in raw:
                where = f"{prefix}." if prefix else ""
                raise TextganError(f"recipe keys {where + key!r} and {where + new!r} are the same setting: keep {new!r}")
            key = new
        renamed[key] = value
    for key, value in renamed.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
            hint = f"did you mean {(prefix + '.' if prefix else '') + close[0]!r}? " if close else ""
            where = f"section {prefix!r}" if prefix else "the recipe's top level"
            raise TextganError(f"unknown recipe key {full!r}: {hint}valid keys in {where}: {', '.join(names)}")
        kwargs[key] = _coerce(value, hints[key], full)
    try:
        return cls(**kwargs)
    except ValueError as e:  # a component config's own check
        where = f"the {prefix} section" if prefix else "the recipe"
        raise TextganError(f"{e}: fix {where}") from None


def recipe_from_dict(raw: dict) -> Recipe:
    """Validate a nested mapping into a :class:`Recipe` (strict: unknown keys and wrong types fail)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise TextganError("a recipe must be a YAML mapping of sections (data:, generator:, ...): see recipes/quickstart.yaml")
    if raw.get("adm") is not None:  # sections equal to their defaults are fine (a resolved recipe.yaml lists them)
        defaults = recipe_to_dict(Recipe())
        extra = [k for k in ("generator", "mle", "eval") if raw.get(k) not in (None, {}, defaults[k])]
        if extra:
            raise TextganError(f"an adm recipe does not use section(s) {', '.join(extra)}: remove them (see recipes/adm/newsgroups20.yaml)")
    return _build(Recipe, raw)


def parse_overrides(overrides: list[str] | None) -> dict:
    """Turn ``["mle.epochs=3", "data.corpus=coco_captions"]`` into a nested dict."""
    nested: dict = {}
    for item in overrides or []:
        if "=" not in item:
            raise TextganError(f"--set expects KEY=VALUE (e.g. mle.epochs=3), got {item!r}")
        key, value = item.split("=", 1)
        parsed = yaml.safe_load(value) if value.strip() else None
        node = nested
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise TextganError(f"--set {item!r}: {p!r} is not a section")
        node[parts[-1]] = parsed
    return nested


def merge(base: dict, override: dict) -> dict:
    """Recursively merge ``override`` into a copy of ``base``."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping with one-line errors for a missing, empty or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise TextganError(f"recipe file {str(path)!r} not found: check the path, or list the shipped recipes with `textgan recipes`")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TextganError(f"recipe {str(path)!r} is not UTF-8 (byte {e.start}): save it as UTF-8") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise TextganError(f"recipe {str(path)!r} is not valid YAML{where}: fix the syntax") from None
    if raw is None:
        raise TextganError(f"recipe {str(path)!r} is empty: copy one from recipes/ (see `textgan recipes`)")
    return raw


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Load and validate a recipe file, applying ``--set`` style overrides.

    Args:
        path: YAML file.
        overrides: dotted ``key=value`` strings, applied after the file.

    Returns:
        The validated, frozen :class:`Recipe`.

    Raises:
        TextganError: missing file, bad YAML, unknown key (with the nearest valid key), wrong type.
    """
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise TextganError(f"recipe {str(path)!r} is a YAML {type(raw).__name__}, not a mapping of sections "
                           "(data:, generator:, mle:, ...): write it as recipes/quickstart.yaml does")
    return recipe_from_dict(merge(raw, parse_overrides(overrides)))


def recipe_to_dict(recipe: Recipe) -> dict:
    """The resolved recipe as plain data (tuples become lists), for saving next to a run."""

    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(dataclasses.asdict(recipe))
