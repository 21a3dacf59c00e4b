"""The engine: what every EM model shares, naming no model and no family.

Sufficient statistics as values (``stats``), the data sources that run a frozen
model's kernels over their rows (``sources``, ``patterns``), the EM loop
(``driver``) and the protocol between them and a model (``model``).
"""
