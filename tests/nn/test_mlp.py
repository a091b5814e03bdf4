"""FairBiNNMLP: the fairness block at any depth of an MLP."""
import torch

from fairgnn_bilevel.nn import FairBiNNMLP


def test_block_position_is_configurable():
    model = FairBiNNMLP(5, 8, layers_before=0, fairness_layers=2)
    assert model.fairness_block.in_channels == 5 and model.fairness_block.num_layers == 2
    assert model(torch.randn(3, 5)).shape == (3,)
