"""Execution: worker processes, job workspaces shaped like a SageMaker container's `/opt/ml`,
Pipe-mode FIFOs, the instance-type catalogue, archives and script-mode environments.

Nothing here knows about HTTP or AWS services: callers pass plain values and paths.
"""
