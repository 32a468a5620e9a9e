"""RelGAN's parts: the relational memory core and the multi-representation discriminator."""

from __future__ import annotations

import pytest
import torch

from textgan.models.relgan import RelationalMemory, RelGANGenerator
from textgan.models.soft_cnn import SoftCNNDiscriminator


@pytest.mark.parametrize("slots,head,heads", [(1, 4, 2), (3, 2, 1), (2, 3, 2)])
def test_relational_memory_shapes(slots, head, heads):
    torch.manual_seed(0)
    core = RelationalMemory(input_size=5, mem_slots=slots, head_size=head, num_heads=heads)
    memory = core.initial_state(4)
    assert memory.shape == (4, slots, head * heads) and core.output_size == slots * head * heads
    out, new = core(torch.randn(4, 5), memory)
    assert out.shape == (4, slots * head * heads) and new.shape == memory.shape
    assert torch.equal(out, new.reshape(4, -1))


def test_initial_memory_is_an_identity_cut_or_padded_to_the_row_size():
    padded = RelationalMemory(3, mem_slots=2, head_size=2, num_heads=2).initial_state(1)  # rows of 4 units
    assert padded[0].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0]]
    cut = RelationalMemory(3, mem_slots=3, head_size=2, num_heads=1).initial_state(2)  # rows of 2 units
    assert cut[1].tolist() == [[1, 0], [0, 1], [0, 0]]


def test_gates_mix_the_old_memory_and_the_attended_candidate():
    torch.manual_seed(0)
    core = RelationalMemory(3, mem_slots=2, head_size=2, num_heads=1, forget_bias=1.0, input_bias=-1e4)
    torch.nn.init.zeros_(core.gate_input.weight), torch.nn.init.zeros_(core.gate_memory.weight)
    memory = torch.randn(2, 2, 2)
    _, new = core(torch.randn(2, 3), memory)  # input gate shut: only the forget gate's share of the memory
    assert torch.allclose(new, torch.sigmoid(torch.tensor(1.0)) * memory)


def test_relgan_generator_steps_agree_with_its_teacher_forced_pass():
    torch.manual_seed(0)
    g = RelGANGenerator(9, embed_dim=4, head_size=3, num_heads=2, max_len=4, start_token=1).eval()
    tokens = torch.randint(0, 9, (3, 4))
    logits = g(tokens)
    state, tok = None, g.initial_tokens(3)
    for t in range(4):
        step, state = g.step(tok, state)
        assert torch.allclose(step, logits[:, t], atol=1e-6)
        tok = tokens[:, t]


def test_discriminator_reads_tokens_and_their_one_hots_alike_and_scores_each_representation():
    torch.manual_seed(0)
    d = SoftCNNDiscriminator(7, num_rep=3, rep_dim=2, filter_sizes=(2, 3), num_filters=(4, 5)).eval()
    tokens = torch.randint(0, 7, (4, 6))
    scores = d.scores(tokens)
    assert scores.shape == (4, 3)
    assert torch.allclose(scores, d.scores(torch.nn.functional.one_hot(tokens, 7).float()))
    assert torch.allclose(d(tokens)[:, 1], scores.mean(1)) and bool((d(tokens)[:, 0] == 0).all())
    with torch.no_grad():
        d.embedding[:, 2:4] += 1.0  # representation 1's units only
    moved = d.scores(tokens)
    assert torch.equal(moved[:, [0, 2]], scores[:, [0, 2]]) and not torch.allclose(moved[:, 1], scores[:, 1])


def test_discriminator_takes_sequences_shorter_than_its_widest_filter():
    d = SoftCNNDiscriminator(7, num_rep=2, rep_dim=1, filter_sizes=(2, 5), num_filters=(3, 3)).eval()
    assert d.scores(torch.softmax(torch.randn(2, 1, 7), -1)).shape == (2, 2)  # a length-1 curriculum step


def test_attention_block_by_formula():
    """attend(m) = LN(h + MLP(h)), h = LN(m + softmax(q k^T / sqrt(3 * head_size)) v), (q, k, v) = LN(m W)."""
    torch.manual_seed(0)
    core = RelationalMemory(3, mem_slots=2, head_size=4, num_heads=1)
    torch.nn.init.zeros_(core.mlp[2].weight), torch.nn.init.zeros_(core.mlp[2].bias)  # MLP(h) = 0
    m = torch.randn(2, 3, 4)  # 3 rows: 2 slots and the input row
    q, k, v = torch.nn.functional.layer_norm(m @ core.qkv.weight.t(), (12,)).split(4, dim=-1)
    h = torch.nn.functional.layer_norm(m + torch.softmax(q @ k.transpose(1, 2) / 12 ** 0.5, dim=-1) @ v, (4,))
    assert torch.allclose(core.attend(m), torch.nn.functional.layer_norm(h, (4,)), atol=1e-5)
