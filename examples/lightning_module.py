"""FairBiNN in a PyTorch Lightning ``LightningModule``, with automatic optimisation.

``training_step`` lets the follower play, then returns the leader's task loss; Lightning
does the backward and the optimiser step.  The follower moves once per ``training_step``:
keep ``accumulate_grad_batches=1`` (with ``k`` it would move ``k`` times per leader step).
Each epoch ends with exact validation metrics in the library's archive, and the epoch is
selected with its rule.  The follower's and the archive's state go into Lightning's
checkpoints, so a run resumed from one selects exactly as an uninterrupted run.  Prints
vanilla against fair test ACC and ΔDP on the library's synthetic graph (mean over seeds).
Needs ``pip install lightning``.

    python examples/lightning_module.py --seeds 3
"""
import argparse
import logging

import lightning as L
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCN

import fairgnn_bilevel as fb
from graph_data import fair_sbm


class FairGCN(torch.nn.Module):
    """PyG's two-layer GCN → FairnessBlock → linear head, split at the block."""

    def __init__(self, in_channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.encoder = GCN(in_channels, hidden, num_layers=2)
        self.block = fb.FairnessBlock(hidden)
        self.head = torch.nn.Linear(hidden, 1)

    def encode(self, x, edge_index):
        return self.encoder(x, edge_index).relu()

    def decode(self, hidden):
        return self.head(self.block(hidden)).view(-1)

    def forward(self, x, edge_index):
        return self.decode(self.encode(x, edge_index))


class FairNodeClassifier(L.LightningModule):
    def __init__(self, data, fair: bool, eta: float = 100.0) -> None:
        super().__init__()
        self.data, self.archive = data, fb.ParetoArchive(fb.SelectionRule('tolerance'))
        self.model = FairGCN(data.num_features)
        self.follower = fb.UnrolledFollower(self.model, fb.DemographicParityLoss(), eta=eta,
                                            step_size=1e-2) if fair else None

    def training_step(self, data, batch_idx):
        train = data.train_mask
        hidden = self.model.encode(data.x, data.edge_index)[train]
        if self.follower is not None:
            logits = self.follower.respond(hidden, self.model.decode, data.sens[train])
        else:
            logits = self.model.decode(hidden)
        return F.binary_cross_entropy_with_logits(logits, data.y[train].float())

    def on_train_epoch_end(self):
        record = {'epoch': self.current_epoch + 1,
                  **fb.evaluate(self.model, self.data, self.data.val_mask)}
        self.archive.add(record, self.model.state_dict())

    def selected_model(self):
        """The model at the epoch the archive's rule selects on validation, and that epoch."""
        record, state = self.archive.best()
        self.model.load_state_dict(state)
        return self.model, record['epoch']

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2, weight_decay=1e-5)

    def on_save_checkpoint(self, checkpoint):
        checkpoint['archive'] = self.archive.state_dict()
        if self.follower is not None:
            checkpoint['follower'] = self.follower.state_dict()

    def on_load_checkpoint(self, checkpoint):
        self.archive.load_state_dict(checkpoint['archive'])
        if self.follower is not None:
            self.follower.load_state_dict(checkpoint['follower'])


def train(data, *, fair: bool, seed: int, epochs: int = 200, checkpoint=None,
          resume: bool = False):
    """Test metrics of the selected model, and its epoch.  ``checkpoint``: a file written
    when training ends; ``resume``: first continue from it."""
    L.seed_everything(seed, verbose=False)
    module = FairNodeClassifier(data, fair)
    trainer = L.Trainer(max_epochs=epochs, accelerator='cpu', logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    # one full-graph batch per epoch
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(
        [data], batch_size=None, num_workers=0), ckpt_path=checkpoint if resume else None)
    if checkpoint is not None:
        trainer.save_checkpoint(checkpoint)
    model, epoch = module.selected_model()
    return fb.evaluate(model, data, data.test_mask), epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--epochs', type=int, default=200)
    args = parser.parse_args()
    logging.getLogger('lightning.pytorch').setLevel(logging.ERROR)
    torch.set_num_threads(1)
    data = fair_sbm()
    for fair in (False, True):
        runs = [train(data, fair=fair, seed=s, epochs=args.epochs)[0]
                for s in range(args.seeds)]
        acc = sum(r['acc'] for r in runs) / len(runs)
        dp = sum(r['dp'] for r in runs) / len(runs)
        print(f"{'fair' if fair else 'vanilla'}: test ACC {100 * acc:.2f}  ΔDP {100 * dp:.2f}")


if __name__ == '__main__':
    main()
