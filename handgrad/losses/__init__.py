"""Losses: one module per loss, same contract as the layers, with a scalar output
(a 0-d array of the input dtype) reduced as the mean over the batch."""
