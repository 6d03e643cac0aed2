"""Data: the generated spiral, the shipped digits and sonnets (see ATTRIBUTION.md), and readers
for CIFAR-10 and MNIST files a user downloads. Everything shipped loads offline.

- :func:`spiral`, :func:`digits`, :func:`sonnets` (a :class:`CharCorpus`): the data sets;
- :func:`load_cifar10`, :func:`load_mnist`: readers of the downloaded files;
- :func:`stratified_split`: a split that keeps the class proportions.

``digits``, ``sonnets`` and ``spiral`` are functions named like the modules that define them,
so they are imported here at once (see :mod:`handgrad._exports`); the rest on first use.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports
from handgrad.data.digits import digits
from handgrad.data.sonnets import CharCorpus, sonnets
from handgrad.data.spiral import spiral

__all__ = ["CharCorpus", "digits", "load_cifar10", "load_mnist", "sonnets", "spiral",
           "stratified_split"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "load_cifar10": "cifar10",
    "load_mnist": "mnist",
    "stratified_split": "split",
})
