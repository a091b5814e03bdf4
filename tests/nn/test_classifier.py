"""FairBiNNGNN and the eval-mode probability helper."""
import pytest
import torch

from fairgnn_bilevel.nn import FairBiNNGNN
from fairgnn_bilevel.nn.classifier import predict_proba


def test_classifier_repr_and_gat():
    model = FairBiNNGNN(6, 8, encoder='gat', heads=2)
    assert 'GAT' in repr(model) and 'FairnessBlock' in repr(model)
    out = model(torch.randn(10, 6), torch.randint(0, 10, (2, 30)))
    assert out.shape == (10,)
    with pytest.raises(ValueError, match='unknown encoder'):
        FairBiNNGNN(6, 8, encoder='sage')


def test_predict_proba_is_eval_mode_without_gradients_and_restores_the_mode():
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Dropout(0.9))
    x = torch.randn(50, 3)
    expected = torch.sigmoid(model[0](x)).view(-1)  # no dropout: eval mode; one per row
    got = predict_proba(model, lambda: model(x))
    assert torch.allclose(got, expected) and not got.requires_grad and model.training
