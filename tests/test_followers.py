"""The follower's moves in a user's own loop: equal to the runner's step, owner of its block,
checkpointable, and exact on a hand-computed step."""
import copy

import pytest
import torch
import torch.nn.functional as F

import fairgnn_bilevel as fb
from fairgnn_bilevel.followers import FirstOrderFollower, UnrolledFollower
from tests.conftest import follower_gradients, tiny_graph


class SplitGNN(torch.nn.Module):
    """A user's model: GCN layers → FairnessBlock → head, split at the block."""

    def __init__(self, features: int, hidden: int = 8) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv
        self.conv = GCNConv(features, hidden)
        self.block = fb.FairnessBlock(hidden)
        self.head = torch.nn.Linear(hidden, 1)

    def encode(self, x, edge_index):
        return self.conv(x, edge_index).relu()

    def decode(self, hidden):
        return self.head(self.block(hidden)).view(-1)

    def forward(self, x, edge_index):
        return self.decode(self.encode(x, edge_index))


def _own_loop(model, data, follower, steps, lr=1e-2):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    train = data.train_mask
    for _ in range(steps):
        optimizer.zero_grad()
        hidden = model.encode(data.x, data.edge_index)[train]
        logits = follower.respond(hidden, model.decode, data.sens[train])
        F.binary_cross_entropy_with_logits(logits, data.y[train].double()).backward()
        optimizer.step()


@pytest.mark.parametrize('method', ['bilevel', 'bilevel_first_order'])
def test_own_loop_equals_the_library_fit(method):
    data = tiny_graph(n=60, dtype=torch.float64)
    torch.manual_seed(3)
    model = SplitGNN(data.num_features).double()
    mine = copy.deepcopy(model)
    start = copy.deepcopy(model.state_dict())
    fb.fit(data, method=method, model=model, epochs=10, eta=20.0, progress=False,
           selection__rule='last')
    follower = UnrolledFollower(mine, fb.DemographicParityLoss(), eta=20.0, step_size=1e-2) \
        if method == 'bilevel' else FirstOrderFollower(mine, fb.DemographicParityLoss(),
                                                       eta=20.0, lr=1e-2)
    _own_loop(mine, data, follower, steps=10)
    moved = 0.0
    for name, value in model.state_dict().items():
        torch.testing.assert_close(mine.state_dict()[name], value, atol=1e-6, rtol=0, msg=name)
        moved = max(moved, float((value - start[name]).abs().max()))
    assert moved > 1e-3  # both trained: equality is not two untouched copies


def test_unrolled_step_by_hand():
    """One follower step and the leader's gradient through it, written out for a block of
    one unit: z_i = v·relu(w·h_i + b), h_i = a·x_i, φ = (mean_{s=0} σ(z) − mean_{s=1}
    σ(z))², (w', b') = (w, b) − α η ∇φ; the leader's gradient of f(a, w'(a), b'(a))."""
    x = torch.tensor([[1.0], [2.0], [-0.5], [1.5]], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    s = torch.tensor([0, 0, 1, 1])
    encoder = torch.nn.Linear(1, 1, bias=False).double()
    block = fb.FairnessBlock(1).double()
    head = torch.nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        encoder.weight.fill_(0.7)
        block.lins[0].weight.fill_(1.3)
        block.lins[0].bias.fill_(0.0)
        head.weight.fill_(0.9)
    model = torch.nn.ModuleDict({'encoder': encoder, 'block': block, 'head': head})
    alpha, eta = 0.5, 3.0
    follower = UnrolledFollower(model, fb.DemographicParityLoss(), eta=eta, step_size=alpha)
    logits = follower.respond(encoder(x), lambda h: head(block(h)).view(-1), s)
    F.binary_cross_entropy_with_logits(logits, y).backward()

    def outer(a):  # the same quantities written out with plain tensors
        w = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)

        def z(w_, b_):
            return 0.9 * torch.relu(w_ * a * x.view(-1) + b_)
        p = torch.sigmoid(z(w, b))
        phi = (p[:2].mean() - p[2:].mean()) ** 2
        g_w, g_b = torch.autograd.grad(eta * phi, (w, b), create_graph=True)
        w_new, b_new = w - alpha * g_w, b - alpha * g_b
        return F.binary_cross_entropy_with_logits(z(w_new, b_new), y), w_new

    a = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    f, w_new = outer(a)
    (want,) = torch.autograd.grad(f, a)
    assert float(block.lins[0].weight) == pytest.approx(float(w_new.detach()), abs=1e-12)
    assert float(encoder.weight.grad) == pytest.approx(float(want), abs=1e-12)
    h = 1e-6  # and both agree with a central difference of f(a, w'(a))
    numeric = (outer(torch.tensor(0.7 + h, dtype=torch.float64))[0].detach()
               - outer(torch.tensor(0.7 - h, dtype=torch.float64))[0].detach()) / (2 * h)
    assert float(want) == pytest.approx(float(numeric), rel=1e-6)


def test_the_follower_owns_its_block():
    data = tiny_graph(n=60)
    torch.manual_seed(0)
    model = SplitGNN(data.num_features)
    follower = UnrolledFollower(model, fb.DemographicParityLoss(), eta=50.0, step_size=1e-1)
    assert all(not p.requires_grad for p in fb.follower_parameters(model))
    block_before = copy.deepcopy(model.block.state_dict())
    # an optimiser over every parameter: the leader's step must leave the block alone
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    optimizer.zero_grad()
    hidden = model.encode(data.x, data.edge_index)
    logits = follower.respond(hidden, model.decode, data.sens)
    after_follower = copy.deepcopy(model.block.state_dict())
    F.binary_cross_entropy_with_logits(logits, data.y.float()).backward()
    assert all(p.grad is None for p in fb.follower_parameters(model))
    optimizer.step()
    for name, value in model.block.state_dict().items():
        assert torch.equal(value, after_follower[name])          # the leader did not move it
        assert not torch.equal(value, block_before[name])        # the follower did
    assert model.conv.lin.weight.grad is not None


def test_first_order_checkpoint_resumes_bit_for_bit(tmp_path):
    """Stopping after 3 steps, saving model, leader optimiser and follower, and resuming in
    fresh objects gives the same parameters as 6 steps in one go."""
    data = tiny_graph(n=60)

    def build():
        torch.manual_seed(0)
        model = SplitGNN(data.num_features)
        follower = FirstOrderFollower(model, fb.DemographicParityLoss(), eta=30.0, lr=1e-2)
        return model, follower, torch.optim.Adam(model.parameters(), lr=1e-2)

    def steps(model, follower, optimizer, count):
        for _ in range(count):
            optimizer.zero_grad()
            logits = follower.respond(model.encode(data.x, data.edge_index), model.decode,
                                      data.sens)
            F.binary_cross_entropy_with_logits(logits, data.y.float()).backward()
            optimizer.step()

    whole = build()
    steps(*whole, 6)
    first = build()
    steps(*first, 3)
    path = tmp_path / 'checkpoint.pt'
    torch.save({'model': first[0].state_dict(), 'follower': first[1].state_dict(),
                'optimizer': first[2].state_dict()}, path)
    saved = torch.load(path, weights_only=True)
    assert saved['follower']['optimizer']['state']  # the follower's Adam moments
    resumed = build()
    resumed[0].load_state_dict(saved['model'])
    resumed[1].load_state_dict(saved['follower'])
    resumed[2].load_state_dict(saved['optimizer'])
    steps(*resumed, 3)
    for name, value in whole[0].state_dict().items():
        assert torch.equal(resumed[0].state_dict()[name], value), name
    without = build()  # and the follower's Adam state matters: dropping it changes the block
    without[0].load_state_dict(saved['model'])
    without[2].load_state_dict(saved['optimizer'])
    steps(*without, 3)
    assert not torch.equal(without[0].block.lins[0].weight, whole[0].block.lins[0].weight)


def test_rows_and_labels_select_what_the_fairness_loss_sees():
    data = tiny_graph(n=60, dtype=torch.float64)
    torch.manual_seed(0)
    model = SplitGNN(data.num_features).double()
    twin = copy.deepcopy(model)
    rows = torch.arange(0, 60, 2)
    follower = FirstOrderFollower(model, fb.EqualOpportunityLoss(), eta=10.0, lr=1e-2)
    hidden = model.encode(data.x, data.edge_index)
    stepped_on = follower_gradients(follower)
    follower.respond(hidden, model.decode, data.sens[rows], data.y[rows], rows=rows)
    logits = twin(data.x, data.edge_index)[rows]
    phi = 10.0 * fb.losses.equal_opportunity_loss(logits, data.sens[rows], data.y[rows])
    want = torch.autograd.grad(phi, fb.follower_parameters(twin))
    for got, grad in zip(stepped_on[0], want):
        torch.testing.assert_close(got, grad)
    with pytest.raises(ValueError, match='EqualOpportunityLoss needs the labels'):
        follower.respond(hidden, model.decode, data.sens[rows], rows=rows)


def test_a_module_without_parameters_is_refused():
    with pytest.raises(ValueError, match='ReLU has no parameters for the follower to own'):
        UnrolledFollower(torch.nn.ReLU(), fb.DemographicParityLoss())
    with pytest.raises(ValueError, match='steps must be >= 1'):
        FirstOrderFollower(SplitGNN(3), fb.DemographicParityLoss(), steps=0)
