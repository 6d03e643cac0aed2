"""Data: the generated spiral, the shipped digits and sonnets (see ATTRIBUTION.md), and readers
for CIFAR-10 and MNIST files a user downloads. Everything shipped loads offline."""

from __future__ import annotations

from handgrad.data.cifar10 import load_cifar10
from handgrad.data.digits import digits
from handgrad.data.mnist import load_mnist
from handgrad.data.sonnets import CharCorpus, sonnets
from handgrad.data.spiral import spiral
from handgrad.data.split import stratified_split

__all__ = ["CharCorpus", "digits", "load_cifar10", "load_mnist", "sonnets", "spiral",
           "stratified_split"]
