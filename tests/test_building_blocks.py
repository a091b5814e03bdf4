"""The building blocks' contracts in loops the library did not write: ownership of the
follower's module, any module as the follower, the split model, inputs named, mixed
precision, data parallel done right and done wrong, one order of intersectional groups."""
import copy
import functools

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

import fairgnn_bilevel as fb
from fairgnn_bilevel.metrics import demographic_parity_difference, intersections
from tests.conftest import ROOT, spawn, tiny_graph

pytestmark = pytest.mark.filterwarnings(
    'ignore::fairgnn_bilevel.train.selection.SelectionWarning')


class Split(torch.nn.Module):
    """Linear encoder → ``block`` → linear head, split at the block."""

    def __init__(self, block=None, features=5, hidden=8):
        super().__init__()
        self.encoder = torch.nn.Linear(features, hidden)
        self.block = fb.FairnessBlock(hidden) if block is None else block
        self.head = torch.nn.Linear(hidden, 1)

    def encode(self, x, edge_index=None):
        return self.encoder(x).relu()

    def decode(self, hidden):
        return self.head(self.block(hidden)).view(-1)


# -- ownership ----------------------------------------------------------------------------

def test_release_hands_the_block_back_as_it_was():
    model = Split()
    model.block.lins[0].bias.requires_grad_(False)  # the caller froze one of them
    before = [p.requires_grad for p in model.parameters()]
    follower = fb.UnrolledFollower(model, fb.DemographicParityLoss())
    assert not any(p.requires_grad for p in model.block.parameters())
    follower.release()
    assert [p.requires_grad for p in model.parameters()] == before
    with pytest.raises(RuntimeError, match='was released'):
        follower.respond(torch.randn(4, 8), model.decode, torch.tensor([0, 1, 0, 1]))
    with fb.FirstOrderFollower(model, fb.DemographicParityLoss()):  # free for another
        assert not model.block.lins[0].weight.requires_grad
    assert [p.requires_grad for p in model.parameters()] == before


def test_a_second_follower_on_the_same_module_is_refused():
    model = Split()
    first = fb.UnrolledFollower(model, fb.DemographicParityLoss())
    with pytest.raises(ValueError, match='already has a follower'):
        fb.FirstOrderFollower(model.block, fb.DemographicParityLoss())
    first.release()
    fb.FirstOrderFollower(model.block, fb.DemographicParityLoss()).release()


def test_a_failing_runner_leaves_the_users_block_trainable(monkeypatch):
    from fairgnn_bilevel.train import strategies
    from tests.conftest import UserGNN
    model = UserGNN()

    def broken(*args, **kwargs):
        raise RuntimeError('optimizer construction failed')
    monkeypatch.setattr(strategies, '_adam', broken)
    with pytest.raises(RuntimeError, match='optimizer construction failed'):
        fb.fit(tiny_graph(features=3), model=model, epochs=1, progress=False)
    assert all(p.requires_grad for p in model.parameters())


def test_fit_hands_the_block_back_after_training():
    from tests.conftest import UserGNN
    model = UserGNN()
    fb.fit(tiny_graph(features=3), model=model, epochs=2, progress=False)
    assert all(p.requires_grad for p in model.parameters())
    fb.UnrolledFollower(model, fb.DemographicParityLoss())  # the module is free again


# -- any module as the follower ---------------------------------------------------------

def _own_loop(model, follower, data, steps=15):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train = data.train_mask
    for _ in range(steps):
        optimizer.zero_grad()
        hidden = model.encode(data.x)[train]
        logits = follower.respond(hidden, model.decode, data.sens[train])
        F.binary_cross_entropy_with_logits(logits, data.y[train].float()).backward()
        optimizer.step()


@pytest.mark.parametrize('make_block', [
    lambda: torch.nn.LayerNorm(8),
    lambda: torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh()),
    lambda: __import__('torch_geometric').nn.MLP([8, 8, 8]),
], ids=['layernorm', 'sequential', 'pyg-mlp'])
@pytest.mark.parametrize('cls', [fb.UnrolledFollower, fb.FirstOrderFollower])
def test_any_module_can_be_the_follower(make_block, cls):
    torch.manual_seed(0)
    data = tiny_graph(n=80)
    model = Split(block=make_block())
    block_before = copy.deepcopy(model.block.state_dict())
    head_before = model.head.weight.detach().clone()
    follower = cls(model.block, fb.DemographicParityLoss(), eta=50.0)
    assert {id(p) for p in follower.params} == {id(p) for p in model.block.parameters()}
    _own_loop(model, follower, data)
    moved = any(not torch.equal(v, block_before[k]) for k, v in model.block.state_dict().items())
    assert moved and not torch.equal(model.head.weight, head_before)  # both players moved


def test_a_gatconv_block_follows_on_a_graph():
    from torch_geometric.nn import GATConv, GCNConv
    torch.manual_seed(0)
    data = tiny_graph(n=80)
    conv, block, head = GCNConv(5, 8), GATConv(8, 8), torch.nn.Linear(8, 1)
    follower = fb.UnrolledFollower(block, fb.DemographicParityLoss(), eta=50.0)
    optimizer = torch.optim.Adam([*conv.parameters(), *head.parameters()], lr=1e-2)
    before = copy.deepcopy(block.state_dict())
    for _ in range(5):
        optimizer.zero_grad()
        hidden = conv(data.x, data.edge_index).relu()
        logits = follower.respond(hidden, lambda h: head(block(h, data.edge_index)).view(-1),
                                  data.sens[data.train_mask], rows=data.train_mask)
        F.binary_cross_entropy_with_logits(logits[data.train_mask],
                                           data.y[data.train_mask].float()).backward()
        optimizer.step()
    assert any(not torch.equal(v, before[k]) for k, v in block.state_dict().items())


def test_a_decode_that_misses_the_followers_module_is_refused():
    model = Split()
    follower = fb.UnrolledFollower(model.block, fb.DemographicParityLoss())
    with pytest.raises(ValueError, match=r"decode never calls the follower's module "
                                         r'\(FairnessBlock\)'):
        follower.respond(torch.randn(4, 8, requires_grad=True),
                         lambda h: model.head(h).view(-1), torch.tensor([0, 1, 0, 1]))


def test_first_order_follower_spells_out_its_arguments():
    import inspect
    parameters = inspect.signature(fb.FirstOrderFollower.__init__).parameters
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    follower = fb.FirstOrderFollower(Split(), fb.DemographicParityLoss(), lr=1e-3,
                                     betas=(0.5, 0.9))
    group = follower.optimizer.param_groups[0]
    assert group['lr'] == 1e-3 and group['betas'] == (0.5, 0.9) and not group['fused']


# -- the library's model fits the README loop -------------------------------------------

def test_fairbinngnn_encode_and_decode_are_the_readme_split():
    data = tiny_graph(n=60)
    model = fb.FairBiNNGNN(data.num_features, 16)
    hidden = model.encode(data.x, data.edge_index)
    assert hidden.shape == (data.num_nodes, 16)
    torch.testing.assert_close(model.decode(hidden), model(data.x, data.edge_index))
    follower = fb.UnrolledFollower(model, fb.DemographicParityLoss(), eta=50.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    block_before = model.fairness_block.lins[0].weight.detach().clone()
    for _ in range(3):  # the README's loop, verbatim in shape
        optimizer.zero_grad()
        hidden = model.encode(data.x, data.edge_index)[data.train_mask]
        logits = follower.respond(hidden, model.decode, data.sens[data.train_mask])
        F.binary_cross_entropy_with_logits(logits, data.y[data.train_mask].float()).backward()
        optimizer.step()
    assert not torch.equal(model.fairness_block.lins[0].weight, block_before)


# -- wrong inputs are named -------------------------------------------------------------

@pytest.mark.parametrize('sensitive,message', [
    (torch.tensor([0, 1, 0, 1]).bool(), r'sensitive must be a tensor of integer group ids.*'
                                        r'got torch.bool'),
    (torch.tensor([0., 1., 0., 1.]), 'got torch.float32'),
    (torch.tensor([0, 1, 0]), r'sensitive must have shape \[4\]'),
    (torch.tensor([0, 1, -1, 1]), r'sensitive holds negative ids \(1 rows; -1 marks an unknown'),
])
def test_bad_sensitive_is_named_by_losses_and_followers(sensitive, message):
    logits = torch.randn(4, requires_grad=True)
    with pytest.raises(ValueError, match=message):
        fb.DemographicParityLoss()(logits, sensitive)
    with pytest.raises(ValueError, match=message):
        fb.EqualOpportunityLoss()(logits, sensitive, torch.tensor([1, 1, 0, 1]))
    model = Split()
    for cls in (fb.UnrolledFollower, fb.FirstOrderFollower):
        with cls(model, fb.DemographicParityLoss()) as follower, \
                pytest.raises(ValueError, match=message):
            follower.respond(model.encode(torch.randn(4, 5)), model.decode, sensitive)


def test_groups_beyond_num_groups_and_labels_of_another_length_are_named():
    logits = torch.randn(4)
    with pytest.raises(ValueError, match='holds group 2, but num_groups is 2'):
        fb.DemographicParityLoss(reduce=fb.all_reduce_sum, num_groups=2)(
            logits, torch.tensor([0, 1, 2, 1]))
    with pytest.raises(ValueError, match=r'labels must have shape \[4\]'):
        fb.EqualOpportunityLoss()(logits, torch.tensor([0, 1, 0, 1]), torch.tensor([1, 0]))


# -- mixed precision ---------------------------------------------------------------------

def _graph_rows(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    sens = torch.randint(0, 2, (n,), generator=g)
    logits = torch.randn(n, generator=g) + 0.8 * sens
    return logits, sens


@pytest.mark.parametrize('loss', [fb.DemographicParityLoss(), fb.EqualOpportunityLoss()])
def test_losses_under_bfloat16_autocast_match_float32(loss):
    logits, sens = _graph_rows()
    labels = (torch.rand(len(sens), generator=torch.Generator().manual_seed(1)) < 0.5).long()
    weight = torch.randn(4, 1, generator=torch.Generator().manual_seed(2))
    features = torch.randn(len(sens), 4, generator=torch.Generator().manual_seed(3)) + \
        logits[:, None]
    w32 = weight.clone().requires_grad_()
    exact = loss((features @ w32).view(-1), sens, labels)
    (grad32,) = torch.autograd.grad(exact, w32)
    exact = exact.detach()
    w16 = weight.clone().requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        mixed = loss(F.linear(features, w16.t()).view(-1), sens, labels)
    (grad16,) = torch.autograd.grad(mixed, w16)
    mixed = mixed.detach()
    # bfloat16 logits carry ~3 significant digits: the loss and its gradient within 5 %
    assert abs(mixed.item() - exact.item()) <= 0.05 * exact.item()
    torch.testing.assert_close(grad16, grad32, rtol=0.05, atol=0.05 * float(grad32.abs().max()))
    assert mixed.dtype == torch.float32


@pytest.mark.parametrize('cls', [fb.UnrolledFollower, fb.FirstOrderFollower])
def test_followers_move_under_bfloat16_as_in_float32(cls):
    from graph_data import fair_sbm
    data = fair_sbm(num_nodes=2000, num_features=5, informative=2)
    torch.manual_seed(0)
    exact, mixed = Split(), None
    mixed = copy.deepcopy(exact)
    moves = {}
    for name, model, autocast in (('exact', exact, False), ('mixed', mixed, True)):
        follower = cls(model, fb.DemographicParityLoss(), eta=50.0)
        before = model.block.lins[0].weight.detach().clone()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            follower.respond(model.encode(data.x), model.decode, data.sens)
        moves[name] = model.block.lins[0].weight.detach() - before
    cosine = F.cosine_similarity(moves['exact'].view(-1), moves['mixed'].view(-1), dim=0)
    assert float(cosine) > 0.95  # the same direction: towards fairness


def test_a_bfloat16_loop_with_gradscaler_clipping_and_a_scheduler_lowers_dp():
    import sys
    from graph_data import fair_sbm
    sys.path.insert(0, str(ROOT / 'examples'))
    from own_loop import FairGCN  # PyG's GCN, a block and a head, split at the block

    data = fair_sbm(num_nodes=600, seed=3)
    train = data.train_mask
    gaps = {}
    for fair in (False, True):
        torch.manual_seed(0)
        model = FairGCN(16, 32)
        follower = fb.UnrolledFollower(model, fb.DemographicParityLoss(), eta=300.0) \
            if fair else None
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=60)
        scaler = torch.amp.GradScaler('cpu')
        for _ in range(60):
            optimizer.zero_grad()
            with torch.autocast('cpu', dtype=torch.bfloat16):
                hidden = model.encode(data.x, data.edge_index)[train]
                logits = follower.respond(hidden, model.decode, data.sens[train]) if fair \
                    else model.decode(hidden)
                loss = F.binary_cross_entropy_with_logits(logits.float(), data.y[train].float())
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
        with torch.no_grad():
            predicted = (model(data.x, data.edge_index) > 0).long()
        test = data.test_mask
        gaps[fair] = demographic_parity_difference(data.y[test], predicted[test],
                                                   sensitive_features=data.sens[test])
    assert gaps[True] <= 0.7 * gaps[False], gaps


# -- one order of intersectional groups --------------------------------------------------

def test_intersections_have_one_numeric_order_everywhere():
    from fairgnn_bilevel.tabular import FairBiNNClassifier
    data = tiny_graph(n=240)
    rng = np.random.default_rng(0)
    second = torch.from_numpy(rng.choice([2, 10], data.num_nodes))
    data.sens = torch.stack([data.sens * 10 + 2, second], 1)  # values 2 and 12; 2 and 10
    groups, names = fb.intersect_groups(data.sens)
    want = [(2, 2), (2, 10), (12, 2), (12, 10)]  # by number: 10 after 2
    assert names == want
    assert intersections(data.sens.numpy())[1] == want
    result = fb.fit(data, method='vanilla', epochs=1, progress=False)
    assert result.group_names == want
    X = data.x.numpy()
    estimator = FairBiNNClassifier(epochs=1, hidden=8).fit(
        X, data.y.numpy(), sensitive_features=data.sens.numpy())
    assert [tuple(g) for g in estimator.groups_] == want


# -- data parallel ------------------------------------------------------------------------

def _rank(rank, world, out, mode):
    from torch.nn.parallel import DistributedDataParallel
    data = tiny_graph(n=120, dtype=torch.float64)
    torch.manual_seed(0)
    model = Split().double()
    group = dist.new_group([0, 1]) if mode == 'subgroup' else None
    reduce = functools.partial(fb.all_reduce_sum, group=group)
    loss = fb.DemographicParityLoss(reduce=reduce, num_groups=2)  # the loss only
    follower = fb.UnrolledFollower(model, loss, eta=30.0)
    rows = data.train_mask.nonzero().view(-1)
    mine = torch.tensor_split(rows, world)[rank]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    if mode == 'outside':
        try:
            follower.respond(model.encode(data.x[mine]), model.decode, data.sens[mine])
        except RuntimeError as error:
            torch.save(str(error), out.format(rank))
        return
    ddp = DistributedDataParallel(fb.FairForward(model, follower))
    for _ in range(6):
        optimizer.zero_grad()
        logits = ddp(data.x, None, data.sens[mine], rows=mine)
        F.binary_cross_entropy_with_logits(logits, data.y[mine].double(),
                                           reduction='sum').mul(world / len(rows)).backward()
        optimizer.step()
    torch.save(model.state_dict(), out.format(rank))


@pytest.mark.parametrize('mode', ['default', 'subgroup'])
def test_two_ranks_with_reduce_on_the_loss_only_keep_identical_blocks(tmp_path, mode):
    out = str(tmp_path / 'rank{}.pt')
    spawn(_rank, args=(2, out, mode), nprocs=2, init_file=str(tmp_path / 'init'))
    ranks = [torch.load(out.format(r), weights_only=True) for r in range(2)]
    one_out = str(tmp_path / 'one{}.pt')
    spawn(_rank, args=(1, one_out, 'default'), nprocs=1, init_file=str(tmp_path / 'init1'))
    one = torch.load(one_out.format(0), weights_only=True)
    for name, value in ranks[0].items():
        torch.testing.assert_close(ranks[1][name], value, atol=0, rtol=0, msg=name)
        torch.testing.assert_close(value, one[name], atol=1e-6, rtol=0, msg=name)


def test_a_reducing_follower_outside_a_ddp_forward_is_refused(tmp_path):
    out = str(tmp_path / 'rank{}.txt')
    spawn(_rank, args=(2, out, 'outside'), nprocs=2, init_file=str(tmp_path / 'init'))
    for rank in range(2):
        assert 'outside the forward of a DistributedDataParallel module' in torch.load(
            out.format(rank), weights_only=True)


def test_a_follower_reduce_other_than_the_losss_is_refused():
    loss = fb.DemographicParityLoss(reduce=fb.all_reduce_sum, num_groups=2)
    with pytest.raises(ValueError, match="reduce differs from the loss's"):
        fb.UnrolledFollower(Split(), loss, reduce=lambda t: t)
    fb.UnrolledFollower(Split(), loss, reduce=fb.all_reduce_sum).release()  # the same: fine
    same = functools.partial(fb.all_reduce_sum, group=None)
    fb.UnrolledFollower(Split(), fb.DemographicParityLoss(reduce=same, num_groups=2),
                        reduce=functools.partial(fb.all_reduce_sum, group=None)).release()
