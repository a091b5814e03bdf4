"""The baselines beside FairBiNN (FairVGNN, FairSIN, FairINV, post-processing): each piece's
mechanism against an independent oracle, and each method through the runner."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import fairgnn_bilevel as fb
from fairgnn_bilevel.config import ConfigError
from fairgnn_bilevel.nn.input_layers import (ChannelMask, InputLayerEncoder, Neutralizer,
                                             heterophilous_means)
from fairgnn_bilevel.partitions import (environment_risks, infer_partitions, invariance_loss,
                                        irm_penalties)
from fairgnn_bilevel.train.baselines import fit_neutralizer
from graph_data.synthetic import fair_sbm

pytestmark = pytest.mark.filterwarnings('ignore::fairgnn_bilevel.train.selection.SelectionWarning')

BASELINES = ('fairvgnn', 'fairsin', 'fairinv', 'threshold')


def _fit(data, method, **options):
    return fb.fit(data, method=method, progress=False, **options)


@pytest.fixture(scope='module')
def planted():
    # 16 columns: 0-3 carry the label, 4-7 the group (fair_sbm's informative columns)
    return fair_sbm(num_nodes=600, seed=3)


def test_heterophilous_means_on_a_hand_made_graph():
    x = torch.tensor([[1., 0.], [3., 2.], [5., 4.], [7., 6.]])
    groups = torch.tensor([0, 1, 1, -1])
    # 0-1, 0-2, 1-2, 2-3, both directions
    edges = torch.tensor([[0, 1, 0, 2, 1, 2, 2, 3], [1, 0, 2, 0, 2, 1, 3, 2]])
    means, has = heterophilous_means(x, edges, groups)
    # node 0 (group 0): neighbours 1, 2 of group 1; nodes 1, 2: neighbour 0 only
    # (2's neighbour 3 is of unknown group); node 3: unknown group itself
    assert has.tolist() == [True, True, True, False]
    assert torch.equal(means, torch.tensor([[4., 3.], [1., 0.], [1., 0.], [0., 0.]]))


def test_the_channel_mask_samples_in_training_and_keeps_its_rates_in_evaluation():
    torch.manual_seed(0)
    mask = ChannelMask(5)
    x = torch.ones(3, 5)
    mask.eval()
    assert torch.allclose(mask(x), mask.keep_rates().expand(3, 5))
    assert torch.allclose(mask.keep_rates(), mask.logits.softmax(-1)[:, 0])
    mask.train()
    draws = torch.stack([mask(x)[0] for _ in range(4000)])
    assert not torch.equal(draws[0], draws[1])  # sampled
    # a Gumbel-softmax draw's mean is not its keep rate, but its order follows the logits
    order = torch.argsort(mask.keep_rates())
    assert torch.equal(torch.argsort(draws.mean(0)), order)


def test_fairvgnn_drops_the_planted_group_channels(planted):
    result = _fit(planted, 'fairvgnn', epochs=150, selection__rule='last')
    keep = result.model.encoder.input_layer.keep_rates().detach()
    label_columns, group_columns = keep[:4], keep[4:8]
    assert group_columns.mean() < label_columns.mean() - 0.15, keep
    # the clamp: no first-layer weight of a channel beyond clip x its keep rate
    weight = result.model.encoder.encoder.lins[0].weight
    assert bool((weight.abs() <= 0.1 * keep + 1e-6).all())


def _probe_auc(features: torch.Tensor, groups: torch.Tensor, train: torch.Tensor,
               test: torch.Tensor) -> float:
    probe = LogisticRegression(max_iter=2000).fit(features[train].numpy(),
                                                  groups[train].numpy())
    return roc_auc_score(groups[test].numpy(), probe.predict_proba(features[test].numpy())[:, 1])


def test_fairsin_neutralised_inputs_tell_less_of_the_group_to_a_probe(planted):
    torch.manual_seed(0)
    neutralizer = Neutralizer(planted.num_features, 32, delta=1.0)
    error = fit_neutralizer(neutralizer, planted, steps=300, lr=0.1, weight_decay=1e-3)
    targets, has = heterophilous_means(planted.x, planted.edge_index, planted.sens)
    assert error < float(((targets[has] - targets[has].mean(0)) ** 2).mean())  # it learned
    with torch.no_grad():
        neutral = neutralizer(planted.x)
    train, test = planted.train_mask, planted.test_mask
    before = _probe_auc(planted.x, planted.sens, train, test)
    after = _probe_auc(neutral, planted.sens, train, test)
    assert before > 0.75 and after < before - 0.05, (before, after)


def test_environment_risks_and_the_invariance_loss_by_hand():
    losses = torch.tensor([1., 3., 2., 6.])
    risks = environment_risks(losses, torch.tensor([0, 0, 2, 2]), 3)  # environment 1 empty
    assert risks.tolist() == [2., 4.]
    # sample variance of (2, 4) is 2; mean 3
    assert float(invariance_loss(risks, 0.5)) == pytest.approx(2 + 0.5 * 3)
    assert float(invariance_loss(torch.tensor([5.]), 2.0)) == 10.0


def test_irm_penalties_match_finite_differences():
    torch.manual_seed(0)
    logits, labels = torch.randn(20, dtype=torch.float64), torch.randint(0, 2, (20,))
    weights = torch.rand(20, 3, dtype=torch.float64).softmax(-1)

    def losses(scale):
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits * scale, labels.double(), reduction='none')

    got = irm_penalties(losses, weights).detach()
    h = 1e-6
    for e in range(3):
        def risk(w):
            return float((losses(torch.tensor(w, dtype=torch.float64)) * weights[:, e]).mean())
        derivative = (risk(1 + h) - risk(1 - h)) / (2 * h)
        assert float(got[e]) == pytest.approx(derivative ** 2, rel=1e-5)


def test_infer_partitions_separates_the_rows_a_reference_model_gets_wrong():
    torch.manual_seed(0)
    n = 200
    labels = torch.randint(0, 2, (n,))
    wrong = torch.zeros(n, dtype=torch.bool)
    wrong[:40] = True
    # confident and right on most rows, confident and wrong on the first 40
    logits = (2 * labels - 1).double() * 3.0
    logits[wrong] = -logits[wrong]
    features = torch.stack([wrong.double(), torch.randn(n, dtype=torch.float64)], 1)

    def losses(scale):
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits * scale, labels.double(), reduction='none')

    environment = infer_partitions(losses, features, 2, steps=300).argmax(-1)
    # the environments are the wrong rows and the right ones (in either order)
    assert len(torch.unique(environment[wrong])) == 1
    assert len(torch.unique(environment[~wrong])) == 1
    assert environment[0] != environment[-1]


def test_threshold_is_fairlearns_threshold_optimizer_on_the_vanilla_models_scores(planted):
    from fairlearn.postprocessing import ThresholdOptimizer
    from fairgnn_bilevel.postprocessing import _Scores
    from fairgnn_bilevel.metrics import binary_report
    vanilla = _fit(planted, 'vanilla', epochs=40)
    post = _fit(planted, 'threshold', epochs=40)
    # the same training: the post-processing comes after selection
    assert post.selected_epoch == vanilla.selected_epoch
    assert post.test['auc'] == vanilla.test['auc']
    post.model.eval()
    with torch.no_grad():
        scores = torch.sigmoid(post.model(planted.x, planted.edge_index)).view(-1).numpy()
    val, test = planted.val_mask.numpy(), planted.test_mask.numpy()
    y, s = planted.y.numpy(), planted.sens.numpy()
    oracle = ThresholdOptimizer(estimator=_Scores().fit(), constraints='demographic_parity',
                                prefit=True, predict_method='predict')
    oracle.fit(scores[val].reshape(-1, 1), y[val], sensitive_features=s[val])
    predictions = oracle.predict(scores[test].reshape(-1, 1), sensitive_features=s[test],
                                 random_state=post.decide.seed)
    assert np.array_equal(post.decide(scores[test], s[test]), predictions)
    report = binary_report(y[test], scores[test], sensitive_features=s[test],
                           y_pred=predictions)
    assert {k: report[k] for k in ('acc', 'auc', 'dp', 'eo')} == \
        {k: post.test[k] for k in ('acc', 'auc', 'dp', 'eo')}
    assert post.test['dp'] < vanilla.test['dp']
    assert vanilla.decide is None


@pytest.mark.parametrize('method', BASELINES)
def test_each_baseline_repeats_bit_for_bit_for_a_seed(method):
    data = fair_sbm(num_nodes=200, seed=1)
    short = {'fairsin': dict(neutralizer_steps=30),  # the set-up, shortened
             'fairinv': dict(reference_epochs=30, partition_steps=30)}.get(method, {})
    a, b = (_fit(data, method, epochs=5, seed=7, **short) for _ in range(2))
    assert a.test == b.test
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_the_baselines_are_refused_where_they_cannot_run():
    data = fair_sbm(num_nodes=200, seed=1)
    for method in ('fairvgnn', 'fairsin', 'fairinv'):
        with pytest.raises(ConfigError, match=f'train.method={method} trains on the full graph'):
            _fit(data, method, epochs=1, batch_size=32)
    with pytest.raises(ValueError, match='threshold post-processing is binary'):
        _fit(fair_sbm(num_nodes=300, num_classes=3, seed=1), 'threshold', epochs=2)

    class Plain(torch.nn.Module):  # no encoder to put a layer in front of
        def __init__(self):
            super().__init__()
            self.block = fb.FairnessBlock(16, 8)
            self.head = torch.nn.Linear(8, 1)

        def forward(self, x, edge_index):
            return self.head(self.block(x)).view(-1)

    for method in ('fairvgnn', 'fairsin'):
        with pytest.raises(ValueError, match=f'{method} learns a layer in front of the graph '
                                             'encoder, and Plain does not expose one'):
            _fit(data, method, model=Plain(), epochs=1)


def test_the_input_layer_encoder_equals_the_encoder_on_transformed_inputs():
    torch.manual_seed(0)
    data = fair_sbm(num_nodes=100, seed=2)
    encoder = fb.nn.GCNEncoder(16, 8)
    scale = torch.nn.Linear(16, 16)
    wrapped = InputLayerEncoder(scale, encoder)
    rows = torch.tensor([3, 1, 50])
    got = wrapped.encode_prepared(wrapped.prepare(data.x, data.edge_index), rows)
    want = encoder(scale(data.x), data.edge_index)[rows]
    assert torch.allclose(got, want, atol=1e-6)


def test_the_estimator_refuses_post_processing_it_would_not_apply():
    from fairgnn_bilevel.tabular.estimator import FairBiNNClassifier
    X, y = np.random.default_rng(0).normal(size=(60, 3)), np.arange(60) % 2
    with pytest.raises(ValueError, match="method='threshold' post-processes"):
        FairBiNNClassifier(method='threshold', epochs=1).fit(X, y,
                                                             sensitive_features=np.arange(60) % 3 == 0)


def test_a_frozen_input_layer_is_prepared_once_and_again_after_a_change():
    torch.manual_seed(0)
    data = fair_sbm(num_nodes=100, seed=2)
    scale = torch.nn.Linear(16, 16).requires_grad_(False)
    wrapped = InputLayerEncoder(scale, fb.nn.GCNEncoder(16, 8))
    prepared = wrapped.prepare(data.x, data.edge_index)
    first = wrapped.encode_prepared(prepared)
    cached = wrapped._frozen[1]
    assert torch.equal(wrapped.encode_prepared(prepared), first)
    assert wrapped._frozen[1] is cached  # prepared once
    with torch.no_grad():
        scale.weight.mul_(2)  # an in-place change of the layer: prepared anew
    again = wrapped.encode_prepared(prepared)
    assert wrapped._frozen[1] is not cached
    assert torch.allclose(again, wrapped.encoder(scale(data.x), data.edge_index), atol=1e-6)


@pytest.mark.parametrize('kind', ['gcn', 'gat'])
def test_a_learned_input_layer_reuses_the_graph_and_equals_the_encoder_on_its_output(kind):
    # the graph's part is prepared once; every call equals preparing the transformed
    # features from scratch, bit for bit, gradients into the layer included
    torch.manual_seed(0)
    data = fair_sbm(num_nodes=100, seed=2)
    encoder = fb.nn.ENCODERS[kind](16, 8, 2, 0.0, 1).eval()
    scale = torch.nn.Linear(16, 16)
    wrapped = InputLayerEncoder(scale, encoder)
    prepared = wrapped.prepare(data.x, data.edge_index)
    rows = torch.tensor([3, 1, 50])
    for _ in range(2):
        got = wrapped.encode_prepared(prepared, rows)
        want = encoder.encode_prepared(encoder.prepare(scale(data.x), data.edge_index), rows)
        assert torch.equal(got, want)
        weights = torch.randn_like(got)
        assert torch.equal(torch.autograd.grad((got * weights).sum(), scale.weight)[0],
                           torch.autograd.grad((want * weights).sum(), scale.weight)[0])
        graph = wrapped._graph[1]
        with torch.no_grad():
            scale.weight.mul_(1.5)  # the layer moves: the features' part is redone
    assert wrapped._graph[1] is graph  # the graph's part was not
    other = fair_sbm(num_nodes=80, seed=3)  # another graph: prepared anew
    got = wrapped.encode_prepared(wrapped.prepare(other.x, other.edge_index))
    assert torch.equal(got, encoder(scale(other.x), other.edge_index))
    assert wrapped._graph[1] is not graph
