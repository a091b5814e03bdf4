"""The normalised adjacency and receptive-field row restriction, by hand."""
import torch

from fairgnn_bilevel.nn.propagation import normalized_adjacency, restrict_rows

# a path 0-1-2-3 (both directions)
EDGES = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])


def test_normalized_adjacency_by_hand():
    adj = normalized_adjacency(EDGES, 4).to_dense()
    deg = torch.tensor([2.0, 3.0, 3.0, 2.0])  # with self-loops
    expected = torch.zeros(4, 4)
    for i, j in [(0, 0), (1, 1), (2, 2), (3, 3), (0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]:
        expected[i, j] = 1 / (deg[i] * deg[j]).sqrt()
    assert torch.allclose(adj, expected)


def test_restrict_rows():
    adj = normalized_adjacency(EDGES, 4)
    sub, cols = restrict_rows(adj, torch.tensor([0, 3]), dense_fraction=1.0)
    assert cols.tolist() == [0, 1, 2, 3]
    assert torch.allclose(sub.to_dense(), adj.to_dense()[[0, 3]])
    sub, cols = restrict_rows(adj, torch.tensor([0]), dense_fraction=1.0)
    assert cols.tolist() == [0, 1]
    assert torch.allclose(sub.to_dense(), adj.to_dense()[0, :2][None])
    # rows touching most columns keep global columns (no gather of X[cols])
    sub, cols = restrict_rows(adj, torch.tensor([1]))
    assert cols is None and torch.allclose(sub.to_dense(), adj.to_dense()[[1]])
