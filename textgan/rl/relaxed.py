"""Continuous relaxations: generator outputs the discriminator can backpropagate through.

Instead of rewarding sampled tokens (policy gradient), these GANs hand the discriminator a
(B, T, V) distribution per position and train the generator by the gradient of the adversarial
loss through it. Two parts, each a registered component of the ``adversarial`` section:

- the *relaxation* (``adversarial.reward``, the slot the policy-gradient reward takes): what the
  generator emits at step i of the adversarial phase (:class:`Relaxation`): RelGAN's
  Gumbel-softmax with an annealed inverse temperature (``gumbel``), or Rajeswar et al.'s plain
  softmax with a length curriculum (``softmax``);
- the *loss* (``adversarial.loss``): RSGAN, the standard (non-saturating) GAN loss, or WGAN-GP,
  each ``loss(critic, real, fake, role="d" | "g", generator=rng) -> scalar``.

Both carry ``trainer="relaxed"`` in the registry, which makes ``build_language_model`` run
:mod:`textgan.train.relaxed` instead of the policy-gradient phases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.sampling import ban_special_logits, sample_categorical

Schedule = Literal["constant", "linear", "exponential", "log", "sigmoid", "quadratic", "sqrt"]


@dataclass(frozen=True)
class Relaxation:
    """What the generator emits at one adversarial step.

    ``gumbel``: Gumbel-softmax ``softmax(beta * (logits + g))``, next input argmax (RelGAN);
    otherwise ``softmax(logits)``, next input drawn from it. ``length``: steps generated (and
    real tokens compared), None for the full length.
    """

    gumbel: bool
    beta: float = 1.0
    length: int | None = None


def gumbel_noise(shape, generator: torch.Generator | None = None, device=None, eps: float = 1e-10) -> Tensor:
    """g = -log(-log(u + eps) + eps), u ~ U(0, 1): standard Gumbel noise (weilinie/RelGAN utils/ops.py add_gumbel)."""
    u = torch.rand(shape, generator=generator, device=device)
    return -torch.log(-torch.log(u + eps) + eps)


def gumbel_softmax(logits: Tensor, beta: float, noise: Tensor) -> tuple[Tensor, Tensor]:
    """(soft (B, V) = softmax(beta * (logits + noise)), hard (B,) = argmax(logits + noise)).

    ``beta`` is the inverse temperature (RelGAN multiplies by its "temperature"); the hard token
    is an exact sample of softmax(logits) (the Gumbel-max trick).
    """
    perturbed = logits + noise
    return torch.softmax(beta * perturbed, dim=-1), perturbed.argmax(dim=-1)


def inverse_temperature(schedule: Schedule, beta_max: float, step: int, horizon: int) -> float:
    """RelGAN's annealing of beta from 1 towards ``beta_max`` (Nie et al. 2019, Sec. 2.2; weilinie/RelGAN
    real/real_gan/real_train.py get_fixed_temperature): step n of N = ``horizon``."""
    n, big_n = step, max(horizon, 1)
    if schedule == "constant":
        return beta_max
    if schedule == "linear":
        return 1 + n / big_n * (beta_max - 1)
    if schedule == "exponential":
        return beta_max ** (n / big_n)
    if schedule == "log":
        return 1 + (beta_max - 1) / math.log(big_n) * math.log(n + 1) if big_n > 1 else beta_max
    if schedule == "sigmoid":
        return (beta_max - 1) / (1 + math.exp((big_n / 2 - n) * 20 / big_n)) + 1
    if schedule == "quadratic":
        return (beta_max - 1) * (n / big_n) ** 2 + 1
    if schedule == "sqrt":
        return (beta_max - 1) * math.sqrt(n / big_n) + 1
    raise ValueError(f"unknown temperature schedule {schedule!r}")


def relaxed_rollout(generator: nn.Module, n: int, relax: Relaxation, rng: torch.Generator | None = None,
                    ) -> tuple[Tensor, Tensor]:
    """Run ``generator.step`` free for ``relax.length`` (or ``max_len``) steps from the start token.

    Returns (soft (n, L, V) with gradients into the generator, tokens (n, L) int64). Padding and
    the start token get no mass (as in sampling); after a sequence's first end-of-sequence
    token every row is the one-hot of padding, as real text is padded (no gradient there).
    """
    length = relax.length or generator.max_len
    device = next(generator.parameters()).device
    tok, state = generator.initial_tokens(n, device), None
    soft_rows, tokens = [], []
    for _ in range(length):
        logits, state = generator.step(tok, state)
        logits = ban_special_logits(logits, generator.pad_id, generator.start_token)
        if relax.gumbel:
            soft, tok = gumbel_softmax(logits, relax.beta, gumbel_noise(logits.shape, rng, device))
        else:
            soft, tok = torch.softmax(logits, dim=-1), sample_categorical(logits.detach(), rng)
        soft_rows.append(soft)
        tokens.append(tok)
    soft, tokens = torch.stack(soft_rows, dim=1), torch.stack(tokens, dim=1)
    if generator.eos_id is not None and generator.pad_id is not None:
        is_eos = tokens == generator.eos_id
        after = (is_eos.long().cumsum(1) - is_eos.long()) > 0  # (n, L) strictly after the first eos
        pad = F.one_hot(torch.full_like(tokens, generator.pad_id), soft.size(-1)).to(soft.dtype)
        soft = torch.where(after.unsqueeze(-1), pad, soft)
        tokens = tokens.masked_fill(after, generator.pad_id)
    return soft, tokens


# --------------------------------------------------------------------------- relaxations


def gumbel_relaxation(step: int, steps: int, *, beta_max: float, temperature_schedule: Schedule,
                      temperature_horizon: int | None, max_len: int) -> Relaxation:
    """RelGAN: Gumbel-softmax at the annealed inverse temperature of adversarial step ``step`` of ``steps``."""
    return Relaxation(True, inverse_temperature(temperature_schedule, beta_max, step, temperature_horizon or steps))


def softmax_relaxation(step: int, steps: int, *, curriculum_start: int, curriculum_every: int,
                       max_len: int) -> Relaxation:
    """Rajeswar et al. 2017: softmax outputs; with a curriculum, length ``curriculum_start`` growing by
    one every ``curriculum_every`` adversarial steps up to ``max_len``."""
    if not curriculum_every:
        return Relaxation(False)
    return Relaxation(False, length=min(max_len, curriculum_start + step // curriculum_every))


@dataclass(frozen=True)
class GumbelRelaxationConfig:
    """Keys of ``adversarial.reward: gumbel`` (RelGAN's Gumbel-softmax relaxation).

    beta (the inverse temperature) goes from 1 to ``beta_max`` over ``temperature_horizon``
    adversarial batches (null: all of them) by ``temperature_schedule`` (the paper: exponential,
    beta_max 100 or 1000).
    """

    beta_max: float = 1000.0
    temperature_schedule: Schedule = "exponential"
    temperature_horizon: int | None = None  # weilinie/RelGAN's code: 5000 whatever the number of steps

    def __post_init__(self) -> None:
        if self.beta_max < 1 or (self.temperature_horizon is not None and self.temperature_horizon < 1):
            raise ValueError(f"adversarial.beta_max must be >= 1 (got {self.beta_max}) and temperature_horizon "
                             "positive or null")

    def kwargs(self) -> dict:
        return {"beta_max": self.beta_max, "temperature_schedule": self.temperature_schedule,
                "temperature_horizon": self.temperature_horizon}


@dataclass(frozen=True)
class SoftmaxRelaxationConfig:
    """Keys of ``adversarial.reward: softmax`` (Rajeswar et al. 2017: softmax outputs, length curriculum).

    ``curriculum_every: 0`` trains on full-length sequences from the start.
    """

    curriculum_start: int = 1
    curriculum_every: int = 0

    def __post_init__(self) -> None:
        if self.curriculum_start < 1 or self.curriculum_every < 0:
            raise ValueError("adversarial.curriculum_start must be >= 1 and curriculum_every >= 0")

    def kwargs(self) -> dict:
        return {"curriculum_start": self.curriculum_start, "curriculum_every": self.curriculum_every}


# --------------------------------------------------------------------------- losses

Role = Literal["d", "g"]


def _scores(critic: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    return critic.scores(real), critic.scores(fake)


def rsgan_loss(critic: nn.Module, real: Tensor, fake: Tensor, role: Role, generator=None) -> Tensor:
    """Relativistic standard GAN (Jolicoeur-Martineau 2018; RelGAN's choice):
    D: -log sigmoid(C(real) - C(fake)); G: -log sigmoid(C(fake) - C(real)), paired row by row."""
    r, f = _scores(critic, real, fake)
    return F.softplus(-(r - f)).mean() if role == "d" else F.softplus(-(f - r)).mean()


def standard_gan_loss(critic: nn.Module, real: Tensor, fake: Tensor, role: Role, generator=None) -> Tensor:
    """Goodfellow et al.'s GAN, the generator's non-saturating form: D: -log D(real) - log(1 - D(fake));
    G: -log D(fake), with D = sigmoid(C)."""
    if role == "g":
        return F.softplus(-critic.scores(fake)).mean()
    r, f = _scores(critic, real, fake)
    return F.softplus(-r).mean() + F.softplus(f).mean()


def wgan_gp_loss(critic: nn.Module, real: Tensor, fake: Tensor, role: Role, generator=None,
                 gp_weight: float = 10.0) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): D: C(fake) - C(real) + gp_weight * (|grad C(x_hat)| - 1)^2 at
    x_hat = a * real + (1 - a) * fake, a ~ U(0, 1) per row; G: -C(fake)."""
    if role == "g":
        return -critic.scores(fake).mean()
    r, f = _scores(critic, real, fake)
    alpha = torch.rand(real.size(0), 1, 1, generator=generator, device=real.device)
    x_hat = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    grad, = torch.autograd.grad(critic.scores(x_hat).sum(), x_hat, create_graph=True)
    penalty = (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
    return f.mean() - r.mean() + gp_weight * penalty


@dataclass(frozen=True)
class RelaxedLossConfig:
    """Keys of ``adversarial.loss: rsgan`` or ``gan`` (none: the loss has no options)."""

    def kwargs(self) -> dict:
        return {}


@dataclass(frozen=True)
class WGANGPLossConfig:
    """Keys of ``adversarial.loss: wgan_gp`` (the gradient penalty's weight; Gulrajani et al.: 10)."""

    gp_weight: float = 10.0

    def __post_init__(self) -> None:
        if self.gp_weight < 0:
            raise ValueError(f"adversarial.gp_weight must be >= 0, got {self.gp_weight}")

    def kwargs(self) -> dict:
        return {"gp_weight": self.gp_weight}
