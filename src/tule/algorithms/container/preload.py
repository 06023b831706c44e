"""What a fork server preloads for the built-in algorithms, besides the third-party libraries.

The fork-server executor imports these modules once, in its fork server, so a built-in's
worker (`python -m tule.algorithms.container train ...`) forked from it starts warm instead of
importing them itself. Pass them with the libraries:
`ForkServerExecutor(preload=DEFAULT_PRELOAD + BUILTIN_ALGORITHM_PRELOAD)`.
"""

from __future__ import annotations

# In import order: the container's entry points, the pieces the built-ins share, then the
# built-ins themselves. k-NN is left out: it imports faiss, which is not preloaded either.
BUILTIN_ALGORITHM_PRELOAD: tuple[str, ...] = (
    "tule.algorithms.container",
    "tule.algorithms.container.train",
    "tule.algorithms.channels",
    "tule.algorithms.hyperparameters",
    "tule.algorithms.formats.csv",
    "tule.algorithms.formats.libsvm",
    "tule.algorithms.formats.parquet",
    "tule.algorithms.formats.recordio_protobuf",
    "tule.algorithms.xgboost",
    "tule.algorithms.linear_learner",
    "tule.algorithms.kmeans",
    "tule.algorithms.pca",
)
