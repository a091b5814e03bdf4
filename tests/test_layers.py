"""The layers import only downwards: core → training → engine and config → faces."""
import ast

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / 'fairgnn_bilevel'
CORE = ['nn', 'losses.py', 'followers.py', 'collectives.py', 'metrics.py', 'bound.py',
        'partitions.py', 'postprocessing.py', 'tabular/datasets.py']
TRAINING = ['train']
ABOVE_CORE = {'train', 'config', 'engine', 'api', 'cli', 'experiment', 'reproduce', 'sweep',
              'report', 'plot', 'fairlearn_reference', 'tabular.estimator', 'statistics'}
ABOVE_TRAINING = ABOVE_CORE - {'train', 'statistics'}


def _files(parts):
    for part in parts:
        path = PACKAGE / part
        yield from (sorted(path.rglob('*.py')) if path.is_dir() else [path])


def _imported(path):
    """Modules of the package that ``path`` imports, as dotted names below the package."""
    module = '.'.join(path.relative_to(PACKAGE).with_suffix('').parts)
    package = module.split('.')[:-1]  # an __init__'s module name ends in '__init__'
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                name = '.'.join(base + ([node.module] if node.module else []))
            elif (node.module or '').startswith('fairgnn_bilevel'):
                name = node.module[len('fairgnn_bilevel.'):]
            else:
                continue
            yield from ([f'{name}.{a.name}'.strip('.') for a in node.names] + [name])
        elif isinstance(node, ast.Import):
            yield from (a.name[len('fairgnn_bilevel.'):] for a in node.names
                        if a.name.startswith('fairgnn_bilevel.'))


def _violations(parts, above):
    found = []
    for path in _files(parts):
        for name in set(_imported(path)):
            if any(name == a or name.startswith(a + '.') for a in above):
                found.append(f'{path.relative_to(PACKAGE)} imports {name}')
    return sorted(found)


@pytest.mark.parametrize('parts,above', [(CORE, ABOVE_CORE), (TRAINING, ABOVE_TRAINING)],
                         ids=['core', 'training'])
def test_no_layer_imports_upwards(parts, above):
    assert _violations(parts, above) == []


def test_the_check_sees_an_upward_import():
    assert 'config' in set(_imported(PACKAGE / 'engine.py'))  # the parser reads imports
    assert _violations(['engine.py'], {'config'})
