"""Several classes and several sensitive attributes through the runner (fit, evaluate,
the CLI's results), checked against metrics recomputed from the returned model."""
import json

import pytest
import torch
from fairlearn import metrics as fl

import fairgnn_bilevel as fb
from fairgnn_bilevel.train.graph import intersect_groups
from tests.conftest import tiny_graph

pytestmark = pytest.mark.filterwarnings('ignore::fairgnn_bilevel.train.selection.SelectionWarning')


def three_class_graph(**options):
    return tiny_graph(n=240, classes=3, groups=3, **options)


@pytest.mark.parametrize('method', ['vanilla', 'lagrangian', 'bilevel', 'bilevel_first_order',
                                    'reference'])
def test_fit_three_classes_reports_the_returned_models_metrics(method):
    data = three_class_graph()
    result = fb.fit(data, method=method, epochs=5, progress=False, selection__rule='last')
    assert result.model.head.out_features == 3
    # the test figures are those of the returned model, recomputed with fairlearn per class
    with torch.no_grad():
        result.model.eval()
        logits = result.model(data.x, data.edge_index)[data.test_mask]
    y, s = data.y[data.test_mask].numpy(), data.sens[data.test_mask].numpy()
    pred = logits.argmax(1).numpy()
    assert result.test['acc'] == pytest.approx(float((pred == y).mean()), abs=1e-12)
    assert result.test['dp'] == pytest.approx(max(
        fl.demographic_parity_difference(y == c, pred == c, sensitive_features=s)
        for c in range(3)), abs=1e-12)
    assert result.test['eo'] == pytest.approx(max(
        fl.equal_opportunity_difference(y == c, pred == c, sensitive_features=s)
        for c in range(3)), abs=1e-12)
    assert set(result.test) == {'acc', 'auc', 'dp', 'eo', 'f1', 'top_class_rate'}
    assert fb.evaluate(result.model, data, data.test_mask) == result.test


def test_fit_three_classes_repeats_for_a_seed():
    first = fb.fit(three_class_graph(), epochs=4, progress=False, seed=3)
    again = fb.fit(three_class_graph(), epochs=4, progress=False, seed=3)
    for a, b in zip(first.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)


def test_several_attributes_form_intersectional_groups():
    data = tiny_graph(n=400, groups=2)
    second = torch.Generator().manual_seed(7)
    data.sens = torch.stack([data.sens, torch.randint(0, 2, (400,), generator=second)], 1)
    groups, names = intersect_groups(data.sens)
    assert names == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert torch.equal(groups, 2 * data.sens[:, 0] + data.sens[:, 1])
    result = fb.fit(data, epochs=3, progress=False, selection__rule='last')
    assert result.group_names == names
    with torch.no_grad():
        result.model.eval()
        prob = torch.sigmoid(result.model(data.x, data.edge_index))[data.test_mask]
    pred = (prob > 0.5).long().numpy()
    columns = data.sens[data.test_mask].numpy()  # fairlearn forms the intersections itself
    assert result.test['dp'] == pytest.approx(fl.demographic_parity_difference(
        data.y[data.test_mask].numpy(), pred, sensitive_features=columns), abs=1e-12)
    # an unknown attribute (-1) makes the node's group unknown
    partly = data.sens.clone()
    partly[0, 1] = -1
    assert intersect_groups(partly)[0][0] == -1


def test_an_intersection_too_small_to_measure_is_named_by_its_values():
    data = tiny_graph(n=400, groups=2)
    second = torch.zeros(400, dtype=torch.long)
    second[data.sens == 1] = 1
    rare = ((data.sens == 1) & data.test_mask).nonzero().view(-1)[:1]
    second[rare] = 0  # (1, 0): a single node, in test
    data.sens = torch.stack([data.sens, second], 1)
    with pytest.raises(ValueError, match=r'test_mask: sensitive group\(s\) \[\(1, 0\)\] have '
                                         'fewer than 2 rows'):
        fb.fit(data, epochs=1, progress=False)


def test_fairgnn_refuses_several_classes_and_groups():
    with pytest.raises(ValueError, match='train.method=fairgnn takes two classes and two '
                                         'groups .* 3 classes and 3 groups; use bilevel'):
        fb.fit(three_class_graph(), method='fairgnn', epochs=1, progress=False)


def test_a_model_with_the_wrong_number_of_classes_is_refused():
    data = three_class_graph()
    model = fb.FairBiNNGNN(data.num_features, 8)
    with pytest.raises(ValueError, match='FairBiNNGNN has num_classes=2 but the labels have 3 '
                                         'classes; build it with num_classes=3'):
        fb.fit(data, model=model, epochs=1, progress=False)


def test_a_user_model_returns_one_logit_per_class():
    data = three_class_graph()

    class Own(torch.nn.Module):
        def __init__(self, classes):
            super().__init__()
            self.block = fb.FairnessBlock(data.num_features, 8)
            self.out = torch.nn.Linear(8, classes)

        def forward(self, x, edge_index):
            return self.out(self.block(x))

    torch.manual_seed(0)
    result = fb.fit(data, model=Own(3), method='bilevel', epochs=3, progress=False)
    assert 'top_class_rate' in result.test
    with pytest.raises(ValueError, match=r"returned \(240, 4\); the graph's labels have 3 "
                                         r'classes, so the model must return one logit per '
                                         r'class, shape \[240, 3\]'):
        fb.fit(data, model=Own(4), epochs=1, progress=False)


def test_cli_records_the_multiclass_run(tmp_path):
    from fairgnn_bilevel.cli import main
    out = tmp_path / 'run'
    assert main(['train', '--config', 'configs/synthetic_multiclass.yaml', '--out', str(out),
                 '--set', 'train.epochs=3', '--set', 'data.synthetic.num_nodes=600',
                 '--no-progress']) == 0
    run = json.loads((out / 'results.json').read_text())[0]
    assert set(run['test']) == {'acc', 'auc', 'dp', 'eo', 'f1', 'top_class_rate'}
    assert run['config']['data']['synthetic']['num_classes'] == 3


def test_labels_beyond_the_classes_of_a_split_are_refused_naming_the_class():
    data = three_class_graph()
    data.y[data.val_mask & (data.y == 2)] = 1  # validation holds no class 2 any more
    with pytest.raises(ValueError, match=r'val_mask holds no row of class\(es\) \[2\]'):
        fb.fit(data, epochs=1, progress=False)
