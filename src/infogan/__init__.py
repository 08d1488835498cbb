"""infogan: InfoGAN (Chen et al. 2016) in PyTorch - train, measure and use interpretable codes.

The public API::

    from infogan import TrainConfig, ModelConfig, LatentSpec, train, load_run, preset
"""

from infogan.config import ModelConfig, TrainConfig, preset
from infogan.errors import CheckpointError, DataError, InfoGANError, SpecError, TrainingError
from infogan.latent import LatentSpec
from infogan.model import InfoGAN, load_run
from infogan.train import train

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DataError",
    "InfoGAN",
    "InfoGANError",
    "LatentSpec",
    "ModelConfig",
    "SpecError",
    "TrainingError",
    "TrainConfig",
    "load_run",
    "preset",
    "train",
]
