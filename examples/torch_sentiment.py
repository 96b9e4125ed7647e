"""The sentiment model of sentiment.cpp in PyTorch; its torch.save files load into ag (see README).

    /usr/bin/python3 examples/torch_sentiment.py model.pt opt.pt   # 200 Adam steps, then saves
    build/examples/sentiment predict --model model.pt 优优良
    build/examples/sentiment train --resume model.pt --resume-optimizer opt.pt
"""
import sys

import torch
from torch import nn

VOCAB, SCORE = ["<pad>", "优", "良", "差"], torch.tensor([0, 2, 1, -2])


class SentimentModel(nn.Module):
    """Embedding(4, dim, padding_idx=0) -> mean over the non-padding words -> Linear(dim, 2)."""

    def __init__(self, dim=16):
        super().__init__()
        self.emb, self.fc = nn.Embedding(len(VOCAB), dim, padding_idx=0), nn.Linear(dim, 2)

    def forward(self, tokens):  # tokens [B, S] -> logits [B, 2]
        mask = (tokens != 0).float().unsqueeze(-1)
        return self.fc((self.emb(tokens) * mask).sum(1) / mask.sum(1))


def make_batch(batch=32, seq=6):
    """Random reviews of 1 to `seq` words, padded with 0; positive when the scores add up to > 0."""
    lens = torch.randint(1, seq + 1, (batch,))
    tokens = torch.randint(1, len(VOCAB), (batch, seq)) * (torch.arange(seq)[None] < lens[:, None])
    return tokens, (SCORE[tokens].sum(1) > 0).long()


def train_and_save(model_path="model.pt", opt_path="opt.pt", steps=200):
    torch.manual_seed(0)
    model = SentimentModel()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(steps):
        tokens, labels = make_batch()
        opt.zero_grad()
        nn.functional.cross_entropy(model(tokens), labels).backward()
        opt.step()
    torch.save(model.state_dict(), model_path)
    torch.save(opt.state_dict(), opt_path)


if __name__ == "__main__":
    train_and_save(*sys.argv[1:3])
