"""Mini-batch graph training: sampled subgraphs that reproduce full-graph steps, exact metrics."""
import copy

import pytest
import torch
import torch_geometric.typing as pyg_typing

from fairgnn_bilevel.nn import FairBiNNGNN
from fairgnn_bilevel.nn.propagation import normalized_adjacency
from fairgnn_bilevel.train.graph import GraphTask
from fairgnn_bilevel.train.strategies import make_strategy
from tests.conftest import tiny_graph

# Tiny fits (a few epochs, a few dozen nodes) select models that predict one class or rank
# at chance: the library's SelectionWarning about it is expected here and is not what these
# tests check (tests/test_api.py asserts it where it is).
pytestmark = pytest.mark.filterwarnings('ignore::fairgnn_bilevel.train.selection.SelectionWarning')


SAMPLER = pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE
needs_sampler = pytest.mark.skipif(
    not SAMPLER, reason='neighbour sampling needs torch-sparse or pyg-lib: pip install '
                        '--no-build-isolation torch-scatter torch-sparse (the README test '
                        'command installs them)')

METHODS = ('vanilla', 'lagrangian', 'bilevel_first_order', 'bilevel', 'fairgnn')
OPTIONS = dict(leader_lr=1e-2, follower_lr=1e-2, follower_step_size=1e-1, eta=50.0, lam=5.0,
               alpha=4.0, beta=1.0)


# several classes: every method but FairGNN (binary only), the reference mode included
MULTICLASS_METHODS = ('vanilla', 'lagrangian', 'bilevel_first_order', 'bilevel', 'reference')


def graph(classes=2):
    # random edges: self-loops and duplicate edges included, as users' graphs may have
    return tiny_graph(n=120 if classes == 2 else 180, features=6, dtype=torch.float64,
                      edges_per_node=4.0, classes=classes, groups=2 if classes == 2 else 3)


def model_for(data, encoder='gcn', seed=0):
    torch.manual_seed(seed)
    classes = int(data.y.max()) + 1
    return FairBiNNGNN(data.num_features, 12, encoder=encoder, num_classes=classes).double()


def train_steps(task, method, steps=10, **bound):
    """``steps`` epochs of ``method``; ``bound``: ``max_gap`` (and ``dual_lr``) for a bounded
    strategy, whose multiplier moves after each epoch."""
    sens = task.data.sens
    extra = {'scores': sens} if method == 'fairgnn' else {}  # the true groups as scores
    extra.update(bound)
    strategy = make_strategy(method, task.model, shard=getattr(task, 'shard', None),
                             num_groups=int(sens.max()) + 1, **extra, **OPTIONS)
    if method == 'fairgnn':  # its adversary, drawn before the loaders draw their seeds
        torch.manual_seed(1)
        strategy._adversary(torch.zeros(1, task.model.hidden_channels, dtype=torch.float64))
    for _ in range(steps):
        task.train_epoch(strategy)
        strategy.end_epoch()
    return task.model.state_dict()


def assert_same_parameters(a, b, atol=1e-5):
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=atol, rtol=0, msg=name)


@needs_sampler
@pytest.mark.parametrize('method,classes', [(m, 2) for m in METHODS]
                         + [(m, 3) for m in MULTICLASS_METHODS])
def test_full_neighbourhood_single_batch_equals_full_graph_training(method, classes):
    from fairgnn_bilevel.train.minibatch import MiniBatchGraphTask
    data = graph(classes)
    full = model_for(data)
    assert full.head.out_features == (1 if classes == 2 else classes)
    mini = copy.deepcopy(full)
    expected = train_steps(GraphTask(full, data), method)
    task = MiniBatchGraphTask(mini, data, batch_size=int(data.train_mask.sum()),
                              num_neighbors=[-1, -1])
    got = train_steps(task, method)
    assert_same_parameters(got, expected)
    # and the parameters moved: equality is not two untrained copies
    moved = max(float((a - b).abs().max()) for a, b in zip(
        got.values(), model_for(data).state_dict().values()))
    assert moved > 1e-3


@needs_sampler
def test_gat_full_neighbourhood_single_batch_equals_full_graph_training():
    from fairgnn_bilevel.train.minibatch import MiniBatchGraphTask
    data = graph()
    full = model_for(data, 'gat')
    mini = copy.deepcopy(full)
    expected = train_steps(GraphTask(full, data), 'bilevel')
    got = train_steps(MiniBatchGraphTask(mini, data, batch_size=1000, num_neighbors=[-1, -1]),
                      'bilevel')
    assert_same_parameters(got, expected)


@needs_sampler
def test_sampled_subgraph_carries_the_full_graph_weights():
    """Each sampled edge weighs 1/sqrt(d̂_s d̂_t) · d_t / k_t; each node keeps its self-loop."""
    from fairgnn_bilevel.train.minibatch import MiniBatchGraphTask
    data = graph()
    model = model_for(data)
    task = MiniBatchGraphTask(model, data, batch_size=16, num_neighbors=[2, 2])
    adj = normalized_adjacency(data.edge_index, data.num_nodes, dtype=torch.float64).to_dense()
    batch = next(iter(task.loader))
    prepared = task._prepare(batch)
    sub = prepared.adj.to_dense()
    node = batch.n_id
    source, target = batch.edge_index
    no_loops = data.edge_index[:, data.edge_index[0] != data.edge_index[1]]
    in_degree = torch.bincount(no_loops[1], minlength=data.num_nodes).double()
    sampled = torch.bincount(target, minlength=len(node)).double()
    expected = torch.zeros_like(sub)
    for s, t in zip(source.tolist(), target.tolist()):  # the loader's edges, one by one
        u, v = int(node[s]), int(node[t])
        # the full graph's weight of one edge u -> v, whatever duplicates it has
        multiplicity = int(((no_loops[0] == u) & (no_loops[1] == v)).sum())
        expected[t, s] += adj[v, u] / multiplicity * in_degree[v] / sampled[t]
    expected += torch.diag(adj[node, node])
    torch.testing.assert_close(sub, expected)
    assert int(sampled.max()) <= 2  # the fan-out was respected


@needs_sampler
def test_sampled_aggregation_is_unbiased():
    """With a fan-out below the degrees, the mean over many samples of a seed's
    aggregated first-layer input approaches the full graph's."""
    from fairgnn_bilevel.train.minibatch import MiniBatchGraphTask
    data = tiny_graph(n=60, features=3, dtype=torch.float64, edges_per_node=6.0)
    task = MiniBatchGraphTask(model_for(data), data, batch_size=1000, num_neighbors=[3, 3])
    adj = normalized_adjacency(data.edge_index, data.num_nodes, dtype=torch.float64)
    seeds = task.seeds
    full = torch.sparse.mm(adj, data.x)[seeds]
    total, draws = torch.zeros_like(full), 400
    torch.manual_seed(0)
    for _ in range(draws):
        batch = next(iter(task.loader))
        order = torch.argsort(batch.n_id[:batch.batch_size])
        total += task._prepare(batch).propagated_x[:batch.batch_size][order]
    error = (total / draws - full).abs().max()
    single = (task._prepare(batch).propagated_x[:batch.batch_size][order] - full).abs().max()
    assert error < 0.25 * single  # one draw is off; the average of many is close


@needs_sampler
@pytest.mark.parametrize('encoder', ['gcn', 'gat'])
def test_evaluation_equals_full_graph_evaluation(encoder):
    from fairgnn_bilevel.train.minibatch import MiniBatchGraphTask
    data = graph()
    model = model_for(data, encoder)
    train_steps(GraphTask(model, data), 'vanilla', steps=5)  # a model that separates classes
    full, mini = GraphTask(model, data), MiniBatchGraphTask(model, data, batch_size=8,
                                                           num_neighbors=[3, 3])
    if encoder == 'gcn':  # evaluated on the sampler's edge arrays, not a second copy
        assert mini.inference_prepared.diagonal is not None
    for split in ('train', 'val', 'test'):
        expected, got = full.evaluate(split), mini.evaluate(split)
        assert got.keys() == expected.keys()
        for name in expected:
            assert got[name] == pytest.approx(expected[name], abs=1e-6), (split, name)


def test_layerwise_inference_equals_encode_in_small_chunks():
    data = tiny_graph(n=200, features=5, edges_per_node=3.0)
    torch.manual_seed(0)
    encoder = FairBiNNGNN(5, 16, num_layers=3).encoder.eval()
    rows = torch.tensor([3, 150, 7, 42])
    expected = encoder.encode_prepared(encoder.prepare(data.x, data.edge_index), rows)
    prepared = encoder.prepare_inference(data.x, data.edge_index)
    for chunk in (1, 7, 1000):
        got = encoder.inference(prepared, rows, chunk_size=chunk)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(encoder.inference(prepared, chunk_size=13),
                               encoder.encode_prepared(encoder.prepare(data.x, data.edge_index)),
                               atol=1e-6, rtol=0)


def test_seed_batches_partition_each_step_across_ranks():
    from fairgnn_bilevel.train.minibatch import SeedBatches
    ranks = [SeedBatches(23, 8, seed=3, rank=r, world_size=3) for r in range(3)]
    steps = [list(rank) for rank in ranks]
    union = ranks[0].global_batches()
    assert [len(b) for b in union] == [8, 8, 7]
    for step, batch in enumerate(union):
        parts = [steps[r][step] for r in range(3)]
        assert sorted(sum(parts, [])) == sorted(batch.tolist())  # disjoint, covering
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert [list(r) for r in ranks] == steps                       # repeatable
    ranks[0].set_epoch(1)
    assert ranks[0].global_batches()[0].tolist() != union[0].tolist()
    # a last batch smaller than the number of ranks joins the one before
    assert [len(b) for b in SeedBatches(17, 8, world_size=3).global_batches()] == [8, 9]
    with pytest.raises(ValueError, match='at least the number of processes'):
        SeedBatches(10, 2, world_size=3)


def test_missing_sampler_names_the_install_command(monkeypatch):
    import fairgnn_bilevel as fb
    monkeypatch.setattr(pyg_typing, 'WITH_PYG_LIB', False)
    monkeypatch.setattr(pyg_typing, 'WITH_TORCH_SPARSE', False)
    with pytest.raises(ImportError, match='pip install --no-build-isolation torch-scatter '
                                          'torch-sparse'):
        fb.fit(tiny_graph(), batch_size=16, epochs=1, progress=False)


@needs_sampler
def test_fit_on_mini_batches_repeats_for_a_seed_and_changes_with_it():
    import fairgnn_bilevel as fb
    data = tiny_graph(n=160, features=6, edges_per_node=4.0)
    runs = [fb.fit(data, epochs=4, batch_size=20, num_neighbors=[3, 2], seed=seed,
                   progress=False) for seed in (1, 1, 2)]
    first, again, other = (r.model.state_dict() for r in runs)
    assert_same_parameters(first, again, atol=0)
    assert any(not torch.equal(first[k], other[k]) for k in first)
    assert runs[0].test == runs[1].test and 0 <= runs[0].test['acc'] <= 1


@needs_sampler
def test_fairgnn_trains_on_mini_batches_of_estimated_groups():
    import fairgnn_bilevel as fb
    data = tiny_graph(n=160, features=6, edges_per_node=4.0)
    result = fb.fit(data, method='fairgnn', epochs=3, batch_size=32, sens_number=20,
                    progress=False)
    assert 0 <= result.test['dp'] <= 1
