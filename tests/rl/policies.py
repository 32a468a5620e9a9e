"""Pieces shared by the hand-made rollout policies of the reward tests."""

import torch


class TupleStatePolicy:
    """The bookkeeping of a test policy whose state is a tuple of (1, B, ...) tensors: reorder and
    concatenate rows, no banned tokens, nothing to finish."""

    def reorder_state(self, state, index):
        return tuple(s.index_select(1, index) for s in state)

    def concat_states(self, states):
        return tuple(torch.cat(p, dim=1) for p in zip(*states))

    def ban_specials(self, logits):
        return logits

    def finish(self, tokens):
        return tokens
