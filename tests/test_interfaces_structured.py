"""The chain and grid interfaces: their edges are the dense relation mask, large ones run on edges,
and a chain has no absolute positions (shifting the content only shifts the outputs)."""

from __future__ import annotations

import math

import pytest
import torch

import loopthink.model.edges as edges_mod
from loopthink.model.config import ModelConfig
from loopthink.model.core import LoopModel
from loopthink.model.edges import Edges


def grid_inputs(B: int, rows: int, cols: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    cells = torch.arange(rows * cols)
    return {
        "tokens": torch.randint(0, 4, (B, rows * cols), generator=generator),
        "mask": torch.ones(B, rows * cols, dtype=torch.bool),
        "row": (cells // cols).expand(B, -1),
        "col": (cells % cols).expand(B, -1),
    }


def lattice_reference(coords: torch.Tensor, real: torch.Tensor, offsets: list[tuple[int, ...]], weight: torch.Tensor) -> torch.Tensor:
    """The dense hard relation bias (B, H, L, L) by brute force over all pairs."""
    delta = coords[:, None, :, :] - coords[:, :, None, :]  # [b, i, j]: coords[j] - coords[i]
    both = real[:, :, None] & real[:, None, :]
    rel = torch.stack([(delta == torch.tensor(o)).all(-1) & both for o in offsets], dim=1)
    bias = torch.einsum("brij,rh->bhij", rel.float(), weight)
    allowed = rel.any(1) | torch.eye(coords.shape[1], dtype=torch.bool)
    return bias.masked_fill(~allowed[:, None], float("-inf"))


def encode_forced(model: LoopModel, inputs: dict[str, torch.Tensor], density: float):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(edges_mod, "EDGE_DENSITY", density)
        return model.encode(inputs)


def test_chain_edges_are_the_dense_relation_mask():
    model = LoopModel(ModelConfig(), "chain", 2, vocab_size=3)
    mask = torch.arange(9)[None] < torch.tensor([[9], [6]])  # the second chain padded after 6
    inputs = {"tokens": torch.ones(2, 9, dtype=torch.long), "mask": mask}
    edges = encode_forced(model, inputs, math.inf).mask
    assert isinstance(edges, Edges)
    coords = torch.arange(9).expand(2, -1)[..., None]
    want = lattice_reference(coords, mask, [(-1,), (1,)], model.interface.relations.weight)
    assert torch.equal(edges.dense(), want)
    assert torch.equal(encode_forced(model, inputs, 0.0).mask, want)  # small: the dense path, same mask


def test_grid_edges_are_the_dense_relation_mask_whatever_the_cell_order():
    model = LoopModel(ModelConfig(), "grid", 2, vocab_size=4)
    inputs = grid_inputs(2, 3, 5, torch.Generator().manual_seed(0))
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(1))
    inputs["row"], inputs["col"] = inputs["row"][:, perm], inputs["col"][:, perm]  # cells in any order
    inputs["mask"][1, -4:] = False
    coords = torch.stack([inputs["row"], inputs["col"]], -1)
    want = lattice_reference(coords, inputs["mask"], [(-1, 0), (1, 0), (0, -1), (0, 1)], model.interface.relations.weight)
    assert torch.equal(encode_forced(model, inputs, math.inf).mask.dense(), want)


def test_long_chain_and_large_grid_run_on_edges():
    torch.manual_seed(0)
    chain = LoopModel(ModelConfig(), "chain", 2, vocab_size=3).eval()
    tokens = torch.randint(0, 3, (2, 512))
    inputs = {"tokens": tokens, "tokens2": torch.randint(0, 3, (2, 512)), "mask": torch.ones(2, 512, dtype=torch.bool)}
    assert isinstance(chain.encode(inputs).mask, Edges)
    with torch.no_grad():
        assert torch.isfinite(chain(inputs, 4).final_state).all()
    grid = LoopModel(ModelConfig(), "grid", 2, vocab_size=4).eval()
    maze = grid_inputs(1, 59, 59, torch.Generator().manual_seed(0))
    ctx = grid.encode(maze)
    assert isinstance(ctx.mask, Edges) and ctx.mask.count == 59 * 59 + 4 * 59 * 58
    with torch.no_grad():
        assert torch.isfinite(grid(maze, 4).final_state).all()
    assert torch.equal(ctx.readout_index, torch.zeros(1, dtype=torch.long))


@pytest.mark.parametrize("density", [0.0, math.inf])
def test_shifting_a_chain_only_shifts_its_states(density):
    """Content at positions 0..19 or 7..26 of a 32-long chain: the same states, shifted by 7."""
    torch.manual_seed(0)
    model = LoopModel(ModelConfig(init_state="zeros", layerscale=1.0), "chain", 2, vocab_size=3).eval()
    content = torch.randint(0, 3, (20,))
    tokens, mask = torch.zeros(2, 32, dtype=torch.long), torch.zeros(2, 32, dtype=torch.bool)
    tokens[0, :20], tokens[1, 7:27] = content, content
    mask[0, :20], mask[1, 7:27] = True, True
    with pytest.MonkeyPatch.context() as mp, torch.no_grad():
        mp.setattr(edges_mod, "EDGE_DENSITY", density)
        h = model({"tokens": tokens, "mask": mask}, 6).final_state
    torch.testing.assert_close(h[1, 7:27], h[0, :20], rtol=1e-5, atol=1e-5)


def test_second_channel_is_summed_through_the_same_table():
    model = LoopModel(ModelConfig(), "chain", 2, vocab_size=3)
    tokens, tokens2 = torch.tensor([[0, 1, 2]]), torch.tensor([[2, 2, 0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    x = model.encode({"tokens": tokens, "tokens2": tokens2, "mask": mask}).x
    table, border = model.interface.embed.weight, model.interface.border.weight
    ends = torch.stack([border[0], torch.zeros_like(border[0]), border[1]])  # no left neighbour, both, no right one
    torch.testing.assert_close(x, table[tokens] + table[tokens2] + ends[None])


def test_a_token_knows_which_lattice_neighbours_it_lacks():
    """The string "11": both tokens see a "1" and themselves; only the border embedding tells the left end
    (no left neighbour) from the right one, so their encodings must differ. Padding gets none."""
    model = LoopModel(ModelConfig(), "chain", 2, vocab_size=3)
    x = model.encode({"tokens": torch.tensor([[1, 1, 0]]), "mask": torch.tensor([[True, True, False]])}).x[0]
    table, border = model.interface.embed.weight, model.interface.border.weight
    torch.testing.assert_close(x[0] - x[1], border[0] - border[1])
    torch.testing.assert_close(x[2], table[0])
    grid = LoopModel(ModelConfig(), "grid", 2, vocab_size=3)
    cells = torch.arange(9)[None]
    inputs = {"tokens": torch.ones(1, 9, dtype=torch.long), "mask": torch.ones(1, 9, dtype=torch.bool), "row": cells // 3, "col": cells % 3}
    gx, gb = grid.encode(inputs).x[0] - grid.interface.embed.weight[1], grid.interface.border.weight
    torch.testing.assert_close(gx[4], torch.zeros_like(gx[4]))  # the centre has all four neighbours
    torch.testing.assert_close(gx[0], gb[0] + gb[2])  # the top-left corner lacks up and left
