"""Full-graph node classification as a :class:`~fairgnn_bilevel.train.loop.Task`."""
from __future__ import annotations

import copy
import inspect
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Module
from torch_geometric.data import Data

from ..metrics import check_split, fairness_report, intersections
from ..nn.classifier import BilevelModel, predict_proba
from .strategies import Batch, Decision, Strategy

__all__ = ['NodeTask', 'GraphTask', 'as_node_data', 'intersect_groups', 'validate_graph',
           'num_classes', 'node_logits', 'check_model', 'encodes_rows', 'graph_step_cost',
           'FAIRNESS_ROWS']

# The nodes the fairness terms see: the labelled training nodes, or every node whose
# group is known (labelled or not, any split: a transductive use of group membership).
FAIRNESS_ROWS = ('train', 'known')

_MASKS = ('train_mask', 'val_mask', 'test_mask')


def intersect_groups(sens: Tensor) -> tuple:
    """Intersectional groups of several sensitive attributes, as fairlearn forms them.

    Args:
        sens: integer attributes of each node, shape ``[N, k]``; a negative value marks an
            unknown attribute, and a node with one is of unknown group.

    Returns:
        (group of each node ``[N]``, ``-1`` where unknown; the attribute values of each
        group, a list of ``k``-tuples in :func:`~fairgnn_bilevel.metrics.group_order`, as
        the metrics and the estimator order them).
    """
    known = (sens >= 0).all(1)
    codes, names = intersections(sens[known].cpu().numpy())  # the metrics' one order
    groups = torch.full((sens.size(0),), -1, dtype=torch.long, device=sens.device)
    groups[known] = torch.from_numpy(codes).to(sens.device)
    return groups, names


def as_node_data(data: Data) -> Data:
    """``data`` in the shapes training reads, from the shapes PyG users also pass: ``y`` and
    ``sens`` of shape ``[N, 1]`` become ``[N]``, integer or boolean ``y`` and ``sens`` of
    any width become ``int64``, ``sens`` of shape ``[N, k]`` (several
    attributes) becomes the intersectional group of each node (:func:`intersect_groups`,
    their values in ``data.group_names``), masks given as node indices become boolean
    masks.  A shallow copy when anything changes (``data`` itself is left as it is)."""
    changes = {}
    n = data.num_nodes
    for name, what in (('y', 'label'), ('sens', 'group')):
        value = data.get(name)
        if isinstance(value, Tensor) and not value.is_floating_point() and \
                value.dtype != torch.long:  # bool, uint8, int32: group ids index as int64
            value = changes[name] = value.long()
        if isinstance(value, Tensor) and value.dim() == 2:
            if value.size(1) == 1:
                changes[name] = value.view(-1)
            elif name == 'sens' and not value.is_floating_point():
                changes['sens'], changes['group_names'] = intersect_groups(value)
            else:
                raise ValueError(f'{name} has shape {tuple(value.shape)}; one {what} per node '
                                 f'is expected, shape [{n}] or [{n}, 1]'
                                 + (' (or integer attributes [N, k])' if name == 'sens' else ''))
    for name in _MASKS:
        mask = data.get(name)
        if not isinstance(mask, Tensor) or mask.dtype == torch.bool or mask.is_floating_point():
            continue
        mask = mask.view(-1)
        if len(mask) == n and bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f'{name} is an integer tensor of 0s and 1s, one per node: pass a '
                             f'boolean mask ({name}.bool()) or the indices of its nodes')
        if len(mask) and (int(mask.min()) < 0 or int(mask.max()) >= n):
            raise ValueError(f'{name} holds node indices outside 0..{n - 1}')
        if len(torch.unique(mask)) != len(mask):
            raise ValueError(f'{name} holds node indices more than once')
        changes[name] = torch.zeros(n, dtype=torch.bool, device=mask.device).index_fill(
            0, mask, True)
    if not changes:
        return data
    data = copy.copy(data)  # tensors shared, the caller's object untouched
    for name, value in changes.items():
        data[name] = value
    return data


def validate_graph(data: Data) -> None:
    """Raise ``ValueError`` naming the problem if ``data`` cannot be trained on.

    ``test_mask`` is optional (no test metrics without it).  Masks must be disjoint,
    except validation and test when ``data.val_is_test`` is set (the FairGNN protocol on
    NBA, where selecting on validation selects on test).  Every split must hold both
    labels and two sensitive groups, and every group of the validation and test splits a
    positive node, or its metrics would be undefined.
    """
    for name in ('x', 'edge_index', 'y', 'sens') + _MASKS[:2]:
        if getattr(data, name, None) is None:
            raise ValueError(f'graph has no {name!r} attribute; node classification with '
                             f'fairness needs x, edge_index, y, sens, {", ".join(_MASKS[:2])} '
                             '(and test_mask for test metrics)')
    x, edge_index = data.x, data.edge_index
    if x.dim() != 2 or not x.is_floating_point():
        raise ValueError(f'x must be a 2-D floating-point tensor [nodes, features], got '
                         f'dtype {x.dtype} and shape {tuple(x.shape)}; use x.float()')
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f'x is {x.dtype}: parameters and optimiser state in half precision '
                         'lose the small updates training makes; pass x.float() (for mixed '
                         'precision, keep float32 data and train under torch.autocast)')
    for problem, bad in (('NaN', torch.isnan(x)), ('infinite values', torch.isinf(x))):
        rows = bad.any(1).nonzero().view(-1)
        if len(rows):
            raise ValueError(f'x has {problem} in {len(rows)} nodes (first: '
                             f'{rows[:5].tolist()}); impute, clip or drop them first')
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f'edge_index must have shape [2, num_edges], got {tuple(edge_index.shape)}'
                         '; transpose a [num_edges, 2] list with edge_index.t()')
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise ValueError(f'edge_index must hold integer node indices, got dtype '
                         f'{edge_index.dtype}; use edge_index.long()')
    n = x.size(0)
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= n):
        raise ValueError(f'edge_index refers to nodes outside 0..{n - 1}')
    masks = tuple(m for m in _MASKS if getattr(data, m, None) is not None)
    for name in masks + ('y', 'sens'):
        if getattr(data, name).size(0) != n:
            raise ValueError(f'{name} has {getattr(data, name).size(0)} rows but the graph '
                             f'has {n} nodes')
    for name in masks:
        mask = getattr(data, name)
        if mask.dtype != torch.bool:
            raise ValueError(f'{name} must be a boolean mask, got dtype {mask.dtype}')
        if not mask.any():
            raise ValueError(f'{name} selects no node')
    for i, a in enumerate(masks):
        for b in masks[i + 1:]:
            if (a, b) == ('val_mask', 'test_mask') and data.get('val_is_test', False):
                continue  # the FairGNN protocol on NBA, flagged in every result
            overlap = int((getattr(data, a) & getattr(data, b)).sum())
            if overlap:
                raise ValueError(f'{a} and {b} overlap in {overlap} nodes; splits must be '
                                 'disjoint (use graph_data split="stratified")')
    if data.sens.is_floating_point():
        raise ValueError('sens must hold integer group ids, got a floating-point tensor')
    if (data.sens[_used(data)] < 0).any():
        raise ValueError('sens is negative on some train/val/test nodes (unknown group?); '
                         'mask those nodes out or assign them a group')
    classes = num_classes(data)
    for name in masks:
        mask = getattr(data, name)
        check_split(name, data.y[mask], sensitive_features=data.sens[mask],
                    evaluated=name != 'train_mask', group_names=data.get('group_names'),
                    num_classes=classes)


def _used(data: Data) -> Tensor:
    return torch.stack([getattr(data, m) for m in _MASKS if data.get(m) is not None]).any(0)


def num_classes(data: Data) -> int:
    """The number of classes ``C`` of a graph's labels: its train/val/test nodes must be
    labelled with the integers ``0 .. C-1`` (two for binary labels)."""
    y = data.y[_used(data)]
    if y.is_floating_point():
        if not bool((y == y.round()).all()):
            raise ValueError('y must hold integer class labels 0 .. C-1 on train/val/test '
                             'nodes, found fractional values')
        y = y.long()
    labels = torch.unique(y)
    if len(labels) and int(labels.min()) < 0:
        raise ValueError(f'y is negative on some train/val/test nodes (found '
                         f'{labels[labels < 0].tolist()}; -1 marks unlabelled nodes): mask '
                         'those nodes out or label them')
    classes = max(int(labels.max()) + 1 if len(labels) else 0, 2)
    if classes > 2 and len(labels) < classes:  # two: check_split names the missing one
        absent = sorted(set(range(classes)) - set(labels.tolist()))
        raise ValueError(f'y must hold the classes 0 .. {classes - 1} on train/val/test nodes, '
                         f'and class(es) {absent} have no node; renumber the labels '
                         '(e.g. torch.unique(y, return_inverse=True))')
    return classes


def graph_step_cost(data: Data, hidden: int) -> float:
    """Multiply-adds of one full-graph forward of a ``hidden``-wide GNN layer pair: the
    size that :func:`~fairgnn_bilevel.train.threads.choose_threads` reads."""
    return float(data.num_nodes * (data.num_features + hidden) * hidden
                 + data.edge_index.size(1) * hidden)


def node_logits(out: Tensor) -> Tensor:
    """A model's output as the library reads it: ``[N, 1]`` becomes ``[N]``."""
    return out.view(-1) if out.dim() == 2 and out.size(1) == 1 else out


def check_model(model: Module, data: Data, classes: Optional[int] = 2) -> Tensor:
    """The logits of ``model(x, edge_index)`` (:func:`node_logits`), computed in eval mode
    without gradients; raise ``ValueError`` in one line unless the model takes
    ``(x, edge_index)`` and returns one logit per node for two ``classes`` (shape ``[N]``
    or ``[N, 1]``) or one per class (``[N, classes]``; ``classes=None``: any number)."""
    name = type(model).__name__
    try:
        inspect.signature(model.forward).bind(data.x, data.edge_index)
    except TypeError:
        raise ValueError(f'{name}.forward{inspect.signature(model.forward)} cannot be called '
                         'as model(x, edge_index); a model of your own must take the node '
                         'features and edge_index and return logits: one per node for two '
                         'classes, one per class for more') from None
    with torch.no_grad():
        was_training = model.training
        model.eval()
        try:
            out = model(data.x, data.edge_index)
        finally:
            model.train(was_training)
    n = data.num_nodes
    stated = classes is not None
    if not stated:  # any number: the width the model returns
        wide = isinstance(out, Tensor) and out.dim() == 2 and out.size(1) > 2
        classes = out.size(1) if wide else 2
    shapes = ((n, classes),) if classes > 2 else ((n,), (n, 1), (n, 2))
    if not isinstance(out, Tensor) or tuple(out.shape) not in shapes:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        expected = (f'one logit per class, shape [{n}, {classes}]' if classes > 2 else
                    f'one logit per node, shape [{n}] or [{n}, 1] (or [{n}, 2], one per class)')
        raise ValueError(f'{name}(x, edge_index) returned {shape}; '
                         + (f'the graph\'s labels have {classes} classes, so ' if stated else '')
                         + f'the model must return {expected}')
    return node_logits(out)


def encodes_rows(model: Module) -> bool:
    """Whether a step's rows are ``model``'s representation (a BilevelModel's graph
    encoder) rather than its raw input (any other module)."""
    return isinstance(model, BilevelModel) and hasattr(getattr(model, 'encoder', None),
                                                        'prepare')


class NodeTask:
    """What every node-classification task shares: a checked graph, the rows of its
    splits, and metrics on a split from the task's exact ``predict_proba``."""

    def __init__(self, data: Data) -> None:
        validate_graph(data)
        self.data = data
        self.num_classes = num_classes(data)
        self.split_rows = {split: getattr(data, f'{split}_mask').nonzero().view(-1)
                           for split in ('train', 'val', 'test')
                           if getattr(data, f'{split}_mask', None) is not None}

    def has_split(self, split: str) -> bool:
        return split in self.split_rows

    def predict_proba(self, rows: Optional[Tensor] = None) -> Tensor:
        raise NotImplementedError

    def scores(self, split: str) -> Tuple[Tensor, Tensor, Tensor]:
        """The probabilities, labels and groups of ``split``'s rows."""
        rows = self.split_rows[split]
        return self.predict_proba(rows), self.data.y[rows], self.data.sens[rows]

    def evaluate(self, split: str, decide: Optional[Decision] = None) -> Dict[str, float]:
        """ACC, AUC, ΔDP and ΔEO on ``split`` (``'train'``, ``'val'`` or ``'test'``);
        ``decide``: post-processing that makes the hard predictions (default: threshold)."""
        probs, labels, groups = self.scores(split)
        return fairness_report(labels, probs, sensitive_features=groups,
                               y_pred=None if decide is None else decide(probs, groups))


class GraphTask(NodeTask):
    """One full-graph step per epoch; encoder work prepared once per graph.

    For a :class:`~fairgnn_bilevel.nn.BilevelModel` with a graph encoder, each step encodes
    only the training rows' receptive field and both players reuse it.  Any other module
    ``model(x, edge_index) -> logits`` containing a ``FairnessBlock`` also works: its
    "encoder rows" are the input itself and each decode runs the whole model.

    Args:
        fairness_rows: the nodes the fairness terms see, ``'train'`` (the labelled
            training nodes) or ``'known'`` (every node with ``sens >= 0``, labelled or not).
    """

    def __init__(self, model: Module, data: Data, *, fairness_rows: str = 'train') -> None:
        if fairness_rows not in FAIRNESS_ROWS:
            raise ValueError(f'unknown fairness_rows {fairness_rows!r}; use one of '
                             f'{", ".join(FAIRNESS_ROWS)}')
        super().__init__(data)
        self.model = model
        labelled = self.split_rows['train']
        if fairness_rows == 'train':  # one set of rows for both players
            self.train_rows, self.labelled, self.fair = labelled, None, None
            self.fair_nodes = labelled
        else:
            self.fair_nodes = (data.sens >= 0).nonzero().view(-1)
            self.train_rows = torch.unique(torch.cat([labelled, self.fair_nodes]))  # sorted
            self.labelled = torch.searchsorted(self.train_rows, labelled)
            self.fair = torch.searchsorted(self.train_rows, self.fair_nodes)
        self.train_groups = data.sens[self.fair_nodes]
        self.train_labels = data.y[labelled].float()
        self.step_cost = graph_step_cost(data, getattr(model, 'hidden_channels', 64))
        self.encodes_rows = encodes_rows(model)
        if self.encodes_rows:
            self.prepared = model.encoder.prepare(data.x, data.edge_index)
        else:
            check_model(model, data, self.num_classes)

    def _batch(self, hidden: Tensor) -> Batch:
        return Batch(hidden, self.train_labels, self.train_groups, self.labelled, self.fair,
                     nodes=self.fair_nodes)

    def _decode_generic(self, x: Tensor) -> Tensor:
        return node_logits(self.model(x, self.data.edge_index))[self.train_rows]

    def train_epoch(self, strategy: Strategy, fairness_scale: float = 1.0) -> Dict[str, float]:
        if self.encodes_rows:
            batch = self._batch(self.model.encoder.encode_prepared(self.prepared, self.train_rows))
            return strategy.step(batch, self.model.decode, fairness_scale)
        return strategy.step(self._batch(self.data.x), self._decode_generic, fairness_scale)

    def predict_proba(self, rows: Optional[Tensor] = None) -> Tensor:
        """Probability of the positive class (or of each class) for ``rows`` (default:
        every node), in eval mode; with the shared-work encoder only their receptive field
        is propagated."""
        def logits() -> Tensor:
            if self.encodes_rows:
                return self.model.decode(self.model.encoder.encode_prepared(self.prepared, rows))
            out = node_logits(self.model(self.data.x, self.data.edge_index))
            return out if rows is None else out[rows]
        return predict_proba(self.model, logits)
