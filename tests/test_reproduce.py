"""The paper's graph table, reproduced on both splits."""
import json

from fairgnn_bilevel import reproduce
from fairgnn_bilevel.reproduce import paper_rows, run_reproduce
from tests.conftest import ROOT, shared_dataset


def test_reproduce_nba_table_has_both_splits_and_paper_rows(tmp_path, monkeypatch):
    root = shared_dataset('nba')
    # FairGNN's rows train for the epochs of its scripts: shortened here like every row
    monkeypatch.setitem(reproduce.FAIRGNN_SCRIPTS, 'nba', {'gcn': (10, 1, 3), 'gat': (10, 0.01, 3)})
    text = run_reproduce('nba', str(root), 1, tmp_path, config_dir=ROOT / 'configs',
                         overrides=['train.epochs=3'], progress=False, log=lambda s: None)
    assert 'validation = test: selection saw test labels' in text
    assert 'disjoint train/val/test' in text
    assert text.count('| GCN (vanilla) | 1 |') == 4        # 2 splits × 2 feature settings
    assert text.count('| FairGCN (ours) | 1 |') == 4
    assert text.count('| FairGAT (ours) | 1 |') == 4
    # each paper row in the section of the feature setting it used
    sections = text.split('### ')
    with_sens = next(s for s in sections if s.startswith('nba, split `fairgnn`, sensitive '
                                                         'attribute in the features'))
    without = next(s for s in sections if s.startswith('nba, split `fairgnn`, sensitive '
                                                       'attribute not in'))
    assert '| GAT+FairBiNN (paper) | 5 | 77.09 ± 0.45' in with_sens
    assert '| FairGCN (paper) | 5 | 71.10 ± 1.00' in without
    assert '| FairGAT (paper) | 5 | 71.50 | 77.50 | 0.70 | 0.70 |' in without
    assert 'FairGCN (paper)' not in with_sens and 'GAT+FairBiNN (paper)' not in without
    assert 'GCN + FairBiNN (ours) − GCN (vanilla) ΔDP: ' in text   # paired, one seed here
    assert 'GCN + FairBiNN (ours) − FairGCN (ours) ACC: ' in text
    runs = json.loads((tmp_path / 'results.json').read_text())
    assert len(runs) == 24 and {r['split'] for r in runs} == {'fairgnn', 'stratified'}
    assert {(r['split'], r['sens_in_features']) for r in runs} == {
        (s, f) for s in ('fairgnn', 'stratified') for f in (False, True)}
    assert all(r['val_is_test'] == (r['split'] == 'fairgnn') for r in runs)
    fairgnn_runs = [r for r in runs if r['row'] == 'FairGAT (ours)']
    assert all(r['method'] == 'fairgnn' and r['config']['model']['encoder'] == 'gat'
               and r['config']['train']['beta'] == 0.01
               and r['config']['train']['leader_lr'] == 1e-3 for r in fairgnn_runs)
    assert paper_rows('pokec_z')[0]['acc'] == [70.97, 0.16]
