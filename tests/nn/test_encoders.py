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
    assert torch.allclose(encoder.encode_prepared(prepared, dense_rows), encoder.encode_prepared(prepared)[dense_rows],
                          atol=1e-6)
    assert torch.allclose(encoder.encode_prepared(prepared, rows), encoder.encode_prepared(prepared)[rows],
                          atol=1e-6)


def test_row_plans_never_alias_between_temporary_row_sets():
    # Freshly built row tensors reuse freed memory; a plan cached for one row set must
    # never serve another, and the cache must stay bounded.
    torch.manual_seed(2)
    n = 300
    edge_index = torch.randint(0, n, (2, 200))
    encoder = GCNEncoder(4, 6, num_layers=2)
    prepared = encoder.prepare(torch.randn(n, 4), edge_index)
    full = encoder.encode_prepared(prepared)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        size = int(torch.randint(1, 40, (1,), generator=generator))
        rows = torch.randperm(n, generator=generator)[:size]
        assert torch.allclose(encoder.encode_prepared(prepared, rows), full[rows], atol=1e-6)
    assert len(prepared.plans) <= prepared.max_plans


def test_row_plan_follows_in_place_edits():
    torch.manual_seed(3)
    n = 200
    encoder = GCNEncoder(4, 6, num_layers=2)
    prepared = encoder.prepare(torch.randn(n, 4), torch.randint(0, n, (2, 150)))
    full = encoder.encode_prepared(prepared)
    rows = torch.tensor([1, 2, 3])
    assert torch.allclose(encoder.encode_prepared(prepared, rows), full[rows], atol=1e-6)
    rows[:] = torch.tensor([150, 160, 170])
    assert torch.allclose(encoder.encode_prepared(prepared, rows), full[rows], atol=1e-6)


@pytest.mark.parametrize('heads', [1, 2])
def test_gat_encoder_equals_pyg_gat_in_output_and_gradients(heads):
    from torch_geometric.nn import GAT

    from fairgnn_bilevel.nn import GATEncoder
    torch.manual_seed(4)
    n = 50
    x = torch.randn(n, 6, dtype=torch.float64)
    edge_index = torch.randint(0, n, (2, 200))
    edge_index = torch.cat([edge_index, torch.tensor([[3, 3], [3, 3]])], 1)  # self-loops too
    reference = GAT(6, 8, 2, dropout=0.3, heads=heads).double()
    encoder = GATEncoder(6, 8, num_layers=2, dropout=0.3, heads=heads).double()
    encoder.convs.load_state_dict(reference.convs.state_dict())
    reference.eval(), encoder.eval()
    expected = reference(x, edge_index).relu()
    got = encoder(x, edge_index)
    assert torch.allclose(got, expected, atol=1e-12)
    rows = torch.tensor([0, 7, 31])
    assert torch.allclose(encoder.encode_prepared(encoder.prepare(x, edge_index), rows), expected[rows])
    weights = torch.randn_like(expected)
    want = torch.autograd.grad((expected * weights).sum(), list(reference.convs.parameters()))
    have = torch.autograd.grad((got * weights).sum(), list(encoder.convs.parameters()))
    for a, b in zip(want, have):
        assert torch.allclose(a, b, atol=1e-10)


def test_gat_encoder_rejects_uneven_heads():
    from fairgnn_bilevel.nn import GATEncoder
    with pytest.raises(ValueError, match='divisible by heads'):
        GATEncoder(4, 6, heads=4)
