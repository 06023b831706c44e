"""SageMaker's built-in algorithms, for real: one module per algorithm behind one interface.

This layer knows nothing of HTTP or jobs: it takes hyperparameter strings, channel data and a
reporter, and gives back a trained model that saves, loads and predicts.
"""
