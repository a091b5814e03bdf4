"""GAT forward + backward time: PyG's scatter-based ``GAT`` against the library's
``GATEncoder`` (same function and parameters, attention sum as a CSR product), side by side.

Both models hold the same weights and run round-robin in one process on one thread
(``--threads``), so machine noise hits both alike; the printed ratio is the figure.

    python benchmarks/gat_encoder.py                        # NBA- and Pokec-sized graphs
    python benchmarks/gat_encoder.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {'nba': (403, 95, 52.7), 'pokec': (67796, 266, 17.7)}  # nodes, features, degree


def main() -> None:
    from torch_geometric.nn import GAT

    from fairgnn_bilevel.nn import GATEncoder
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--graphs', nargs='+', default=list(SIZES), choices=list(SIZES))
    parser.add_argument('--hidden', type=int, default=128)
    parser.add_argument('--rounds', type=int, default=10)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--json', type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name in args.graphs:
        nodes, features, degree = SIZES[name]
        torch.manual_seed(0)
        x = torch.randn(nodes, features)
        edge_index = torch.randint(0, nodes, (2, int(nodes * degree)))
        pyg = GAT(features, args.hidden, 2, dropout=0.5)
        ours = GATEncoder(features, args.hidden, 2, dropout=0.5)
        ours.convs.load_state_dict(pyg.convs.state_dict())
        prepared = ours.prepare(x, edge_index)
        steps = {'pyg_gat': lambda: pyg(x, edge_index).relu().sum().backward(),
                 'gat_encoder': lambda: ours.encode_prepared(prepared).sum().backward()}
        times = {key: [] for key in steps}
        for round_ in range(args.rounds + 1):
            for key, step in steps.items():
                start = time.perf_counter()
                step()
                if round_:  # the first round warms up
                    times[key].append(time.perf_counter() - start)
        median = {key: statistics.median(values) for key, values in times.items()}
        results[name] = {'nodes': nodes, 'edges': edge_index.size(1),
                         **{f'{key}_seconds': value for key, value in median.items()},
                         'speedup': median['pyg_gat'] / median['gat_encoder']}
        print(f'{name}: {nodes} nodes, {edge_index.size(1)} edges, forward + backward: '
              f'PyG GAT {1000 * median["pyg_gat"]:.1f} ms, GATEncoder '
              f'{1000 * median["gat_encoder"]:.1f} ms ({results[name]["speedup"]:.1f}x)')
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + '\n')


if __name__ == '__main__':
    main()
