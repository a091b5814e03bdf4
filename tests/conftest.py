import datetime
import faulthandler
import functools
import gc
import http.server
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

from graph_data.splits import stratified_split


def tiny_graph(n: int = 40, features: int = 5, seed: int = 0, dtype=torch.float32,
               edges_per_node: float = 3.0, classes: int = 2, groups: int = 2) -> Data:
    """A small random graph with labels correlated with the sensitive group."""
    g = torch.Generator().manual_seed(seed)
    sens = torch.randint(0, groups, (n,), generator=g)
    if classes == 2:
        y = ((torch.rand(n, generator=g) + 0.3 * sens) > 0.6).long()
    else:  # group s shifts a third of its nodes' labels by s
        y = (torch.randint(0, classes, (n,), generator=g)
             + sens * (torch.rand(n, generator=g) < 0.3)) % classes
    x = torch.randn(n, features, generator=g, dtype=dtype) + sens[:, None].to(dtype)
    edge_index = torch.randint(0, n, (2, int(edges_per_node * n)), generator=g)
    edge_index = torch.cat([edge_index, edge_index.flip(0)], 1)
    train, val, test = stratified_split(y, sens, seed=seed)
    return Data(x=x, edge_index=edge_index, y=y, sens=sens, train_mask=train, val_mask=val,
                test_mask=test)


ROOT = Path(__file__).resolve().parents[1]  # the checkout
SHARED_DATA = ROOT.parent / 'shared' / 'data'


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    # processed datasets go to a per-test cache, never to the user's ~/.cache
    monkeypatch.setenv('FAIRGNN_BILEVEL_CACHE', str(tmp_path / 'cache'))


def shared_dataset(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f'{path} is absent: the shared raw data lives beside the project checkout')
    return path


@pytest.fixture
def graph() -> Data:
    return tiny_graph()


def write_fairgnn_files(folder: Path, nodes_file: str = 'nba.csv',
                        edges_file: str = 'nba_relationship.txt', *, label: str = 'SALARY',
                        sens: str = 'country', n: int = 120, seed: int = 0) -> Path:
    """A small graph in the FairGNN raw format (node CSV + edge list) written to ``folder``."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({'user_id': rng.choice(10**6, n, replace=False),
                          label: rng.choice([-1, 0, 1], n, p=[0.1, 0.45, 0.45]),
                          sens: rng.integers(0, 2, n), 'AGE': rng.integers(20, 40, n),
                          'PTS': rng.normal(10, 3, n).round(2)})
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / nodes_file, index=False)
    ids = frame['user_id'].to_numpy()
    pairs = rng.integers(0, n, (3 * n, 2))
    np.savetxt(folder / edges_file, np.stack([ids[pairs[:, 0]], ids[pairs[:, 1]]], 1),
               fmt='%d', delimiter='\t')
    return folder


@pytest.fixture
def fairgnn_files():
    """Writer of small FairGNN-format raw files (see :func:`write_fairgnn_files`)."""
    return write_fairgnn_files


class UserGNN(torch.nn.Module):
    """A GNN a user wrote, with our block dropped in (three input features)."""

    def __init__(self):
        super().__init__()
        from torch_geometric.nn import GCNConv

        from fairgnn_bilevel import FairnessBlock
        self.conv = GCNConv(3, 8)
        self.fair = FairnessBlock(8)
        self.out = torch.nn.Linear(8, 1)

    def forward(self, x, edge_index):
        return self.out(self.fair(self.conv(x, edge_index).relu())).view(-1)


def toy_table(n=600, groups=2, seed=0):
    """A table whose label leans on a strong proxy of the group (column 0)."""
    import numpy as np

    from fairgnn_bilevel.tabular import TabularData
    rng = np.random.default_rng(seed)
    sens = rng.integers(0, groups, n)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    X[:, 0] += 2 * sens                                   # a strong proxy of the group
    y = (X[:, 1] + sens + 0.5 * rng.normal(size=n) > 0.5).astype(np.int64)
    part = {'train': slice(0, n // 2), 'val': slice(n // 2, 3 * n // 4), 'test': slice(3 * n // 4, n)}
    return TabularData(X={k: X[v] for k, v in part.items()}, y={k: y[v] for k, v in part.items()},
                       sens={k: sens[v] for k, v in part.items()},
                       feature_names=[f'f{i}' for i in range(5)],
                       group_names=[str(g) for g in range(groups)])


# the first columns of FairGNN's region_job.csv
COLUMNS = ['user_id', 'public', 'completion_percentage', 'gender', 'region', 'AGE',
           'I_am_working_in_field', 'spoken_languages_indicator', 'anglicky', 'nemecky',
           'rusky', 'francuzsky', 'spanielsky', 'taliansky', 'slovensky', 'japonsky']


def write_pokec(folder, stem='region_job', n=300, seed=0, edges=None, frame_edit=None):
    """Pokec-format raw files (node CSV + edge list) of ``n`` random users in ``folder``."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.integers(0, 2, n) for c in COLUMNS})
    frame['user_id'] = rng.choice(10**9, n, replace=False)
    frame['AGE'] = rng.integers(16, 60, n)
    frame['completion_percentage'] = rng.integers(0, 100, n)
    frame['I_am_working_in_field'] = rng.choice([-1, 0, 1, 2, 3], n)  # -1 unlabelled, >1 -> 1
    frame['region'] = rng.choice([0, 1], n)
    if frame_edit is not None:
        frame = frame_edit(frame)
    frame.to_csv(folder / f'{stem}.csv', index=False)
    if edges is None:
        ids = frame['user_id'].to_numpy()
        pairs = rng.integers(0, n, (4 * n, 2))
        edges = np.stack([ids[pairs[:, 0]], ids[pairs[:, 1]]], 1)
    np.savetxt(folder / f'{stem}_relationship.txt', edges, fmt='%d', delimiter='\t')
    return frame, edges


@pytest.fixture
def file_server(tmp_path):
    """A local HTTP server of the folder it yields, with the base URL."""
    served = tmp_path / 'served'
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()  # the listening socket, else a ResourceWarning
    thread.join()


def follower_gradients(follower) -> list:
    """A list that collects the gradients a first-order follower's Adam steps on, one
    entry per step (the follower clears them after it has played)."""
    captured = []
    step = follower.optimizer.step

    def spy(*args, **kwargs):
        captured.append([p.grad.clone() for p in follower.params])
        return step(*args, **kwargs)
    follower.optimizer.step = spy
    return captured


SPAWN_DEADLINE_S = 600.0  # a test's processes, start to finish; the slowest takes about 60 s


def _in_process_group(rank, fn, world, init_file, deadline_s, *args):
    # a process still running near the deadline prints where it waits before it is killed
    faulthandler.dump_traceback_later(max(deadline_s - 30, 1), exit=False)
    # as in the suite: a warning from the project's own code fails, in these processes too
    warnings.filterwarnings('error', module=r'(fairgnn_bilevel|graph_data|tests)(\.|$)')
    torch.set_num_threads(1)
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world,
                            timeout=datetime.timedelta(seconds=deadline_s / 2))
    try:
        # fn's objects are freed as it returns, here, while the group still lives: a
        # DistributedDataParallel freed after destroy_process_group can hang in its reducer
        fn(rank, *args)
        gc.collect()  # cyclic garbage (a DDP's reducer) is freed here too, not after
        # no rank tears the group down while another still uses it (without this, gloo's
        # teardown hung once in the floor environment)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def spawn(fn, args=(), nprocs: int = 1, *, init_file: str,
          deadline_s: float = SPAWN_DEADLINE_S) -> None:
    """``mp.spawn(fn, args, nprocs)``, one thread per process, each process in a gloo group
    of ``nprocs`` rendezvousing at ``init_file``, with a deadline:
    processes that hang (a group that never forms, a collective one rank skipped) fail the
    test, with their stacks, instead of holding the suite until CI's limit."""
    import torch.multiprocessing as mp
    context = mp.start_processes(_in_process_group,
                                 args=(fn, nprocs, init_file, deadline_s, *args),
                                 nprocs=nprocs, join=False, start_method='spawn')
    stop = time.monotonic() + deadline_s
    while not context.join(timeout=max(stop - time.monotonic(), 0.0) + 0.1):
        if time.monotonic() >= stop:
            for process in context.processes:
                process.kill()
            pytest.fail(f'{fn.__name__}: {nprocs} process(es) still running after '
                        f'{deadline_s:.0f} s (their stacks are in the captured stderr)')
