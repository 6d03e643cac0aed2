"""Tuned twins of the readable layers: the same contract, faster kernels.

Each module here has exactly the functions, arguments, results and errors of the layer it
twins (``handgrad.fast.conv`` of ``handgrad.layers.conv``), and is tested against it. The
readable layers are what the docs show and what assignments hand out; the models and the
Solver use the twin where one exists. Kernels here may use memory layouts chosen for speed,
return views into their own buffers, and run memory-bound passes on a small thread pool.
"""
