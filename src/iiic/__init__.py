"""iiic: classify harmful brain activity (seizures, periodic and rhythmic patterns) in scalp EEG."""

from iiic.constants import CLASS_LABELS, CLASSES

__version__ = "0.1.0"
__all__ = ["CLASSES", "CLASS_LABELS", "__version__"]
