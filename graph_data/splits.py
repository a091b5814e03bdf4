"""Train/validation/test split protocols for node classification with a sensitive attribute."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

__all__ = ['SPLITS', 'fairgnn_split', 'nifty_split', 'stratified_split', 'masks_from_indices',
           'known_group_sample', 'DEFAULT_SENS_NUMBER']

SPLITS = ('fairgnn', 'nifty', 'stratified')  # the split protocols graph datasets offer
DEFAULT_SENS_NUMBER = 200  # FairGNN's default count of nodes whose group its estimator sees


def masks_from_indices(num_nodes: int, *indices) -> Tuple[Tensor, ...]:
    """Boolean masks of length ``num_nodes``, one per index collection."""
    masks = []
    for index in indices:
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[torch.as_tensor(np.asarray(index, dtype=np.int64))] = True
        masks.append(mask)
    return tuple(masks)


def stratified_split(y: Tensor, sens: Tensor, *, train: float = 0.5, val: float = 0.25,
                     seed: int = 0, labelled: Optional[Tensor] = None
                     ) -> Tuple[Tensor, Tensor, Tensor]:
    """Disjoint train/val/test masks, stratified by (label, sensitive group).

    Within each (y, s) stratum of the labelled nodes, a seeded permutation gives
    ``train`` of the nodes to training, ``val`` to validation and the rest to test, so each
    split keeps the label and group proportions and no node appears twice.

    Args:
        y: labels, shape ``[n]``; nodes with ``y < 0`` are treated as unlabelled.
        sens: sensitive groups, shape ``[n]``; nodes with ``sens < 0`` are left out.
        train, val: fractions (``train + val < 1``; the remainder is test).
        seed: seed of the permutation.
        labelled: optional extra mask of usable nodes.
    """
    if not (0 < train < 1 and 0 < val < 1 and train + val < 1):
        raise ValueError(f'need 0 < train, val and train + val < 1, got train={train}, val={val}')
    usable = (y >= 0) & (sens >= 0)
    if labelled is not None:
        usable &= labelled
    rng = np.random.default_rng(seed)
    y_np, s_np = y.numpy(), sens.numpy()
    parts = ([], [], [])
    for label in np.unique(y_np[usable.numpy()]):
        for group in np.unique(s_np[usable.numpy()]):
            stratum = np.flatnonzero(usable.numpy() & (y_np == label) & (s_np == group))
            stratum = rng.permutation(stratum)
            n_train = int(round(train * len(stratum)))
            n_val = int(round(val * len(stratum)))
            parts[0].append(stratum[:n_train])
            parts[1].append(stratum[n_train:n_train + n_val])
            parts[2].append(stratum[n_train + n_val:])
    return masks_from_indices(len(y), *(np.concatenate(p) for p in parts))


def fairgnn_split(labels: Tensor, sens: Tensor, *, seed: int = 20, label_number: int = 500,
                  test_idx: bool = False) -> Tuple[Tensor, Tensor, Tensor]:
    """The FairGNN protocol (``EnyanDai/FairGNN`` ``load_pokec``), index for index.

    Labelled nodes (``y >= 0``) in file order are shuffled by Python's ``random.seed(seed)``
    shuffle; train = the first ``min(50 %, label_number)``, val = 50–75 %, test = 75–100 %
    restricted to nodes with a known sensitive value (``sens >= 0``).  With ``test_idx``
    (NBA), test = every labelled node after the first ``label_number`` and **val = test**,
    so selecting on validation then selects on test labels.
    """
    import random
    label_idx = np.where(labels.numpy() >= 0)[0]
    random.seed(seed)
    random.shuffle(label_idx)
    n = len(label_idx)
    train = label_idx[:min(int(0.5 * n), label_number)]
    val = label_idx[int(0.5 * n):int(0.75 * n)]
    test = label_idx[label_number:] if test_idx else label_idx[int(0.75 * n):]
    if test_idx:
        val = test
    test = test[sens.numpy()[test] >= 0]
    if test_idx:
        val = test
    return masks_from_indices(len(labels), train, val, test)


def nifty_split(labels: Tensor, *, seed: int = 20, label_number: int = 100
                ) -> Tuple[Tensor, Tensor, Tensor]:
    """The NIFTY protocol (``chirag126/nifty`` ``load_german``/``load_bail``/``load_credit``,
    reused by PyGDebias, FairVGNN and FairSIN), index for index.

    Each class's nodes in file order (class 0 first) are shuffled by one Python
    ``random.seed(seed)`` stream; of each class, train = the first ``min(50 %,
    label_number // 2)``, val = 50–75 %, test = 75–100 %.  So training is balanced and
    capped (50 + 50 labels on German and Bail, 3,000 + 3,000 on Credit) while validation
    and test keep the class proportions.  Nodes with ``y < 0`` are left out.
    """
    import random
    stream = random.Random(seed)  # NIFTY's global random.seed + shuffle, without the global
    y = labels.numpy()
    parts = ([], [], [])
    for label in np.unique(y[y >= 0]):
        index = np.flatnonzero(y == label).tolist()
        stream.shuffle(index)
        n = len(index)
        parts[0].extend(index[:min(int(0.5 * n), label_number // 2)])
        parts[1].extend(index[int(0.5 * n):int(0.75 * n)])
        parts[2].extend(index[int(0.75 * n):])
    return masks_from_indices(len(labels), *parts)


def known_group_sample(sens: Tensor, val_mask: Tensor, test_mask: Tensor, *, number: int,
                       seed: int = 20) -> Tensor:
    """The nodes whose group FairGNN's sensitive-attribute estimator trains on, index for
    index as FairGNN's ``load_pokec`` draws ``idx_sens_train``.

    The nodes of known group (``sens >= 0``) outside validation and test, in the order of
    Python's set difference, shuffled by ``random.seed(seed)`` (FairGNN passes its split
    seed, 20); the first ``number`` of them (all, when fewer are known).

    Returns:
        Sorted node indices, shape ``[min(number, known)]``.
    """
    import random
    known = set(torch.nonzero(sens >= 0).view(-1).tolist())
    rows = list(known - set(torch.nonzero(val_mask).view(-1).tolist())
                - set(torch.nonzero(test_mask).view(-1).tolist()))
    random.Random(seed).shuffle(rows)  # FairGNN's random.seed + shuffle, without the global
    return torch.tensor(sorted(rows[:number]), dtype=torch.long)
