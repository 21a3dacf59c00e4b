"""Emission families: the maths of each kind of data on small arrays (statistics,
M-step, parameter checks), shared by mixtures and, later, hidden Markov models."""
