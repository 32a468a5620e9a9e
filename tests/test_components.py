"""One contract for every registered component: generators, discriminators, rewards and losses.

Each registered name is checked the same way: its config dataclass gives the recipe keys and
defaults; built under a seed it is deterministic; outputs have the documented shapes and dtypes;
it moves to a device (CUDA when visible, else the CPU) and still runs there; models survive a
safetensors save/load round trip; a reward or loss that does not fit a generator is refused
when the recipe loads. A new component passes these checks or the suite fails.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
from safetensors.torch import load_file, save_file

from textgan.config import recipe_from_dict
from textgan.data.vocab import Vocab
from textgan.errors import TextganError
from textgan.registry import (build_discriminator_from_config, build_generator_from_config, check_fit,
                              component_config, component_fn, generator_needs, table, trainer_of)
from textgan.rl.relaxed import Relaxation, relaxed_rollout
from textgan.train.checkpoint import load_generator, save_checkpoint

V, T, B = 12, 8, 4
TINY = {"embed_dim": 8, "hidden_dim": 8, "goal_size": 4, "step_size": 2, "filter_sizes": [1, 2, 3],
        "num_filters": [4, 4, 4], "num_rollouts": 2, "dropout": 0.0}
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def section(kind: str, name: str) -> dict:
    """A recipe section naming component ``name`` with the tiny sizes its config knows."""
    fields = {f.name for f in dataclasses.fields(component_config(kind, name))}
    key = {"generator": "type", "discriminator": "type", "reward": "reward", "loss": "loss"}[kind]
    return {key: name, **{k: v for k, v in TINY.items() if k in fields}}


def build(generator: str, seed: int = 0, discriminator: str = "cnn"):
    recipe = recipe_from_dict({"generator": section("generator", generator),
                               "discriminator": section("discriminator", discriminator)})
    torch.manual_seed(seed)
    d = build_discriminator_from_config(recipe.discriminator, vocab_size=V, pad_id=0)
    g = build_generator_from_config(recipe.generator, vocab_size=V, max_len=T, start_token=1, pad_id=0, eos_id=2,
                                    discriminator=d if "discriminator" in generator_needs(generator) else None)
    return g, d


def vocab() -> Vocab:
    return Vocab.build([[f"w{i}" for i in range(V - 4)]], min_freq=1)


@pytest.mark.parametrize("kind", ["generator", "discriminator", "reward", "loss"])
def test_every_component_brings_a_config_dataclass_with_defaults(kind):
    for name in table(kind).names():
        cfg = component_config(kind, name)
        assert dataclasses.is_dataclass(cfg), (kind, name)
        cfg()  # every key has a default
        assert cfg.__doc__ and name in cfg.__doc__, f"{cfg.__name__} documents the recipe section it belongs to"


@pytest.mark.parametrize("name", table("generator").names())
def test_generator_contract(name, tmp_path):
    g, _ = build(name)
    g2, _ = build(name)
    for (k, a), (_, b) in zip(g.state_dict().items(), g2.state_dict().items()):
        assert torch.equal(a, b), f"{name}: {k} differs under the same seed"
    g.eval()
    tokens = g.sample(B, generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (B, T) and tokens.dtype == torch.int64
    assert torch.equal(tokens, g.sample(B, generator=torch.Generator().manual_seed(0)))
    logits = g(tokens)
    assert logits.shape == (B, T, V) and logits.dtype == torch.float32
    log_prob = g(tokens, output="log_prob")
    assert log_prob.shape == (B, T) and bool((log_prob <= 0).all())
    nll = g(tokens, output="nll")
    assert nll.dim() == 0 and torch.isfinite(nll)
    # a device move: every parameter and buffer follows, and the model still runs there
    companion = getattr(g, "discriminator", None)  # LeakGAN reads a discriminator it does not own: moved beside it
    if companion is not None:
        companion.to(DEVICE)
    moved = g.to(DEVICE)
    assert all(t.device.type == DEVICE.type for t in itertools.chain(moved.parameters(), moved.buffers()))
    assert moved.sample(2, generator=torch.Generator(device=DEVICE).manual_seed(0)).device.type == DEVICE.type
    moved.to("cpu")
    if companion is not None:
        companion.to("cpu")
    # save / load round trip (safetensors + JSON)
    save_checkpoint(tmp_path / "ckpt", g, name, vocab())
    loaded = load_generator(tmp_path / "ckpt").model
    assert torch.equal(loaded(tokens), g(tokens))


@pytest.mark.parametrize("name", table("generator").names())
def test_every_generator_samples_without_a_banned_id(name):
    """`banning` (``textgan generate --ban-unk``) reaches every sampling path of every generator: the
    fused plain sampler and the filtered one; the id comes back once the block ends."""
    g, _ = build(name)
    g.eval()
    unk = 3  # Vocab's <unk>
    for settings in ({}, {"temperature": 0.9, "top_k": 6}):
        free = g.sample(100, generator=torch.Generator().manual_seed(0), **settings)
        assert bool((free == unk).any()), f"{name}: the test needs a model that writes the id unbanned"
        with g.banning((unk,)):
            banned = g.sample(100, generator=torch.Generator().manual_seed(0), **settings)
        assert not bool((banned == unk).any()), f"{name} {settings}: a banned id was drawn"
        assert not bool(((banned == 0) & (torch.arange(T) == 0)).any())  # padding stays banned too
    assert g.banned_ids() == (0, 1)
    with g.banning((unk,)):
        logits = g.ban_specials(torch.zeros(2, V))
        assert torch.isinf(logits[:, [0, 1, unk]]).all() and torch.isfinite(logits[:, 4:]).all()


@pytest.mark.parametrize("name", table("generator").names())
def test_prefix_logits_flag_says_whether_a_cut_row_scores_as_the_whole_row(name, tmp_path):
    """A generator with ``prefix_logits`` gives the logits of tokens[:, :L] equal to the whole row's
    first L positions (zero-shot scoring then cuts a batch's padding off); one without keeps its
    rows whole. Zero-shot scores equal a float64 whole-row log-softmax computation either way."""
    from textgan.detection.baselines import zero_shot_scores

    g, _ = build(name)
    g.eval()
    tokens = g.sample(40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = g(tokens, output="logits")
        gaps = [float((g(tokens[:, :L], output="logits") - whole[:, :L]).abs().max()) for L in range(1, T)]
    if g.prefix_logits:
        assert max(gaps) < 1e-5, f"{name} says prefix_logits but a cut row scores differently: {gaps}"
    # The scores against a plain float64 computation on whole rows.
    v = vocab()
    save_checkpoint(tmp_path / "ckpt", g, name, v)
    texts = [" ".join(v.itos[i] for i in row if i not in (0, 1, 2)) for row in tokens.tolist()]
    scores = zero_shot_scores(tmp_path / "ckpt", texts, batch_size=7)
    from textgan.data.encode import encode_texts
    from textgan.data.tokenizers import build_tokenizer

    ids, _ = encode_texts(texts, build_tokenizer("whitespace"), v, T)
    with torch.no_grad():
        logp = torch.log_softmax(g(ids, output="logits").double(), -1)
    tok = logp.gather(-1, ids.unsqueeze(-1))
    rank = (logp > tok).sum(-1).double() + 1
    m = (ids != 0).double()
    n = m.sum(-1)
    assert torch.allclose(torch.from_numpy(scores["loglik"]), (tok.squeeze(-1) * m).sum(-1) / n, atol=1e-5)
    assert torch.allclose(torch.from_numpy(scores["logrank"]), -(rank.log() * m).sum(-1) / n, atol=1e-9)
    assert torch.allclose(torch.from_numpy(scores["top10"]), ((rank <= 10).double() * m).sum(-1) / n, atol=1e-9)


@pytest.mark.parametrize("name", table("discriminator").names())
def test_discriminator_contract(name, tmp_path):
    _, d = build("lstm", discriminator=name)
    _, d2 = build("lstm", discriminator=name)
    assert all(torch.equal(a, b) for a, b in zip(d.state_dict().values(), d2.state_dict().values()))
    d.eval()
    tokens = torch.randint(3, V, (B, T), generator=torch.Generator().manual_seed(1))
    out = d(tokens)
    assert out.shape == (B, 2) and out.dtype == torch.float32
    p = d.prob_real(tokens)
    assert p.shape == (B,) and bool(((p >= 0) & (p <= 1)).all())
    loss = d.loss(tokens, torch.ones(B, dtype=torch.long))
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert d.to(DEVICE).prob_real(tokens.to(DEVICE)).device.type == DEVICE.type
    d.to("cpu")
    save_file({k: v.contiguous() for k, v in d.state_dict().items()}, str(tmp_path / "d.safetensors"))
    _, fresh = build("lstm", seed=5, discriminator=name)
    fresh.load_state_dict(load_file(str(tmp_path / "d.safetensors")))
    assert torch.equal(fresh.eval()(tokens), out)


def fitting_pairs(kind: str):
    return [(gen, name) for gen in table("generator").names() for name in table(kind).names()
            if table(kind).meta(name).get("requires") in table("generator").meta(gen).get("provides", ())]


def discriminator_for(reward: str | None) -> str:
    """A discriminator that offers what ``reward`` requires of one (``cnn`` when it requires nothing)."""
    need = table("reward").meta(reward).get("requires_discriminator") if reward else None
    return next(n for n in table("discriminator").names()
                if need in table("discriminator").meta(n).get("provides", ())) if need else "cnn"


def adversarial(gen: str, reward: str | None = None, loss: str | None = None):
    raw = {"generator": section("generator", gen), "discriminator": section("discriminator", discriminator_for(reward)),
           "adversarial": {**(section("reward", reward) if reward else {}), **(section("loss", loss) if loss else {})}}
    return recipe_from_dict(raw).adversarial


def pairs_of(kind: str, trainer: str):
    """The fitting (generator, component) pairs of one trainer ("policy_gradient" or "relaxed")."""
    return [(gen, name) for gen, name in fitting_pairs(kind) if trainer_of(kind, name) == trainer]


@pytest.mark.parametrize("gen,name", pairs_of("reward", "policy_gradient"))
def test_reward_contract(gen, name):
    g, d = build(gen, discriminator=discriminator_for(name))
    g.eval()
    reward = component_fn("reward", adversarial(gen, reward=name, loss=_fitting("loss", gen)))
    tokens = g.sample(B, generator=torch.Generator().manual_seed(0))
    r1 = reward(tokens, g, d, generator=torch.Generator().manual_seed(3))
    r2 = reward(tokens, g, d, generator=torch.Generator().manual_seed(3))
    assert r1.shape == (B, T) and r1.dtype == torch.float32 and bool(torch.isfinite(r1).all())
    assert torch.equal(r1, r2), "the same seed gives the same rewards"


@pytest.mark.parametrize("gen,name", pairs_of("loss", "policy_gradient"))
def test_loss_contract(gen, name):
    g, d = build(gen)
    loss_fn = component_fn("loss", adversarial(gen, reward=_fitting("reward", gen), loss=name))
    tokens = g.eval().sample(B, generator=torch.Generator().manual_seed(0))
    rewards = torch.rand(B, T, generator=torch.Generator().manual_seed(1))
    g.train()
    torch.manual_seed(7)  # dropout (a transformer's) draws from the global stream
    loss = loss_fn(g, tokens, rewards)
    assert loss.dim() == 0 and torch.isfinite(loss)
    torch.manual_seed(7)
    assert torch.equal(loss, loss_fn(g, tokens, rewards))
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def _fitting(kind: str, gen: str, trainer: str = "policy_gradient") -> str:
    """A ``kind`` component fitting ``gen``, of ``trainer`` where the generator has one."""
    names = [n for g, n in fitting_pairs(kind) if g == gen]
    return next((n for n in names if trainer_of(kind, n) == trainer), names[0])


@pytest.mark.parametrize("gen,name", pairs_of("reward", "relaxed"))
def test_relaxation_contract(gen, name):
    """A relaxation gives (B, L, V) distributions, the same under a seed, with gradients into the generator."""
    acfg = adversarial(gen, reward=name, loss=_fitting("loss", gen, "relaxed"))
    g, d = build(gen, discriminator=discriminator_for(name))
    relax = component_fn("reward", acfg)(3, 10, max_len=T)
    soft, tokens = relaxed_rollout(g, B, relax, torch.Generator().manual_seed(0))
    length = relax.length or T
    assert soft.shape == (B, length, V) and tokens.shape == (B, length) and tokens.dtype == torch.int64
    assert torch.allclose(soft.sum(-1), torch.ones(B, length))
    again, _ = relaxed_rollout(g, B, relax, torch.Generator().manual_seed(0))
    assert torch.equal(soft, again)
    d.scores(soft).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


@pytest.mark.parametrize("name", sorted({n for _, n in pairs_of("loss", "relaxed")}))
def test_relaxed_loss_contract(name):
    """A relaxed loss: finite scalars, the same under a seed; the d-loss trains the critic, the g-loss the generator."""
    gen = next(g for g, n in pairs_of("loss", "relaxed") if n == name)
    relaxation = _fitting("reward", gen, "relaxed")
    loss_fn = component_fn("loss", adversarial(gen, reward=relaxation, loss=name))
    g, d = build(gen, discriminator=discriminator_for(relaxation))
    tokens = torch.randint(3, V, (B, T), generator=torch.Generator().manual_seed(1))
    real = torch.nn.functional.one_hot(tokens, V).float()
    for role, trained in (("d", d), ("g", g)):
        fake, _ = relaxed_rollout(g, B, Relaxation(True, 2.0), torch.Generator().manual_seed(0))
        fake = fake.detach() if role == "d" else fake
        loss = loss_fn(d, real, fake, role=role, generator=torch.Generator().manual_seed(2))
        assert loss.dim() == 0 and torch.isfinite(loss)
        assert torch.equal(loss, loss_fn(d, real, fake, role=role, generator=torch.Generator().manual_seed(2)))
        g.zero_grad(), d.zero_grad()
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained.parameters()), role


def test_a_reward_or_loss_that_does_not_fit_is_refused_when_the_recipe_loads():
    misfits = [(gen, kind, name) for kind in ("reward", "loss") for gen in table("generator").names()
               for name in table(kind).names() if (gen, name) not in fitting_pairs(kind)]
    assert ("leakgan", "reward", "rollout") in misfits and ("lstm", "loss", "leakgan") in misfits
    for gen, kind, name in misfits:
        other = "loss" if kind == "reward" else "reward"
        raw = {"generator": {"type": gen}, "discriminator": {},
               "adversarial": {kind: name, other: _fitting(other, gen, trainer_of(kind, name))}}
        with pytest.raises(TextganError) as e:
            recipe_from_dict(raw)
        message = str(e.value)
        assert "\n" not in message and f"adversarial.{kind}" in message and _fitting(kind, gen) in message
        with pytest.raises(TextganError):
            check_fit(gen, raw["adversarial"].get("reward"), raw["adversarial"].get("loss"))


def test_component_keys_are_checked_against_the_chosen_component():
    with pytest.raises(TextganError, match="goal_size"):
        recipe_from_dict({"generator": {"type": "lstm", "goal_size": 4}})
    with pytest.raises(TextganError, match="did you mean 'leakgan'"):
        recipe_from_dict({"generator": {"type": "leakgen"}})
    with pytest.raises(TextganError, match="step_size"):
        recipe_from_dict({"generator": {"type": "leakgan", "step_size": 0}, "discriminator": {}})
    r = recipe_from_dict({"generator": {"type": "leakgan"}, "discriminator": {}})
    assert r.generator.step_size == component_config("generator", "leakgan")().step_size
