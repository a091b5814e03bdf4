"""The shared loop: epochs, the fairness-weight schedule, selection of the final model."""
import torch

from fairgnn_bilevel.train.loop import run_epochs
from fairgnn_bilevel.train.selection import SelectionRule


def test_loop_schedules_the_fairness_weight():
    class Recorder:
        model = torch.nn.Linear(1, 1)
        scales = []

        def train_epoch(self, strategy, fairness_scale):
            self.scales.append(fairness_scale)
            return {'task_loss': 0.0}

        def evaluate(self, split):
            return {'acc': 0.5, 'auc': 0.5, 'dp': 0.0, 'eo': 0.0}

    class Strategy:
        def end_epoch(self):
            return {}

    task = Recorder()
    run_epochs(task, Strategy(), epochs=6, rule=SelectionRule('last'), fairness_warmup=4,
               progress=False)
    assert task.scales == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
