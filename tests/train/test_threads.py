"""The automatic thread choice and the thread-count context."""
import subprocess
import sys

import pytest
import torch

from fairgnn_bilevel.train import threads
from fairgnn_bilevel.train.threads import LARGE_STEP, choose_threads, torch_threads

# Tiny fits (a few epochs, a few dozen nodes) select models that predict one class or rank
# at chance: the library's SelectionWarning about it is expected here and is not what these
# tests check (tests/test_api.py asserts it where it is).
pytestmark = pytest.mark.filterwarnings('ignore::fairgnn_bilevel.train.selection.SelectionWarning')



@pytest.fixture
def machine(monkeypatch):
    """A pretend machine: ``cores`` cores and ``others`` runnable threads elsewhere."""
    state = {'cores': 4, 'others': 0}
    monkeypatch.setattr(threads, 'available_cores', lambda: state['cores'])
    monkeypatch.setattr(threads, 'other_runnable', lambda: state['others'])
    return state


def test_explicit_counts_are_kept(machine):
    assert choose_threads(3, 1.0) == 3 and choose_threads(1, 1e12) == 1


def test_small_steps_use_one_thread(machine):
    assert choose_threads('auto', LARGE_STEP / 10) == 1


def test_large_steps_use_the_free_cores(machine):
    assert choose_threads('auto', LARGE_STEP * 10) == 4
    machine['others'] = 1
    assert choose_threads('auto', LARGE_STEP * 10) == 3
    machine['others'] = 9
    assert choose_threads('auto', LARGE_STEP * 10) == 1


def test_busy_loop_is_seen():
    loop = subprocess.Popen([sys.executable, '-c', 'while True: pass'])
    try:
        import time
        time.sleep(0.3)
        assert threads.other_runnable() >= 1
    finally:
        loop.kill()
        loop.wait()


def test_context_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(1) as count:
        assert count == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_fit_records_and_restores_its_threads(graph):
    import fairgnn_bilevel as fb
    before = torch.get_num_threads()
    assert fb.fit(graph, epochs=2, threads=1, progress=False).threads == 1
    assert fb.fit(graph, epochs=2, threads='auto', progress=False).threads == 1  # tiny
    # by default a library call trains with the caller's count, untouched
    torch.set_num_threads(2)
    try:
        assert fb.fit(graph, epochs=2, progress=False).threads == 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
