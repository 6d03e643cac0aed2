"""Tuned twins of the readable layers, for training: the same contract, arguments and error
messages as their readable versions in :mod:`handgrad.layers`, computed with fewer passes over
memory (algebra that folds several elementwise steps into one, cache-sized blocks of rows,
buffers reused within a call) and, for the LSTM and attention, one slice of the batch per
thread with BLAS on one thread meanwhile (:mod:`handgrad.fast._parts`). Each twin is tested
against its readable version; the readable version is the one the docs show and assignments
hand out.

A twin's cache is its own: pass the cache of ``handgrad.fast.layernorm.forward`` to
``handgrad.fast.layernorm.backward``, never to the readable module's backward.
"""
