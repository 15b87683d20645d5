"""A third-party transfer-zoo plugin: ``cosine_probe``, a head-only method whose classifier scores
classes by scaled cosine similarity between L2-normalised features and class weights (Chen et al.,
"A Closer Look at Few-shot Classification", ICLR 2019: often better than a linear head with few
examples). Nothing heavy is imported here: the spec and the method's options are plain data, the
method lives in ``zoo_cosine_probe._impl``."""

from dataclasses import dataclass

from zoo_core.hookspecs import hookimpl
from zoo_core.options import MethodOptions, option
from zoo_core.specs import MethodSpec


@dataclass
class CosineProbeOptions(MethodOptions):
    """The options of ``cosine_probe`` (``-o scale=16`` on the command line)."""

    scale: float = option(10.0, "temperature: logits are scale * cosine similarity", min=0.0)


@hookimpl
def register_methods(register):
    register(
        MethodSpec(
            name="cosine_probe",
            factory="zoo_cosine_probe._impl:CosineProbe",
            description="frozen backbone + cosine-similarity classifier (third-party example plugin)",
            trains="head",
            options=CosineProbeOptions,
            defaults={"lr": 1e-2, "epochs": 30, "weight_decay": 1e-4, "batch_size": 64, "patience": 5},
        )
    )
