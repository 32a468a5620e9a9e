"""The training engine: one loop for every phase, run folders, and the full training state.

Layers: ``textgan.models`` and ``textgan.data`` below; algorithms (``textgan.train``) build
phases on this engine; workflows (``textgan.runs``, generation, detection, benchmarks) above.
"""

from .loop import BestTracker, BestWeights, Engine, Phase, RunInterrupted
from .rundir import RunDir
from .state import TrainState

__all__ = ["BestTracker", "BestWeights", "Engine", "Phase", "RunDir", "RunInterrupted", "TrainState"]
