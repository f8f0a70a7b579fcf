"""Built-in tasks (square2d, two_moons, slcp, …): their models, usable in ``lwflow.train``
(``lwflow.train("square2d")`` is the same as ``lwflow.train(lwflow.tasks.get("square2d"))``),
and their reference posteriors."""

from ._lwflow import TASK_NAMES as names
from ._lwflow import Reference
from ._lwflow import reference
from ._lwflow import task as get

__all__ = ["names", "get", "reference", "Reference"]
