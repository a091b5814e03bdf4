import pytest
import torch
from torch_geometric.nn import GCNConv

from fairgnn_bilevel.nn import GCNEncoder

# a path 0-1-2-3 (both directions)
EDGES = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])


def test_gcn_encoder_matches_pyg_gcnconv():
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    encoder = GCNEncoder(3, 5, num_layers=2)
    convs = [GCNConv(3, 5), GCNConv(5, 5)]
    for conv, lin, bias in zip(convs, encoder.lins, encoder.biases):
        conv.lin.weight.data.copy_(lin.weight)
        conv.bias.data.copy_(bias)
    expected = convs[1](convs[0](x, EDGES).relu(), EDGES).relu()
    assert torch.allclose(encoder(x, EDGES), expected, atol=1e-6)


@pytest.mark.parametrize('num_layers', [1, 2, 3])
def test_receptive_field_rows_are_exact(num_layers):
    torch.manual_seed(1)
    n = 60
    edge_index = torch.randint(0, n, (2, 150))
    x = torch.randn(n, 6)
    encoder = GCNEncoder(6, 8, num_layers=num_layers)
    prepared = encoder.prepare(x, edge_index)
    rows = torch.tensor([3, 17, 42])
    dense_rows = torch.arange(0, n, 2)  # receptive field covers most of the graph
    assert torch.allclose(encoder.encode(prepared, dense_rows), encoder.encode(prepared)[dense_rows],
                          atol=1e-6)
    assert torch.allclose(encoder.encode(prepared, rows), encoder.encode(prepared)[rows],
                          atol=1e-6)


def test_row_plans_never_alias_between_temporary_row_sets():
    # Freshly built row tensors reuse freed memory; a plan cached for one row set must
    # never serve another, and the cache must stay bounded.
    torch.manual_seed(2)
    n = 300
    edge_index = torch.randint(0, n, (2, 200))
    encoder = GCNEncoder(4, 6, num_layers=2)
    prepared = encoder.prepare(torch.randn(n, 4), edge_index)
    full = encoder.encode(prepared)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        size = int(torch.randint(1, 40, (1,), generator=generator))
        rows = torch.randperm(n, generator=generator)[:size]
        assert torch.allclose(encoder.encode(prepared, rows), full[rows], atol=1e-6)
    assert len(prepared.plans) <= prepared.max_plans


def test_row_plan_follows_in_place_edits():
    torch.manual_seed(3)
    n = 200
    encoder = GCNEncoder(4, 6, num_layers=2)
    prepared = encoder.prepare(torch.randn(n, 4), torch.randint(0, n, (2, 150)))
    full = encoder.encode(prepared)
    rows = torch.tensor([1, 2, 3])
    assert torch.allclose(encoder.encode(prepared, rows), full[rows], atol=1e-6)
    rows[:] = torch.tensor([150, 160, 170])
    assert torch.allclose(encoder.encode(prepared, rows), full[rows], atol=1e-6)
