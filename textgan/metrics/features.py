"""Fréchet distance and MAUVE on sentence features.

Features are the mean-pooled last hidden states (over the attention mask) of a local
``transformers`` encoder folder, or the rows of any ``feature_fn(texts) -> (N, D) array``.

- **Fréchet distance** (Heusel et al., 2017, FID; on text: FBD with BERT features, Montahaei et
  al., 2019; FED with sentence-encoder features, de Masson d'Autume et al., 2019): fit a Gaussian
  to each feature set and report ``|mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))``
  (lower is better). Covariances are the unbiased sample covariances (``np.cov``), as in FID;
  the trace of the matrix square root is computed from the eigenvalues of the symmetric
  ``S_1^(1/2) S_2 S_1^(1/2)``, which is exact for positive semi-definite inputs and needs no
  scipy.
- **MAUVE** (Pillutla et al., 2021) through the optional ``mauve-text`` package, fed with the
  same features (``mauve.compute_mauve(p_features=..., q_features=...)``). ``mauve-text`` is
  GPLv3-licensed, so textgan (MIT) does not depend on it: install it yourself
  (``pip install mauve-text``) to get this metric.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FeatureFn = Callable[[Sequence[str]], np.ndarray]


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    Args:
        x: (N, D) features, N >= 2.
        y: (M, D) features, M >= 2.

    Returns:
        ``|mu_x - mu_y|^2 + Tr(S_x) + Tr(S_y) - 2 Tr((S_x S_y)^(1/2))``, clipped at 0.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sets must be (N, D) and (M, D), got {x.shape} and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the Fréchet distance needs at least 2 feature vectors per set")
    mu = x.mean(0) - y.mean(0)
    sx, sy = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    return float(max(0.0, mu @ mu + np.trace(sx) + np.trace(sy) - 2 * trace_sqrt_product(sx, sy)))


def trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """``Tr((A B)^(1/2))`` for symmetric PSD A, B: the eigenvalues of ``A^(1/2) B A^(1/2)``."""
    w, v = np.linalg.eigh(a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root_a @ b @ root_a
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(ev, 0, None)).sum())


@contextmanager
def quiet_transformers():
    """No transformers progress bars (loading / saving weights) inside the block."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


class EncoderFeatures:
    """Mean-pooled last hidden states of a local transformers encoder folder.

    Args:
        path: folder with the model (``AutoModel``) and its tokenizer; nothing downloads.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        batch_size: texts per forward pass.
        max_length: tokens kept per text.
    """

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int = 256, max_length: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from ..device import resolve_device

        self.path = Path(path)
        if not self.path.is_dir():
            from ..errors import TextganError

            raise TextganError(f"encoder {str(path)!r} is not a local transformers model folder")
        self.device = resolve_device(device)
        with quiet_transformers():
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(path), local_files_only=True).to(self.device).eval()
        self.batch_size, self.max_length = batch_size, max_length
        self._torch = torch

    def identity(self) -> dict:
        """Name, config hash and weight-file sizes: what the fingerprint records."""
        h = hashlib.sha256()
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
            f = self.path / name
            if f.is_file():
                h.update(name.encode() + f.read_bytes())
        weights = {f.name: f.stat().st_size for f in sorted(self.path.iterdir())
                   if f.suffix in (".safetensors", ".bin")}
        return {"encoder": self.path.name, "encoder_sha256": h.hexdigest()[:16], "weights": weights,
                "pooling": "mean of last hidden states over the attention mask", "max_length": self.max_length}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        # Sorting by length makes batches of similar length (less padding); rows go back in order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray | None = None
        with torch.inference_mode():
            for i in range(0, len(order), self.batch_size):
                rows = order[i:i + self.batch_size]
                enc = self.tokenizer([texts[j] for j in rows], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt")
                enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
                hidden = self.model(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                if out is None:  # the width is the model's output size, whatever its config calls it
                    out = np.zeros((len(texts), pooled.size(-1)), dtype=np.float64)
                out[rows] = pooled.double().cpu().numpy()
        if out is None:
            raise ValueError("no texts to encode")
        return out


def mauve_score(p_features: np.ndarray, q_features: np.ndarray, seed: int = 25, **kwargs) -> float:
    """MAUVE of two feature sets through the optional ``mauve-text`` package (GPLv3).

    Args:
        p_features: (N, D) features of the real texts.
        q_features: (M, D) features of the generated texts.
        seed: MAUVE's clustering seed (its default, 25).
        **kwargs: passed to ``mauve.compute_mauve`` (e.g. ``num_buckets``, ``mauve_scaling_factor``).

    Raises:
        TextganError: ``mauve-text`` is not installed.
    """
    try:
        import mauve
    except ImportError:
        from ..errors import TextganError

        raise TextganError("MAUVE needs the optional mauve-text package (GPLv3, not installed with textgan): "
                           "pip install mauve-text") from None
    result = mauve.compute_mauve(p_features=np.asarray(p_features), q_features=np.asarray(q_features), seed=seed,
                                 verbose=False, **kwargs)
    return float(result.mauve)


def feature_metrics(samples: Sequence[str], references: Sequence[str], which: tuple[str, ...] = ("frechet",),
                    encoder: str | Path | None = None, feature_fn: FeatureFn | None = None, device: str = "cpu",
                    batch_size: int = 256, max_length: int = 64, mauve_kwargs: dict | None = None,
                    feature_name: str | None = None) -> tuple[dict, dict]:
    """Fréchet distance and/or MAUVE between the samples' and the references' features.

    Args:
        samples: generated texts.
        references: real texts.
        which: ``"frechet"`` and/or ``"mauve"``.
        encoder: a local transformers encoder folder, or None when ``feature_fn`` is given.
        feature_fn: ``texts -> (N, D) array``, used instead of an encoder.
        device, batch_size, max_length: encoder settings.
        mauve_kwargs: passed to ``mauve.compute_mauve``.
        feature_name: names ``feature_fn`` in the protocol (default: its qualified name).

    Returns:
        ``(scores, protocol)``.
    """
    from ..errors import TextganError

    if (encoder is None) == (feature_fn is None):
        raise TextganError("the feature metrics need exactly one of an encoder folder (--encoder) or a feature_fn")
    if encoder is not None:
        enc = EncoderFeatures(encoder, device=device, batch_size=batch_size, max_length=max_length)
        fn, proto = enc, enc.identity()
    else:
        fn = feature_fn
        proto = {"feature_fn": feature_name or f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"}
    q, p = fn(list(samples)), fn(list(references))
    scores: dict = {}
    if "frechet" in which:
        scores["frechet"] = frechet_distance(q, p)
    if "mauve" in which:
        scores["mauve"] = mauve_score(p, q, **(mauve_kwargs or {}))
        proto["mauve"] = {"package": "mauve-text", **(mauve_kwargs or {})}
    proto["feature_dim"] = int(q.shape[1])
    return scores, proto
