"""The gateway: HTTP in, AWS wire protocols parsed and serialized, driven by botocore's models."""
