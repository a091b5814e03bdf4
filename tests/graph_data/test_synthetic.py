import torch
from torch_geometric.utils import is_undirected

from graph_data import fair_sbm, stratified_split


def test_fair_sbm_is_biased_and_well_formed():
    data = fair_sbm(num_nodes=1000, seed=1)
    assert is_undirected(data.edge_index) and not (data.edge_index[0] == data.edge_index[1]).any()
    same = (data.sens[data.edge_index[0]] == data.sens[data.edge_index[1]]).float().mean()
    assert same > 0.7                                  # homophilous in the sensitive group
    gap = data.y[data.sens == 0].float().mean() - data.y[data.sens == 1].float().mean()
    assert 0.03 < gap < 0.2                            # label base rates differ (label_gap 0.1)
    assert torch.equal(fair_sbm(num_nodes=1000, seed=1).x, data.x)


def test_stratified_split_is_disjoint_and_keeps_proportions():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (1000,), generator=g)
    sens = torch.randint(0, 3, (1000,), generator=g)
    y[:50] = -1                                        # unlabelled
    train, val, test = stratified_split(y, sens, train=0.6, val=0.2, seed=0)
    assert not (train & val).any() and not (train & test).any() and not (val & test).any()
    assert not (train | val | test)[:50].any()
    assert (train | val | test)[50:].all()
    for label in (0, 1):
        for group in range(3):
            stratum = (y == label) & (sens == group)
            assert abs(train[stratum].float().mean() - 0.6) < 0.02
