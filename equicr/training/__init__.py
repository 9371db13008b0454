"""Distributed training with Ray Train: configuration, the per-worker loop, and the launcher."""
