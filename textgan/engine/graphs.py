"""Fixed-shape training steps captured as CUDA graphs: one launch per step instead of hundreds.

A discriminator step at SeqGAN's shapes (batch 64, 12 filter widths) is about a thousand small
operator calls; on a GPU each is a kernel launch of a few microseconds that the host must issue,
so the device waits on the host and a batch-64 epoch is no faster than two CPU cores. A CUDA graph
records the whole step once (forward, loss, backward, optimizer update, running sums) and replays
it with one launch; only the copy of the batch into the step's static input buffers runs outside.

:class:`GraphedStep` wraps a step function ``step(*static_inputs) -> tuple of tensors``:

- on CUDA (``capture=True``) it runs three warm-up steps on a side stream (which allocate the
  gradients and the optimizer state and let cuDNN/cuBLAS pick their kernels), puts the parameters,
  the optimizer state and the random-number state back as they were, captures one step, and from
  then on each call copies the inputs into the static buffers and replays the graph. The warm-up
  leaves no trace: the first replayed step is the step an eager loop would have taken;
- with ``rehearse=True`` and no capture (the CPU, or tests) it goes through the same warm-up and
  restore, then runs the step eagerly on the static buffers, so a test on a CPU checks that the
  restore is exact and that the step over static buffers gives the plain loop's numbers;
- otherwise it simply calls the step eagerly.

The optimizer must be capturable on CUDA (Adam's ``capturable=True``: its step counters live on
the device); :func:`make_capturable` switches an existing Adam over. A graph holds the addresses of
the parameters, gradients and optimizer state it was captured with: :meth:`GraphedStep.valid` tells
whether they are still the ones in use (a resumed run that loaded new optimizer state captures
again). ``TEXTGAN_CUDA_GRAPHS=0`` turns capture off everywhere (for debugging: the eager path).
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

WARMUP_STEPS = 3  # what the PyTorch CUDA-graphs notes use before a whole-network capture
STEP_RECORD = "textgan::graphed_step"  # profiler range around an uncaptured step (bench: launches per step)


def graphs_enabled(device: torch.device) -> bool:
    """Whether steps on ``device`` are captured: CUDA only, unless ``TEXTGAN_CUDA_GRAPHS=0``."""
    return device.type == "cuda" and os.environ.get("TEXTGAN_CUDA_GRAPHS", "1") != "0"


def make_capturable(optimizer: torch.optim.Optimizer) -> None:
    """Turn on ``capturable`` in every parameter group and move existing step counters to the
    parameters' device (Adam keeps them on the host otherwise, and reads them there)."""
    for group in optimizer.param_groups:
        if "capturable" not in group:
            raise ValueError(f"{type(optimizer).__name__} has no capturable mode: use Adam or AdamW")
        group["capturable"] = True
        for p in group["params"]:
            state = optimizer.state.get(p)
            if state and "step" in state and state["step"].device != p.device:
                state["step"] = state["step"].to(device=p.device, dtype=torch.float32)


def _state_tensors(models: Sequence[nn.Module], optimizer: torch.optim.Optimizer) -> list[Tensor]:
    """Everything a step may change: the models' parameters and buffers, the optimizer's parameters
    (some may lie outside ``models``) and its state, each tensor once."""
    tensors = [t for m in models for t in (*m.parameters(), *m.buffers())]
    tensors += [p for group in optimizer.param_groups for p in group["params"]]
    for state in optimizer.state.values():
        tensors.extend(v for v in state.values() if isinstance(v, Tensor))
    return list({id(t): t for t in tensors}.values())


class GraphedStep:
    """One training step over static input buffers, captured as a CUDA graph where possible.

    Args:
        step: ``step(*inputs) -> tuple of tensors``: the forward, the loss, ``backward()``,
            ``optimizer.step()`` and any running sums (zeroing the gradients is the wrapper's job). What it returns is read after each call (the tensors are overwritten by the
            next call when captured: copy what must be kept).
        models: the modules whose parameters and buffers the step changes.
        optimizer: their optimizer.
        example: tensors of the inputs' shapes and dtypes (their values are the warm-up batch).
        capture: record a CUDA graph (needs the inputs on a CUDA device and a capturable optimizer).
        rehearse: without capture, still run the warm-up and the restore (for tests on a CPU).
    """

    def __init__(self, step: Callable[..., tuple[Tensor, ...]], models: Sequence[nn.Module],
                 optimizer: torch.optim.Optimizer, example: Sequence[Tensor], *, capture: bool,
                 rehearse: bool = False) -> None:
        self.step, self.models, self.optimizer = step, list(models), optimizer
        self.static = [t.detach().clone() for t in example]
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs: tuple[Tensor, ...] | None = None
        if capture or rehearse:
            self._warm_up_and_restore(capture)
        self._pointers = self._addresses()

    def _addresses(self) -> tuple[int, ...]:
        return tuple(t.data_ptr() for t in _state_tensors(self.models, self.optimizer))

    def valid(self, optimizer: torch.optim.Optimizer) -> bool:
        """True while ``optimizer`` is the one captured and no tensor of the step was replaced."""
        return optimizer is self.optimizer and self._addresses() == self._pointers

    def _warm_up_and_restore(self, capture: bool) -> None:
        device = self.static[0].device
        cuda = device.type == "cuda"
        saved_tensors = {id(t): t.detach().clone() for t in _state_tensors(self.models, self.optimizer)}
        had_state = {p for group in self.optimizer.param_groups for p in group["params"] if self.optimizer.state.get(p)}
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(device) if cuda else None
        stream = torch.cuda.Stream(device) if cuda else None
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            for _ in range(WARMUP_STEPS):
                self.optimizer.zero_grad(set_to_none=True)
                self.step(*self.static)
        if stream is not None:
            torch.cuda.current_stream(device).wait_stream(stream)
        # Put everything back in place (the addresses must stay those the graph will hold).
        with torch.no_grad():
            for t in _state_tensors(self.models, self.optimizer):
                before = saved_tensors.get(id(t))
                if before is not None:
                    t.copy_(before)
            for p, state in self.optimizer.state.items():
                if p not in had_state:  # state the warm-up created: as Adam initialises it
                    for v in state.values():
                        if isinstance(v, Tensor):
                            v.zero_()
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng, device)
        self.optimizer.zero_grad(set_to_none=True)
        if capture:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.outputs = tuple(self.step(*self.static))

    def __call__(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        for buffer, value in zip(self.static, inputs):
            buffer.copy_(value)
        if self.graph is not None:
            self.graph.replay()
            assert self.outputs is not None
            return self.outputs
        with torch.profiler.record_function(STEP_RECORD):  # what a replay would launch as one graph
            self.optimizer.zero_grad(set_to_none=True)
            return tuple(self.step(*self.static))


_CACHE: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def cached_step(owner: nn.Module, tag: str, model: nn.Module, optimizer: torch.optim.Optimizer,
                example: Sequence[Tensor], build: Callable[[Tensor, Tensor], Callable[..., tuple[Tensor, ...]]],
                capture: bool) -> GraphedStep:
    """``owner``'s training step ``tag`` for inputs shaped like ``example``, built once and kept.

    ``build(total, correct)`` returns the step function; ``total`` (float64) and ``correct``
    (int64) are 0-d device tensors the step may add its loss and hit count to, read back as
    ``step.total`` and ``step.correct`` (zero them when a new sum starts). The step is built and
    captured again when the shapes, ``model``, the optimizer or any tensor it holds changed. With
    ``capture`` (CUDA) a capture that fails (an operation a graph cannot hold) falls back to the
    eager step, with one warning naming the reason.
    """
    steps = _CACHE.setdefault(owner, {})
    graphed = steps.get(tag)
    if (graphed is not None and graphed.model is model and graphed.valid(optimizer)
            and [tuple(t.shape) for t in graphed.static] == [tuple(t.shape) for t in example]):
        return graphed
    device = example[0].device
    if capture:
        make_capturable(optimizer)
    total = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    step = build(total, correct)
    try:
        graphed = GraphedStep(step, [owner], optimizer, example, capture=capture, rehearse=not capture)
    except RuntimeError as err:
        if not capture:
            raise
        log.warning("the %s step of %s could not be captured as a CUDA graph (%s): it runs eagerly",
                    tag, type(owner).__name__, str(err).splitlines()[0])
        graphed = GraphedStep(step, [owner], optimizer, example, capture=False)
    graphed.model, graphed.total, graphed.correct = model, total, correct
    steps[tag] = graphed
    return graphed


__all__ = ["GraphedStep", "cached_step", "graphs_enabled", "make_capturable", "STEP_RECORD", "WARMUP_STEPS"]
