"""The paper's graph table, reproduced on both splits."""
import json

from fairgnn_bilevel.reproduce import paper_rows, run_reproduce
from tests.conftest import ROOT, shared_dataset


def test_reproduce_nba_table_has_both_splits_and_paper_rows(tmp_path):
    root = shared_dataset('nba')
    text = run_reproduce('nba', str(root), 1, tmp_path, config_dir=ROOT / 'configs',
                         overrides=['train.epochs=3'], progress=False, log=lambda s: None)
    assert 'validation = test: selection saw test labels' in text
    assert 'disjoint train/val/test' in text
    assert '| GAT+FairBiNN (paper) | 5 | 77.09 ± 0.45' in text
    assert text.count('| GCN (vanilla) | 1 |') == 2
    assert 'GCN + FairBiNN (ours) − GCN (vanilla) ΔDP: ' in text   # paired, one seed here
    assert 'GCN + FairBiNN (ours) − GCN + Lagrangian (λ=10) ACC: ' in text
    runs = json.loads((tmp_path / 'results.json').read_text())
    assert len(runs) == 8 and {r['split'] for r in runs} == {'fairgnn', 'stratified'}
    assert all(r['val_is_test'] == (r['split'] == 'fairgnn') for r in runs)
    assert paper_rows('pokec_z')[0]['acc'] == [70.97, 0.16]
