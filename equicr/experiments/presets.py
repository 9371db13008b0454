"""Experiment presets: which models, data, training settings and subset sizes reproduce the paper's results.

The paper's experiments:

- Table I: EquiCR against DSen2-CR at equal parameter counts, for each input mode (SAR+optical,
  optical only, SAR only), trained on all of the training split.
- Table II: the same two architectures (SAR+optical) trained on nested subsets of 100 and 1000
  patches and on everything. Every size trains for the same number of steps (small subsets are
  repeated within an epoch), so the table compares amounts of data, not amounts of training.
- Fig. 3: median metrics per cloud-cover bin of the two SAR+optical models trained on everything.

``cpu`` runs all of it on 2 CPU cores in well under an hour on synthetic data; ``paper`` is the
full-scale run for a GPU cluster on an ingested SEN12MS-CR collection.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from equicr.bands import INPUT_MODES
from equicr.models import ModelConfig
from equicr.training.config import PRESETS as TRAINING_PRESETS
from equicr.training.config import TrainConfig


@dataclass(frozen=True)
class SyntheticData:
    """A seeded synthetic patches collection the runner writes when no data is given."""

    count: int
    size: int
    seed: int = 0
    split_fractions: tuple[float, float] = (0.6, 0.1)  # train, val; the rest is test


@dataclass(frozen=True)
class ExperimentRun:
    """One trained model of the experiments: an architecture, an input mode and a training-set size."""

    architecture: str
    input_mode: str
    subset_size: int | None  # None: the whole training split

    @property
    def name(self) -> str:
        """Run name, also the name of its checkpoint and evaluation folders."""
        return f"{self.architecture}-{self.input_mode}-{self.subset_size or 'all'}"


@dataclass(frozen=True)
class ExperimentPreset:
    """Everything that fixes one reproduction of the experiments."""

    name: str
    description: str
    models: tuple[ModelConfig, ModelConfig]  # EquiCR, then DSen2-CR at (about) its parameter count
    training: TrainConfig  # epochs, batch, learning rate, workers, seed; model, data and run name are set per run
    subset_sizes: tuple[int, ...]  # Table II's small training sets ("all" is always added)
    synthetic: SyntheticData | None = None  # None: the data must be given (an ingested SEN12MS-CR collection)
    input_modes: tuple[str, ...] = INPUT_MODES
    eval_actors: int = 1  # Ray Data scoring actors for large test splits
    eval_gpus_per_actor: float = 0
    caveats: tuple[str, ...] = ()  # what the report must say about how far its numbers carry

    def model(self, architecture: str, input_mode: str) -> ModelConfig:
        """The model config of ``architecture`` with ``input_mode``."""
        (config,) = [m for m in self.models if m.architecture == architecture]
        return dataclasses.replace(config, input_mode=input_mode)

    def runs(self) -> list[ExperimentRun]:
        """Every run the three experiments need, each once (Table I's SAR+optical runs are Table II's "all")."""
        architectures = [m.architecture for m in self.models]
        table_1 = [ExperimentRun(a, mode, None) for a in architectures for mode in self.input_modes]
        table_2 = [ExperimentRun(a, "sar+opt", size) for a in architectures for size in (*self.subset_sizes, None)]
        return list(dict.fromkeys(table_1 + table_2))


PRESETS: dict[str, ExperimentPreset] = {
    "cpu": ExperimentPreset(
        name="cpu",
        description="2 CPU cores, about half an hour: small models at equal parameter counts, synthetic 48-px patches",
        # 43,657 and 44,036 trainable parameters (tests/experiments check they stay within 2%).
        models=(ModelConfig("equicr", width=12, num_blocks=6), ModelConfig("dsen2cr", width=19, num_blocks=6)),
        training=TrainConfig(epochs=20, batch_size=8, learning_rate=1e-3, cpus_per_worker=2, seed=0),
        subset_sizes=(12, 60),
        synthetic=SyntheticData(count=600, size=48, seed=0),
        caveats=(
            "Scale: models of 44 thousand parameters (the paper: 18.7 million) trained for 20 epochs on 360 "
            "synthetic 48-px patches (the paper: 114,056 real 256-px patches). Absolute numbers are not comparable "
            "with the paper's (32.06 dB for EquiCR, 31.84 dB for DSen2-CR with SAR+optical input); only the "
            "comparisons between rows of one table mean anything, and only as far as the synthetic scenes resemble "
            "real ones.",
            "One seed per run, no repeats: the spread between seeds was not measured, so a gap of a few tenths of "
            "a dB between two cells is not evidence on its own.",
            "Table II's sizes are scaled down with the data (12 and 60 of 360 patches for the paper's 100 and 1000 "
            "of 114,056); every size trains for the same number of steps.",
            "The real patches are out of distribution: the models never saw real imagery, there are only 12 of "
            "them, ten are not georeferenced and some pairs show real change between the cloudy and the clear "
            "date (../shared/data/README.md). Their tables measure transfer from synthetic to real data, not the "
            "method; under thick cloud the models mostly fail to reconstruct the ground.",
        ),
    ),
    "paper": ExperimentPreset(
        name="paper",
        description="the paper's scale on a GPU cluster: full-size models on an ingested SEN12MS-CR collection",
        models=(ModelConfig("equicr"), ModelConfig("dsen2cr")),  # 18,721,417 and 18,947,341 parameters
        training=TRAINING_PRESETS["paper"],  # the training job's own paper preset: one source for both
        subset_sizes=(100, 1000),
        eval_actors=4,
        eval_gpus_per_actor=1,
    ),
}
