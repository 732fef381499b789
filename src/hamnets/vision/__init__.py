"""Image models built around H-DNNs, and the logistic-regression baseline."""

from ._classifier import HDNNImageClassifier
from ._logistic import LogisticRegression

__all__ = ["HDNNImageClassifier", "LogisticRegression"]
