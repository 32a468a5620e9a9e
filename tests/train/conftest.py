"""One intra-op thread for the tiny rollout tests: on a shared 2-core machine, OpenMP's thread
synchronisation costs far more than the tiny tensor operations themselves."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
