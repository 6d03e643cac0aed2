import numpy as np


def clip_grad_norm(grads, max_norm):
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
    return norm
