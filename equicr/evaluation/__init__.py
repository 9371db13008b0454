"""Evaluation: per-image metrics on a split, means, medians per cloud-cover bin (the paper's Fig. 3), reports."""
