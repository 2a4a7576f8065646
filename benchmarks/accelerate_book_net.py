"""fastgrad.accelerate on the book's chapter-4 TwoLayerNet as a reader types it, 784-50-10,
batch 100 of the MNIST data fastgrad.datasets.load_mnist finds (the offline sample without
the IDX files): the book's numerical gradient (timed on 200 sampled parameters and scaled
up) against the accelerated one (best of 50), their difference on the sample, and the
book's ch04 train_neuralnet.py loop (10,000 iterations, batch 100, lr 0.1, test accuracy
every epoch) with one added line, network = fastgrad.accelerate(network).

Run it alone on the machine: python benchmarks/accelerate_book_net.py
"""

import time

import numpy as np

import fastgrad
from fastgrad.datasets import load_mnist

H = 1e-4


class TwoLayerNet:
    """Chapter 4's network, as a reader types it (one-hot targets)."""

    def __init__(self, rng, i, h, o, std=0.01):
        self.params = {
            "W1": std * rng.standard_normal((i, h)),
            "b1": np.zeros(h),
            "W2": std * rng.standard_normal((h, o)),
            "b2": np.zeros(o),
        }

    def predict(self, x):
        p = self.params
        z1 = 1 / (1 + np.exp(-(np.dot(x, p["W1"]) + p["b1"])))
        a2 = np.dot(z1, p["W2"]) + p["b2"]
        e = np.exp(a2 - a2.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def loss(self, x, t):
        y = self.predict(x)
        labels = t.argmax(axis=1)
        return -np.sum(np.log(y[np.arange(y.shape[0]), labels] + 1e-7)) / y.shape[0]


def book_subset(net, x, t, picks):
    """The book's central difference of the sampled parameters, and seconds per parameter."""
    out = {}
    start = time.perf_counter()
    for key, idx in picks:
        a = net.params[key]
        v = a[idx]
        a[idx] = v + H
        fp = net.loss(x, t)
        a[idx] = v - H
        fm = net.loss(x, t)
        a[idx] = v
        out[(key, idx)] = (fp - fm) / (2 * H)
    return out, (time.perf_counter() - start) / len(picks)


def one_gradient(xtr, ttr):
    net = TwoLayerNet(np.random.default_rng(0), 784, 50, 10)
    x, t = xtr[:100], ttr[:100]
    rng = np.random.default_rng(1)
    picks = [
        (k, tuple(int(rng.integers(0, s)) for s in net.params[k].shape))
        for k in ("W1", "b1", "W2", "b2")
        for _ in range(50)
    ]
    book, per = book_subset(net, x, t, picks)
    book_s = per * sum(p.size for p in net.params.values())
    fast = fastgrad.accelerate(net)
    g = fast.numerical_gradient(x, t)
    diff = max(abs(g[k][idx] - book[(k, idx)]) for k, idx in picks)
    best = np.inf
    for _ in range(50):
        start = time.perf_counter()
        fast.numerical_gradient(x, t)
        best = min(best, time.perf_counter() - start)
    print(
        f"the book's numerical gradient {book_s:.2f} s* (200 parameters, scaled); "
        f"accelerate {best * 1e3:.2f} ms (best of 50): {book_s / best:,.0f}x; "
        f"max |difference| on the 200: {diff:.2e}"
    )
    net.params["W2"] -= 0.1 * g["W2"]  # the reader's update, in place
    moved = np.abs(fast.numerical_gradient(x, t)["W2"] - g["W2"]).max() > 0
    print(f"params shared: {fast.params['W1'] is net.params['W1']}, next gradient moved: {moved}")


def train_neuralnet(xtr, ttr, xte, tte):
    rng = np.random.default_rng(0)
    network = fastgrad.accelerate(TwoLayerNet(rng, 784, 50, 10))
    iters, batch, lr = 10000, 100, 0.1
    epoch = max(xtr.shape[0] // batch, 1)
    start = time.perf_counter()
    for i in range(iters):
        m = rng.choice(xtr.shape[0], batch)
        grad = network.numerical_gradient(xtr[m], ttr[m])
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= lr * grad[key]
        if i % epoch == 0:
            network.accuracy(xte, tte)  # the book evaluates every epoch
    wall = time.perf_counter() - start
    print(
        f"train_neuralnet.py with accelerate: {iters:,} iterations in {wall:.1f} s on "
        f"{xtr.shape[0]:,} training images, test accuracy {network.accuracy(xte, tte):.4f}"
    )


def main() -> None:
    (xtr, ttr), (xte, tte) = load_mnist(normalize=True, one_hot_label=True)
    one_gradient(xtr, ttr)
    train_neuralnet(xtr, ttr, xte, tte)


if __name__ == "__main__":
    main()
