#!/usr/bin/env python3
"""The workloads of bench/README.md in PyTorch, single-threaded, for comparing with ag_bench.

    /usr/bin/python3 bench/torch_workloads.py [--threads N] [sentiment|mlp|embedding|embedding_sparse|embedding_sparse_1m|overhead|gradient_penalty|batch1 ...]

Needs PyTorch (Debian: apt-get install python3-torch). A measuring stick only: nothing in ag
depends on it. Prints one JSON line per workload with ag_bench's keys.
"""
import json
import os
import sys
import time

# --threads N, like ag_bench's: N threads instead of one.
THREADS = 1
if sys.argv[1:2] == ["--threads"] and len(sys.argv) > 2:
    THREADS = int(sys.argv[2])
    del sys.argv[1:3]
    os.environ["OPENBLAS_NUM_THREADS"] = str(THREADS)

# Debian's PyTorch runs its GEMMs in the system OpenBLAS, whose thread pool torch.set_num_threads
# does not size: pin it before torch loads it, or the "single-threaded" mlp uses both cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(THREADS)
SCORES = torch.tensor([0, 2, 1, -2])  # <pad>, 优, 良, 差


def sentiment_batch(gen, batch, seq):
    lens = torch.randint(1, seq + 1, (batch,), generator=gen)
    tokens = torch.randint(1, 4, (batch, seq), generator=gen)
    tokens = tokens * (torch.arange(seq)[None, :] < lens[:, None])
    return tokens, (SCORES[tokens].sum(1) > 0).long()


class Sentiment(nn.Module):
    def __init__(self, vocab=4, dim=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.fc = nn.Linear(dim, 2)

    def forward(self, tokens):
        e = self.emb(tokens)                          # [B, S, D]
        m = (tokens != 0).float().unsqueeze(-1)       # [B, S, 1]
        return self.fc((e * m).sum(1) / m.sum(1))     # [B, 2]


def train_sentiment(model, opt, data, steps):
    """`steps` training steps over the batches, cycled; returns the last loss."""
    for i in range(steps):
        tokens, labels = data[i % len(data)]
        opt.zero_grad()
        loss = F.cross_entropy(model(tokens), labels)
        loss.backward()
        opt.step()
    return loss


def sentiment(steps=2000):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    data = [sentiment_batch(gen, 32, 6) for _ in range(64)]
    model = Sentiment()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    start = time.perf_counter()
    loss = train_sentiment(model, opt, data, steps)
    elapsed = time.perf_counter() - start
    tokens, labels = sentiment_batch(gen, 1000, 6)
    with torch.no_grad():
        accuracy = (model(tokens).argmax(1) == labels).float().mean().item()
    return {"workload": "sentiment", "steps_per_s": steps / elapsed, "loss": loss.item(), "accuracy": accuracy}


def mlp(steps=100, batch=128):
    torch.manual_seed(0)
    x, y = torch.randn(batch, 784), torch.randint(0, 10, (batch,))
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    elapsed = time.perf_counter() - start
    flops = 3 * 2 * batch * (784 * 512 + 512 * 512 + 512 * 10)
    return {"workload": "mlp", "steps_per_s": steps / elapsed, "gflops": flops * steps / elapsed / 1e9,
            "loss": loss.item()}


def embedding(steps=50):
    torch.manual_seed(0)
    tokens, y = torch.randint(0, 50000, (256, 16)), torch.randint(0, 2, (256,))
    emb, fc = nn.Embedding(50000, 64), nn.Linear(64, 2)
    opt = torch.optim.Adam(list(emb.parameters()) + list(fc.parameters()), lr=1e-3)
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(fc(emb(tokens).mean(1)), y)
        loss.backward()
        opt.step()
    return {"workload": "embedding", "steps_per_s": steps / (time.perf_counter() - start), "loss": loss.item()}


def embedding_sparse(vocab=50000, name="embedding_sparse", warmup=10, steps=200):
    torch.manual_seed(0)
    tokens, y = torch.randint(0, vocab, (256, 16)), torch.randint(0, 2, (256,))
    emb, fc = nn.Embedding(vocab, 64, sparse=True), nn.Linear(64, 2)
    sparse_opt = torch.optim.SparseAdam(list(emb.parameters()), lr=1e-3)
    dense_opt = torch.optim.Adam(list(fc.parameters()), lr=1e-3)

    def step():
        sparse_opt.zero_grad()
        dense_opt.zero_grad()
        loss = F.cross_entropy(fc(emb(tokens).mean(1)), y)
        loss.backward()
        sparse_opt.step()
        dense_opt.step()
        return loss

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    elapsed = time.perf_counter() - start
    return {"workload": name, "vocab": vocab, "steps_per_s": steps / elapsed, "us_per_step": elapsed / steps * 1e6,
            "loss": loss.item()}


def overhead(reps=200, chain=100):
    x = torch.randn(2, 5, requires_grad=True)
    start = time.perf_counter()
    for _ in range(reps):
        y = x
        for _ in range(chain // 2):
            y = y * 0.999 + 0.001
        y.sum().backward()
    return {"workload": "overhead", "us_per_op": (time.perf_counter() - start) / (reps * chain) * 1e6}


def gradient_penalty(warmup=5, steps=500):
    """loss = mean(out) + 10 * mean((|d sum(out) / dx|_2 - 1)^2): the input gradient taken with
    create_graph, then the whole loss differentiated again."""
    torch.manual_seed(0)
    x = torch.randn(64, 16, requires_grad=True)
    model = nn.Sequential(nn.Linear(16, 64), nn.Tanh(), nn.Linear(64, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        out = model(x)
        (dx,) = torch.autograd.grad(out.sum(), x, retain_graph=True, create_graph=True)
        penalty = ((dx.pow(2).sum(1) + 1e-12).sqrt() - 1).pow(2).mean()
        loss = out.mean() + 10 * penalty
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    elapsed = time.perf_counter() - start
    return {"workload": "gradient_penalty", "steps_per_s": steps / elapsed, "us_per_step": elapsed / steps * 1e6,
            "loss": loss.item()}


def batch1(steps=20000, predictions=100000):
    """The sentiment model one sequence of 6 tokens at a time: training steps, then predictions."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    data = [sentiment_batch(gen, 1, 6) for _ in range(64)]
    model = Sentiment()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    train_sentiment(model, opt, data, 100)  # warm-up
    start = time.perf_counter()
    loss = train_sentiment(model, opt, data, steps)
    step_us = (time.perf_counter() - start) / steps * 1e6
    checksum = 0.0
    with torch.no_grad():
        start = time.perf_counter()
        for i in range(predictions):
            logits = model(data[i % 64][0])
            if i % 1024 == 0:
                checksum += logits[0, 0].item()
        predict_us = (time.perf_counter() - start) / predictions * 1e6
    return {"workload": "batch1", "us_per_step": step_us, "us_per_prediction": predict_us, "loss": loss.item(),
            "checksum": checksum}


WORKLOADS = {"sentiment": sentiment, "mlp": mlp, "embedding": embedding, "embedding_sparse": embedding_sparse,
             "embedding_sparse_1m": lambda: embedding_sparse(1000000, "embedding_sparse_1m"), "overhead": overhead,
             "gradient_penalty": gradient_penalty, "batch1": batch1}

if __name__ == "__main__":
    for name in sys.argv[1:] or WORKLOADS:
        print(json.dumps({**WORKLOADS[name](), "threads": THREADS}), flush=True)
