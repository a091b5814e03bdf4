import torch
from torch_geometric.utils import is_undirected

from graph_data import fair_sbm


def test_fair_sbm_is_biased_and_well_formed():
    data = fair_sbm(num_nodes=1000, seed=1)
    assert is_undirected(data.edge_index) and not (data.edge_index[0] == data.edge_index[1]).any()
    same = (data.sens[data.edge_index[0]] == data.sens[data.edge_index[1]]).float().mean()
    assert same > 0.7                                  # homophilous in the sensitive group
    gap = data.y[data.sens == 0].float().mean() - data.y[data.sens == 1].float().mean()
    assert 0.03 < gap < 0.2                            # label base rates differ (label_gap 0.1)
    assert torch.equal(fair_sbm(num_nodes=1000, seed=1).x, data.x)


def test_positive_rate_sets_the_label_base_rate():
    data = fair_sbm(num_nodes=4000, positive_rate=0.3, label_gap=0.0, seed=2)
    assert abs(data.y.float().mean() - 0.3) < 0.03
