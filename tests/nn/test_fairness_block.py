import pytest
import torch

from fairgnn_bilevel.nn import FairnessBlock, follower_parameters, leader_parameters
from tests.conftest import UserGNN


def test_forward_repr_and_reset():
    block = FairnessBlock(8, 4, num_layers=2)
    assert str(block) == 'FairnessBlock(8, 4, num_layers=2, act=relu)'
    x = torch.randn(5, 8)
    out = block(x)
    assert out.shape == (5, 4) and (out >= 0).all()
    expected = torch.relu(block.lins[1](torch.relu(block.lins[0](x))))
    assert torch.allclose(out, expected)
    before = block.lins[0].weight.clone()
    block.reset_parameters()
    assert not torch.equal(before, block.lins[0].weight)
    with pytest.raises(ValueError, match='num_layers'):
        FairnessBlock(4, num_layers=0)


def test_parameter_partition_of_a_user_model():
    model = UserGNN()
    follower = {id(p) for p in follower_parameters(model)}
    leader = {id(p) for p in leader_parameters(model)}
    assert follower == {id(p) for p in model.fair.parameters()}
    assert leader.isdisjoint(follower)
    assert leader | follower == {id(p) for p in model.parameters()}


def test_model_without_block_has_no_follower():
    with pytest.raises(ValueError, match='contains no FairnessBlock'):
        follower_parameters(torch.nn.Linear(2, 2))
