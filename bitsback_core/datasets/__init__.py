"""Dataset interface, data location and seeded subsets."""

from bitsback_core.datasets.interface import Dataset
from bitsback_core.datasets.location import DATA_DIR_ENV, resolve_data_dir
from bitsback_core.datasets.selection import subset_indices

__all__ = ["DATA_DIR_ENV", "Dataset", "resolve_data_dir", "subset_indices"]
