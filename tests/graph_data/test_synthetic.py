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


def test_classes_and_groups_with_a_tunable_dependence():
    import pytest
    from scipy.stats import chi2_contingency
    data = fair_sbm(num_nodes=6000, num_classes=4, num_groups=3, label_gap=0.3, seed=3)
    assert data.y.unique().tolist() == [0, 1, 2, 3] and data.sens.unique().tolist() == [0, 1, 2]
    # P(y = c | s = g) = 1/C + gap * ([c = g mod C] - 1/C): 0.475 for the favoured class
    for group in range(3):
        share = (data.y[data.sens == group] == group).float().mean().item()
        assert share == pytest.approx(0.25 + 0.3 * 0.75, abs=0.04)
    # minority 0.4 shared by groups 1 and 2
    assert (data.sens == 0).float().mean().item() == pytest.approx(0.6, abs=0.03)
    # label_gap=0: labels independent of groups (no significant association)
    free = fair_sbm(num_nodes=6000, num_classes=4, num_groups=3, label_gap=0.0, seed=3)
    table = torch.zeros(3, 4)
    table.index_put_((free.sens, free.y), torch.ones(6000), accumulate=True)
    assert chi2_contingency(table.numpy()).pvalue > 0.001
    # label_gap=1: every group holds its favoured class only
    full = fair_sbm(num_nodes=600, num_classes=3, num_groups=3, label_gap=1.0, seed=3)
    assert torch.equal(full.y, full.sens)
    # every split holds every (class, group) cell, so the multi-class metrics are defined
    for mask in (data.train_mask, data.val_mask, data.test_mask):
        cells = (data.y[mask] * 3 + data.sens[mask]).unique()
        assert len(cells) == 12
    with pytest.raises(ValueError, match='leave positive_rate at 0.5'):
        fair_sbm(num_classes=3, positive_rate=0.3)
