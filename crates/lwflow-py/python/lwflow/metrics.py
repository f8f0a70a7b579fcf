"""Metrics between two sample sets (rows are draws): samples in, numbers out."""

from ._lwflow import c2st, kl_p_q, mmd2, sliced_w2, w2

__all__ = ["c2st", "kl_p_q", "mmd2", "sliced_w2", "w2"]
