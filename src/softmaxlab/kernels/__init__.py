"""Compiled kernels (numba) for the sweep's hot loops.

Each kernel computes exactly what a numpy implementation elsewhere in the package computes
(the documented reference, which the tests compare it with bit for bit); it only does so in
one pass over the data instead of one numpy pass per operation. Where numba cannot be
imported (a platform without wheels) a kernel module's ``AVAILABLE`` is False and callers
run the numpy reference.

- :mod:`softmaxlab.kernels.metrics`: the per-vector metric pass of
  ``softmaxlab.metrics.vector_metrics``, and numpy's pairwise summation.
- :mod:`softmaxlab.kernels.jit`: the njit every kernel is compiled with, and the disk
  cache that recompiles every kernel when any code compiled into one changes.

Nothing is imported here: importing numba costs about 0.3 s, paid only by the processes
that run a kernel.
"""
