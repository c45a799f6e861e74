"""iiic: classify harmful brain activity (seizures, periodic and rhythmic patterns) in scalp EEG."""

from iiic.constants import CLASSES, CLASS_LABELS

__version__ = "0.1.0"
__all__ = ["CLASSES", "CLASS_LABELS", "__version__"]
