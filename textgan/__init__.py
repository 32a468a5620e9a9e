"""textgan: adversarial text generation and adversarial document modeling in PyTorch.

Importing textgan is cheap (torch loads on first use). ``textgan.load(path)`` reads a run folder
back as the handle ``textgan.api.train`` returns.
"""

__all__ = ["load"]


def load(path):
    """The run in ``path`` (made by ``textgan run`` or ``api.train``): ``.metrics``, ``.history``,
    ``.sample(n, temperature=...)``, ``.evaluate(...)``, ``.model()``."""
    from .runs import load as _load

    return _load(path)
