"""tule: the AWS machine-learning stack, running for real on one machine."""

__version__ = "0.1.0"
