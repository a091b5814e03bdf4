"""The split protocols: FairGNN's index for index, and the leak-free stratified split."""
import random

import numpy as np
import pytest
import torch

from graph_data.splits import fairgnn_split, stratified_split


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


@pytest.mark.parametrize('test_idx', [False, True])
def test_fairgnn_split_follows_the_seeded_shuffle(test_idx):
    rng = np.random.default_rng(1)
    labels = torch.from_numpy(rng.choice([-1, 0, 1], 400))
    sens = torch.from_numpy(rng.choice([-1, 0, 1], 400, p=[0.1, 0.45, 0.45]))
    train, val, test = fairgnn_split(labels, sens, seed=20, label_number=60, test_idx=test_idx)
    order = list(np.where(labels.numpy() >= 0)[0])   # by hand: FairGNN's shuffle
    random.seed(20)
    random.shuffle(order)
    n = len(order)
    assert train.nonzero().view(-1).tolist() == sorted(order[:60])
    rest = order[60:] if test_idx else order[int(0.75 * n):]
    expected_test = sorted(i for i in rest if sens[i] >= 0)
    assert test.nonzero().view(-1).tolist() == expected_test
    if test_idx:
        assert torch.equal(val, test)
    else:
        assert val.nonzero().view(-1).tolist() == sorted(order[int(0.5 * n):int(0.75 * n)])
        assert not (val & test).any()
