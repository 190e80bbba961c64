"""Hot loops, importable as ``archetype.kernels`` after a plain install.

Numba CPU kernels (``numba_kmeans``) and optional GPU kernels (``triton_kmeans``).  Kernels
take buffers, do no validation, and write into outputs they are given.
"""
