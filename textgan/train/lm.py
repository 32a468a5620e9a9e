"""A language-model run: data, generator, MLE pretraining, evaluation and checkpoints."""

from __future__ import annotations

import logging

import torch

from ..config import Recipe
from ..data.prepare import PreparedData, prepare_data
from ..registry import build_generator_from_config, generator_needs
from .checkpoint import save_checkpoint
from .evaluation import make_evaluator
from .loop import RunDir, Timer, adam
from .pretrain import mle_epoch

log = logging.getLogger(__name__)


def make_decoder(data: PreparedData):
    """ids (N, T) -> texts, using the run's vocabulary and tokenizer."""

    def decode(ids: torch.Tensor) -> list[str]:
        rows = ids.tolist()
        if data.tokenizer is None:
            return [" ".join(data.vocab.decode(r)) for r in rows]
        return [data.tokenizer.detokenize(data.vocab.decode(r)) for r in rows]

    return decode


def run_language_model(recipe: Recipe, run: RunDir, device: torch.device, timer: Timer, progress: bool = True) -> dict:
    """Train the recipe's generator by MLE, evaluating at ``eval.every`` epochs.

    Returns:
        A summary for ``run.json``: final metrics, truncation count.
    """
    from tqdm.auto import tqdm

    data = prepare_data(recipe.data, recipe.seed)
    g = recipe.generator
    dcfg = recipe.discriminator
    cycles = dcfg.pretrain_cycles if dcfg is not None and recipe.adversarial is not None else 1
    discriminator = d_optimizer = None
    if dcfg is not None and ("discriminator" in generator_needs(g.type) or cycles > 1):
        # Built before MLE: the generator reads its features (LeakGAN), or pretraining interleaves the two.
        from .adversarial import build_recipe_discriminator

        discriminator = build_recipe_discriminator(recipe, data).to(device)
        d_optimizer = adam(discriminator.parameters(), lr=dcfg.lr)
    generator = build_generator_from_config(g, vocab_size=len(data.vocab), max_len=recipe.data.max_len,
                                            start_token=data.start_token, pad_id=data.vocab.pad_id,
                                            eos_id=data.vocab.eos_id, discriminator=discriminator).to(device)
    if data.oracle is not None:
        data.oracle.to(device)
    evaluate = make_evaluator(recipe.eval, data, recipe.seed, make_decoder(data))
    optimizer = adam(generator.parameters(), lr=recipe.mle.lr)
    shuffle = torch.Generator().manual_seed(recipe.seed + 3)

    def do_eval(epoch: int, loss: float | None) -> dict:
        metrics, texts = evaluate(generator)
        record = {"phase": "mle", "epoch": epoch, "step": epoch, "train_loss": loss, **metrics, "time": round(timer(), 2)}
        run.log_metrics(record)
        run.write_samples(f"mle_epoch{epoch:03d}", texts[: recipe.eval.save_samples])
        shown = " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
        if progress:
            tqdm.write(f"[mle] epoch {epoch:4d}  train_loss {'-' if loss is None else f'{loss:.4f}'}  {shown}")
        else:
            log.info("epoch %d  %s", epoch, shown)
        return record

    last = do_eval(0, None)
    epochs = recipe.mle.epochs
    d_before: dict[int, int] = {}  # epoch -> discriminator rounds trained just before it (interleaved pretraining)
    if cycles > 1:
        for i in range(cycles):
            rounds = dcfg.pretrain_rounds * (i + 1) // cycles - dcfg.pretrain_rounds * i // cycles
            start = epochs * i // cycles + 1
            d_before[start] = d_before.get(start, 0) + rounds
        d_rng = torch.Generator(device=device).manual_seed(recipe.seed + 19)
        d_shuffle = torch.Generator().manual_seed(recipe.seed + 23)
        num_negatives = dcfg.num_negatives or (data.train.size(0) // dcfg.batch_size) * dcfg.batch_size
    bar = tqdm(range(1, epochs + 1), desc="MLE", unit="epoch", disable=not progress, dynamic_ncols=True)
    for epoch in bar:
        if d_before.get(epoch):
            from .adversarial import discriminator_rounds

            stats = discriminator_rounds(discriminator, d_optimizer, generator, data.train, d_before[epoch],
                                         dcfg.pretrain_epochs, dcfg.batch_size, num_negatives, d_rng, d_shuffle,
                                         recipe.eval.batch_size * 10, where="D pretrain")
            run.log_metrics({"phase": "discriminator", "step": epoch - 1, "rounds": d_before[epoch], **stats,
                             "time": round(timer(), 2)})
        loss = mle_epoch(generator, data.train, optimizer, recipe.mle.batch_size, recipe.mle.grad_clip, shuffle,
                         recipe.mle.drop_last, epoch)
        bar.set_postfix(loss=f"{loss:.4f}")
        if epoch % recipe.eval.every == 0 or epoch == epochs:
            last = do_eval(epoch, loss)
    save_checkpoint(run.checkpoints / ("mle" if recipe.adversarial is not None else "last"), generator, g.type,
                    data.vocab, data.tokenizer, {"recipe": recipe.name, "epoch": epochs, "metrics": last})
    if recipe.adversarial is not None:
        from .adversarial import run_adversarial

        last = run_adversarial(recipe, run, device, timer, generator, data, evaluate, epochs, progress,
                               discriminator=discriminator, d_optimizer=d_optimizer,
                               pretrained_discriminator=cycles > 1 and epochs > 0) or last
    final = {k: v for k, v in last.items() if k not in ("phase", "epoch", "batch", "step", "time")}
    return {"final_metrics": final, "n_truncated": data.n_truncated, "train_split": data.train_split}
