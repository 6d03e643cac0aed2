# Cells of handout.ipynb that come from this assignment (see [notebook] in assignment.toml):
# a two-layer net built from the student's own modules, trained with the Solver.

# %% [markdown]
# ## Train a net with your layers
#
# When the checks of `affine.py`, `relu.py` and `softmax_cross_entropy.py` pass, the cells
# below build a two-layer net, `affine - relu - affine - softmax cross-entropy`, from **your**
# modules and train it with handgrad's Solver on the shipped handwritten digits (8x8 images,
# 10 classes, 1258 training examples). Every gradient the Solver follows is one your backward
# passes computed. With correct backward passes the best validation accuracy is about 0.97
# after 10 epochs, which takes a few seconds.

# %%
import numpy as np
from IPython.display import display

from handgrad import Solver
from handgrad.data import digits
from handgrad.grading.notebook import skip_if_stubbed, student_module
from handgrad.plots import training_figure


class TwoLayerNet:
    """affine - relu - affine - softmax cross-entropy, from the modules it is given."""

    def __init__(self, affine, relu, loss, input_dim=64, hidden_dim=100, num_classes=10,
                 seed=0):
        self.affine, self.relu, self.loss_layer = affine, relu, loss
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": rng.normal(0.0, np.sqrt(2.0 / input_dim), (input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "W2": rng.normal(0.0, np.sqrt(2.0 / hidden_dim), (hidden_dim, num_classes)),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        p = self.params
        a, cache_a = self.affine.forward(X, p["W1"], p["b1"])
        r, cache_r = self.relu.forward(a)
        scores, cache_s = self.affine.forward(r, p["W2"], p["b2"])
        if y is None:
            return scores
        loss, cache_l = self.loss_layer.forward(scores, y)
        grads = {}
        dscores = self.loss_layer.backward(1.0, cache_l)
        dr, grads["W2"], grads["b2"] = self.affine.backward(dscores, cache_s)
        da = self.relu.backward(dr, cache_r)
        _, grads["W1"], grads["b1"] = self.affine.backward(da, cache_a)
        return loss, grads


data = digits()

# %%
# Your modules, read again from this folder: re-run this cell after you edit them.
net = TwoLayerNet(student_module("affine"), student_module("relu"),
                  student_module("softmax_cross_entropy"))
with skip_if_stubbed():
    solver = Solver(net, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    batch_size=64, num_epochs=10, print_every=50, seed=0)
    solver.train()
    print(f"best validation accuracy: {solver.best_val_acc:.3f}")
    print(f"test accuracy: {solver.check_accuracy(data['X_test'], data['y_test']):.3f}")
    display(training_figure(solver, title="your two-layer net on the digits"))

# %% [markdown]
# A net that trains is not proof that its gradients are right: a backward pass that is off by
# a constant factor trains too, only with another learning rate. The checks above are the
# proof.
