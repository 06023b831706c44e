"""Bytes: objects' content on the filesystem, written atomically and durably."""
