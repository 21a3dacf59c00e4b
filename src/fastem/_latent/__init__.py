"""Latent structure shared across families: mixture weights and continuous factors
(and, later, the Markov chain)."""
