"""The linear probe: a frozen backbone whose cached features train the head alone."""

from __future__ import annotations

from typing import Any

from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel
from zoo_methods.options import L2_GRID, LinearProbeOptions


class LinearProbe(AdaptationMethod):
    """Frozen backbone; only the head trains, on cached features.

    With a linear head the default solver is ``lbfgs``: multinomial logistic regression on
    standardised features, fitted to convergence with L-BFGS for each L2 strength of a log grid;
    the strength with the best validation score is refitted on train + validation (the protocol of
    Kornblith et al. 2019 and CLIP's linear-probe evaluations). ``solver=adamw`` uses the generic
    mini-batch loop instead (then epochs, schedules and early stopping apply).

    ``features=multilevel`` (the default where the family supports it) probes the pooled output of
    every backbone stage, not only the last (Head2Toe, Evci et al. 2022); each level is scaled to
    the same total weight, so that many narrow early channels and one wide final vector are
    penalised alike. ``features=last`` probes the pooled final features only.
    """

    name = "linear_probe"
    trains = "head"
    uses_feature_cache = True
    Options = LinearProbeOptions
    options: LinearProbeOptions
    L2_GRID = L2_GRID  # kept on the class: benchmarks and other methods fit heads with it

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Widths of the concatenated feature levels, known once prepare() has seen the backbone.
        self._groups: list[int] | None = None

    def backbone_features(self) -> str:
        return self.options.features

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        unfreeze(model.head)
        model.backbone.eval()
        self._groups = list(model.backbone.feature_groups)

    def fit_features(self, head, train_x, train_y, val_x, val_y, config):
        """Fit ``head`` on features directly; returns a TrainResult, or None to use the generic loop."""
        from zoo_core.engine.heads import LinearHead

        if self.options.solver != "lbfgs" or not isinstance(head, LinearHead):
            return None
        from zoo_methods._logistic import fit_logistic_head

        return fit_logistic_head(
            head, train_x, train_y, val_x, val_y, config, grid=self.options.l2_grid or L2_GRID, groups=self._groups
        )
