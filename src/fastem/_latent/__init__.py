"""Latent structure shared across families: mixture weights (and, later, the Markov
chain and continuous factors)."""
