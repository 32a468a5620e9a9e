"""Adversarial Document Model (Glover, 2016): denoising-autoencoder energy, MLP generator, EBGAN losses.

Everything follows the paper's reference code (AYLIEN/adversarial-document-model, ``model/model.py``
and ``train.py``):

* discriminator: a denoising autoencoder. Masking noise zeroes each vocabulary entry with
  probability ``noise`` (0.4), with **one mask per batch** shared by every document of the batch;
  a 50-unit hidden layer with leaky ReLU (slope 0.2) gives the document representation; a linear
  decoder reconstructs the *clean* input. The energy of a document is its squared reconstruction
  error **summed** over the vocabulary; a loss uses the **batch mean** of the energies.
* generator: noise (50) -> 300 -> 300 (each linear, batch norm, ReLU) -> vocabulary-sized sigmoid.
  TF-slim's ``batch_norm`` default has a shift but no scale, so the scale is frozen at 1 here.
* weights start from N(0, 2 / fan_in) (He), biases from 0.
* losses (EBGAN, Zhao et al., 2017, eq. 1-2, as written in the reference): the discriminator
  minimises ``E(x) + max(0, m - E(G(z)))`` and the generator ``E(G(z))``, with ``m = V // 20``.
  The hinge acts on the *batch-mean* fake energy (the reference), not per document (EBGAN paper).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _he_init(layer: nn.Linear) -> None:
    nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / layer.in_features))
    nn.init.zeros_(layer.bias)


def sample_mask(vocab_size: int, noise: float, *, generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> Tensor:
    """One masking-noise mask for a whole batch.

    Args:
        vocab_size: V.
        noise: probability that an entry is zeroed.
        generator: random source (its device decides where the draw happens).
        device: where the mask lives.

    Returns:
        (V,) float32 of 0/1; multiply a (B, V) batch by it to zero the same words in every row.
    """
    gen_device = generator.device if generator is not None else device
    keep = torch.rand(vocab_size, generator=generator, device=gen_device) >= noise
    return keep.float().to(device) if device is not None else keep.float()


def reconstruction_energy(inputs: Tensor, reconstruction: Tensor) -> Tensor:
    """Squared reconstruction error per document.

    Args:
        inputs: (B, V) clean bags of words.
        reconstruction: (B, V) decoder output.

    Returns:
        (B,) sum over the vocabulary of ``(inputs - reconstruction) ** 2``.
    """
    diff = inputs - reconstruction
    return (diff * diff).sum(dim=1)


def discriminator_loss(real_energy: Tensor, fake_energy: Tensor, margin: float) -> Tensor:
    """EBGAN discriminator loss as in the ADM reference: ``mean E(x) + max(0, m - mean E(G(z)))``.

    Args:
        real_energy: (B,) energies of training documents.
        fake_energy: (B,) energies of generated documents.
        margin: m (the reference uses ``V // 20``).

    Returns:
        Scalar loss.
    """
    return real_energy.mean() + torch.clamp(margin - fake_energy.mean(), min=0.0)


def generator_loss(fake_energy: Tensor) -> Tensor:
    """EBGAN generator loss: the mean energy of generated documents, (B,) -> scalar."""
    return fake_energy.mean()


class DenoisingAutoencoder(nn.Module):
    """The ADM discriminator, whose hidden layer is the document embedding.

    Args:
        vocab_size: V, the bag-of-words size.
        hidden_dim: H, the embedding size (50).
        noise: masking-noise probability used by :meth:`mask` (0.4; 0 makes a plain autoencoder).
        negative_slope: leaky ReLU slope (0.2).
    """

    def __init__(self, vocab_size: int, hidden_dim: int = 50, noise: float = 0.4, negative_slope: float = 0.2) -> None:
        super().__init__()
        if not 0.0 <= noise < 1.0:
            raise ValueError(f"noise must be in [0, 1), got {noise}")
        self.vocab_size = vocab_size
        self.hidden_dim = hidden_dim
        self.noise = noise
        self.negative_slope = negative_slope
        self.encoder = nn.Linear(vocab_size, hidden_dim)
        self.decoder = nn.Linear(hidden_dim, vocab_size)
        _he_init(self.encoder)
        _he_init(self.decoder)

    def config(self) -> dict:
        """Constructor arguments (saved with checkpoints)."""
        return {"vocab_size": self.vocab_size, "hidden_dim": self.hidden_dim, "noise": self.noise,
                "negative_slope": self.negative_slope}

    def mask(self, generator: torch.Generator | None = None) -> Tensor | None:
        """A (V,) masking-noise mask for one batch, or None when ``noise`` is 0."""
        if self.noise == 0.0:
            return None
        return sample_mask(self.vocab_size, self.noise, generator=generator, device=self.encoder.weight.device)

    def embed(self, docs: Tensor) -> Tensor:
        """Document representation: the hidden layer on the clean input.

        Args:
            docs: (B, V) bags of words (float).

        Returns:
            (B, H) ``leaky_relu(W_enc docs + b_enc)``; an empty document gets
            ``leaky_relu(b_enc)``.
        """
        return F.leaky_relu(self.encoder(docs), self.negative_slope)

    def forward(self, docs: Tensor, mask: Tensor | None = None) -> Tensor:
        """Reconstruct ``docs`` from its masked copy.

        Args:
            docs: (B, V) bags of words.
            mask: (V,) or (B, V) 0/1 mask applied to the input, or None for no noise.

        Returns:
            (B, V) linear reconstruction.
        """
        noisy = docs if mask is None else docs * mask
        return self.decoder(self.embed(noisy))

    def energy(self, docs: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, V) -> (B,) squared reconstruction error of the clean ``docs`` from the masked input."""
        return reconstruction_energy(docs, self(docs, mask))


class MLPGenerator(nn.Module):
    """The ADM generator: Gaussian noise -> soft bag of words.

    Args:
        vocab_size: V.
        noise_dim: size of z (50).
        hidden_dim: units of both hidden layers (300).
    """

    def __init__(self, vocab_size: int, noise_dim: int = 50, hidden_dim: int = 300) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.noise_dim = noise_dim
        self.hidden_dim = hidden_dim
        self.hidden = nn.ModuleList([nn.Linear(noise_dim, hidden_dim), nn.Linear(hidden_dim, hidden_dim)])
        # TF-slim batch_norm defaults: epsilon 1e-3, moving-average decay 0.999, shift but no scale.
        self.norms = nn.ModuleList([nn.BatchNorm1d(hidden_dim, eps=1e-3, momentum=1e-3) for _ in range(2)])
        self.output = nn.Linear(hidden_dim, vocab_size)
        for layer in (*self.hidden, self.output):
            _he_init(layer)
        for norm in self.norms:
            norm.weight.requires_grad_(False)

    def config(self) -> dict:
        """Constructor arguments (saved with checkpoints)."""
        return {"vocab_size": self.vocab_size, "noise_dim": self.noise_dim, "hidden_dim": self.hidden_dim}

    def forward(self, z: Tensor) -> Tensor:
        """(B, noise_dim) noise -> (B, V) word probabilities in (0, 1)."""
        h = z
        for linear, norm in zip(self.hidden, self.norms):
            h = torch.relu(norm(linear(h)))
        return torch.sigmoid(self.output(h))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, V) generated soft bags of words from standard-normal noise."""
        device = self.output.weight.device
        z = torch.randn(n, self.noise_dim, generator=generator, device=generator.device if generator is not None else device)
        return self(z.to(device))


class AdversarialDocumentModel(nn.Module):
    """Generator and denoising-autoencoder discriminator, saved and loaded together.

    Args:
        vocab_size: V.
        hidden_dim: embedding size of the discriminator (50).
        noise: masking noise of the discriminator (0.4; 0 gives "ADM (AE)").
        negative_slope: leaky ReLU slope (0.2).
        noise_dim: generator input size (50).
        generator_dim: generator hidden units (300).
    """

    def __init__(self, vocab_size: int, hidden_dim: int = 50, noise: float = 0.4, negative_slope: float = 0.2,
                 noise_dim: int = 50, generator_dim: int = 300) -> None:
        super().__init__()
        self.discriminator = DenoisingAutoencoder(vocab_size, hidden_dim, noise, negative_slope)
        self.generator = MLPGenerator(vocab_size, noise_dim, generator_dim)

    def config(self) -> dict:
        """Constructor arguments (saved with checkpoints)."""
        d, g = self.discriminator.config(), self.generator.config()
        return {**d, "noise_dim": g["noise_dim"], "generator_dim": g["hidden_dim"]}

    def embed(self, docs: Tensor) -> Tensor:
        """(B, V) -> (B, H): the discriminator's representation."""
        return self.discriminator.embed(docs)


@torch.no_grad()
def embed_bow(model: nn.Module, docs: Tensor, *, batch_size: int = 4096, progress: bool = False) -> Tensor:
    """Embed bags of words with a model's ``embed`` in eval mode, batch by batch.

    Args:
        model: a module with ``embed((B, V) float) -> (B, H)``.
        docs: (N, V) counts or 0/1 values (any dtype; binarised here).
        batch_size: documents per forward pass.
        progress: show a progress bar.

    Returns:
        (N, H) float32 on the CPU.
    """
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in tqdm(range(0, docs.shape[0], batch_size), desc="embed", unit="batch", disable=not progress,
                      dynamic_ncols=True):
        batch = (docs[start:start + batch_size].to(device) > 0).float()
        out.append(model.embed(batch).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.embed(torch.zeros(1, docs.shape[1], device=device)).shape[1])
