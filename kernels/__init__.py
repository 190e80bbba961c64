"""Hot loops, importable as ``archetype.kernels`` after a plain install.

``numba_kmeans``: the cache-blocked CPU kernels of k-means.  Kernels take buffers, do no
validation, and write into outputs they are given.
"""
