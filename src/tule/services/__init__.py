"""The domain: one package per AWS service, all shaped alike, knowing nothing of HTTP."""
