"""The pure-NumPy twin of the compiled kernels: the executable specification.

One module per compiled kernel module, with the same names (``__all__``), argument
order and output contract: ``gaussian`` (``_gaussian``), ``kmeans_plusplus``
(``_kmeans_plusplus``), ``discrete`` (``_discrete``), ``markov`` (``_markov``) and
``lowrank`` (``_lowrank``). Tests hold each pair together, and
``fastem.use_backend("numpy")`` runs every estimator on the twin. Production code never
imports it.
"""
