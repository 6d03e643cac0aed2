# Cells of handout.ipynb that come from this assignment (see [notebook] in assignment.toml):
# section 7 of the handout, run on the student's conv_naive.py, maxpool.py, layernorm.py and
# dropout.py.

# %% [markdown]
# ### Section 7 in this notebook
#
# The cells below are the `train.py` of section 7, cut into steps. Each reads your files again,
# so re-run them after an edit. The numbers to expect are the ones section 7 gives.

# %%
import numpy as np
from IPython.display import display

from handgrad import Solver
from handgrad.data import digits
from handgrad.grading.notebook import skip_if_stubbed, student_module
from handgrad.layers import affine, relu
from handgrad.losses import softmax_cross_entropy
from handgrad.plots import training_figure


class TinyConvNet:
    """conv 3x3 (16 filters, pad 1) - relu - max pool 2x2 - affine - softmax, on 1x8x8 images,
    with the conv and pool modules it is given."""

    def __init__(self, conv, pool, filters=16, num_classes=10, seed=0):
        self.conv, self.pool = conv, pool
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": rng.normal(0.0, np.sqrt(2.0 / 9), (filters, 1, 3, 3)),
            "b1": np.zeros(filters),
            "W2": rng.normal(0.0, np.sqrt(2.0 / (filters * 16)), (filters * 16, num_classes)),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        p = self.params
        x = X.reshape(-1, 1, 8, 8)
        a, cache_a = self.conv.forward(x, p["W1"], p["b1"], stride=1, pad=1)
        r, cache_r = relu.forward(a)
        m, cache_m = self.pool.forward(r, size=2, stride=2)
        scores, cache_s = affine.forward(m, p["W2"], p["b2"])
        if y is None:
            return scores
        loss, cache_l = softmax_cross_entropy.forward(scores, y)
        grads = {}
        dscores = softmax_cross_entropy.backward(1.0, cache_l)
        dm, grads["W2"], grads["b2"] = affine.backward(dscores, cache_s)
        dr = self.pool.backward(dm, cache_m)
        da = relu.backward(dr, cache_r)
        _, grads["W1"], grads["b1"] = self.conv.backward(da, cache_a)
        return loss, grads


class LayerNormDropoutNet:
    """affine - layernorm - relu - dropout - affine - softmax, with the layernorm and dropout
    modules it is given; dropout keeps units with probability keep_prob in train mode."""

    def __init__(self, layernorm, dropout, keep_prob=0.5, input_dim=64, hidden_dim=100,
                 num_classes=10, seed=0):
        self.layernorm, self.dropout, self.keep_prob = layernorm, dropout, keep_prob
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": rng.normal(0.0, np.sqrt(2.0 / input_dim), (input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "gamma1": np.ones(hidden_dim),
            "beta1": np.zeros(hidden_dim),
            "W2": rng.normal(0.0, np.sqrt(2.0 / hidden_dim), (hidden_dim, num_classes)),
            "b2": np.zeros(num_classes),
        }
        self.rng = np.random.default_rng(seed + 1)   # the dropout masks

    def loss(self, X, y=None):
        p = self.params
        mode = "test" if y is None else "train"
        a, cache_a = affine.forward(X, p["W1"], p["b1"])
        n, cache_n = self.layernorm.forward(a, p["gamma1"], p["beta1"])
        r, cache_r = relu.forward(n)
        d, cache_d = self.dropout.forward(r, {"mode": mode, "keep_prob": self.keep_prob,
                                              "rng": self.rng})
        scores, cache_s = affine.forward(d, p["W2"], p["b2"])
        if y is None:
            return scores
        loss, cache_l = softmax_cross_entropy.forward(scores, y)
        grads = {}
        dscores = softmax_cross_entropy.backward(1.0, cache_l)
        dd, grads["W2"], grads["b2"] = affine.backward(dscores, cache_s)
        dr = self.dropout.backward(dd, cache_d)
        dn = relu.backward(dr, cache_r)
        da, grads["gamma1"], grads["beta1"] = self.layernorm.backward(dn, cache_n)
        _, grads["W1"], grads["b1"] = affine.backward(da, cache_a)
        return loss, grads


def train(model, learning_rate, epochs, verbose=True):
    solver = Solver(model, data, update_rule="adam",
                    optim_config={"learning_rate": learning_rate},
                    batch_size=64, num_epochs=epochs, seed=0, verbose=verbose)
    solver.train()
    return solver


data = digits()

# %% [markdown]
# **1. A small conv net** with your `conv_naive.py` and `maxpool.py`, on the digits as 1x8x8
# images. Your convolution loops over output positions, so this takes a little while.

# %%
conv_naive = student_module("conv_naive")
maxpool = student_module("maxpool")
with skip_if_stubbed():
    model = TinyConvNet(conv_naive, maxpool)
    loss, grads = model.loss(data["X_train"][:64], data["y_train"][:64])
    print(f"loss {loss:.3f}; |dW1| = {np.linalg.norm(grads['W1']):.4f}")
    solver = train(model, 1e-2, epochs=8)
    print(f"conv net: best validation accuracy {solver.best_val_acc:.3f}, "
          f"test accuracy {solver.check_accuracy(data['X_test'], data['y_test']):.3f}")
    display(training_figure(solver, title="your convolution and max pooling on the digits"))

# %% [markdown]
# **2. Layer normalization and dropout**: the same two-layer net with dropout
# (`keep_prob = 0.5`) and without it (`keep_prob = 1`).

# %%
layernorm = student_module("layernorm")
dropout = student_module("dropout")
with skip_if_stubbed():
    runs = {}
    for keep_prob in (0.5, 1.0):
        runs[keep_prob] = train(LayerNormDropoutNet(layernorm, dropout, keep_prob), 2e-3,
                                epochs=10, verbose=False)
    for keep_prob, run in runs.items():
        gap = run.train_acc_history[-1] - run.val_acc_history[-1]
        print(f"keep_prob {keep_prob:g}: best validation accuracy {run.best_val_acc:.3f}, "
              f"last train - validation accuracy {gap:+.3f}")
    display(training_figure({f"keep_prob {k:g}": r for k, r in runs.items()},
                            title="your layer normalization, with and without dropout"))
