# Cells of handout.ipynb that come from this assignment (see [notebook] in assignment.toml):
# section 4 of the handout, run on the student's batchnorm.py and clipping.py.

# %% [markdown]
# ### Section 4 in this notebook
#
# The cells below are the `train.py` of section 4, cut into steps. Each reads your
# `batchnorm.py` and `clipping.py` again, so re-run them after an edit. The numbers to expect
# are the ones section 4 gives.

# %%
import numpy as np
from IPython.display import display

from handgrad import Solver
from handgrad.data import digits
from handgrad.grading.notebook import skip_if_stubbed, student_module
from handgrad.layers import affine, relu
from handgrad.losses import softmax_cross_entropy
from handgrad.models import FullyConnectedNet
from handgrad.plots import training_figure


class TwoLayerBatchNormNet:
    """affine - batchnorm - relu - affine - softmax cross-entropy, with the batchnorm module
    it is given."""

    def __init__(self, batchnorm, input_dim=64, hidden_dim=100, num_classes=10,
                 weight_scale=None, seed=0):
        self.batchnorm = batchnorm
        rng = np.random.default_rng(seed)
        s1 = np.sqrt(2.0 / input_dim) if weight_scale is None else weight_scale
        s2 = np.sqrt(2.0 / hidden_dim) if weight_scale is None else weight_scale
        self.params = {
            "W1": rng.normal(0.0, s1, (input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "gamma1": np.ones(hidden_dim),
            "beta1": np.zeros(hidden_dim),
            "W2": rng.normal(0.0, s2, (hidden_dim, num_classes)),
            "b2": np.zeros(num_classes),
        }
        self.bn_param = {"mode": "train", "running_mean": np.zeros(hidden_dim),
                         "running_var": np.zeros(hidden_dim)}
        # The running statistics are state, not parameters: the Solver keeps them with the
        # best parameters. batchnorm.forward updates these same arrays in place.
        self.buffers = {"running_mean1": self.bn_param["running_mean"],
                        "running_var1": self.bn_param["running_var"]}

    def loss(self, X, y=None):
        p = self.params
        self.bn_param["mode"] = "test" if y is None else "train"
        a, cache_a = affine.forward(X, p["W1"], p["b1"])
        n, cache_n = self.batchnorm.forward(a, p["gamma1"], p["beta1"], self.bn_param)
        r, cache_r = relu.forward(n)
        scores, cache_s = affine.forward(r, p["W2"], p["b2"])
        if y is None:
            return scores
        loss, cache_l = softmax_cross_entropy.forward(scores, y)
        grads = {}
        dscores = softmax_cross_entropy.backward(1.0, cache_l)
        dr, grads["W2"], grads["b2"] = affine.backward(dscores, cache_s)
        dn = relu.backward(dr, cache_r)
        da, grads["gamma1"], grads["beta1"] = self.batchnorm.backward(dn, cache_n)
        _, grads["W1"], grads["b1"] = affine.backward(da, cache_a)
        return loss, grads


def train(model, learning_rate, verbose=True):
    solver = Solver(model, data, update_rule="adam",
                    optim_config={"learning_rate": learning_rate},
                    batch_size=64, num_epochs=10, seed=0, verbose=verbose)
    solver.train()
    return solver


data = digits()

# %% [markdown]
# **1. Your `clip_grad_norm`** on the gradients of one minibatch: the global norm becomes 1.

# %%
batchnorm = student_module("batchnorm")
clipping = student_module("clipping")
with skip_if_stubbed():
    model = TwoLayerBatchNormNet(batchnorm)
    loss, grads = model.loss(data["X_train"][:64], data["y_train"][:64])
    before = clipping.clip_grad_norm(grads, 1.0)
    after = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
    print(f"loss {loss:.3f}; gradient norm {before:.3f} before clipping, {after:.6f} after")

# %% [markdown]
# **2. Train the net** with your batch normalization, and look at the curves.

# %%
batchnorm = student_module("batchnorm")
with skip_if_stubbed():
    solver = train(TwoLayerBatchNormNet(batchnorm), 1e-2)
    print(f"best validation accuracy: {solver.best_val_acc:.3f}")
    print(f"test accuracy: {solver.check_accuracy(data['X_test'], data['y_test']):.3f}")
    display(training_figure(solver, title="your batch normalization on the digits"))

# %% [markdown]
# **3. Tiny initial weights**, drawn with a standard deviation of 1e-3, with and without batch
# normalization.

# %%
batchnorm = student_module("batchnorm")
with skip_if_stubbed():
    with_bn = train(TwoLayerBatchNormNet(batchnorm, weight_scale=1e-3), 1e-3, verbose=False)
    without = train(FullyConnectedNet([100], input_dim=64, num_classes=10, weight_scale=1e-3,
                                      seed=0), 1e-3, verbose=False)
    print(f"weights drawn with std 1e-3: best validation accuracy {with_bn.best_val_acc:.3f} "
          f"with batchnorm, {without.best_val_acc:.3f} without")
    display(training_figure({"with batchnorm": with_bn, "without": without},
                            title="weights drawn with std 1e-3"))
