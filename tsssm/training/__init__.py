"""Training: the one way tsssm fits a model (recipes and estimators alike).

    module = ForecastingModule("smamba", {"d_model": 128}, lookback=96, horizon=96,
                               n_variates=7, n_time_features=0)
    result = fit(module, SplitDataModule(train, val, None, batch_size=32, seed=0),
                 TrainConfig(max_epochs=10, patience=3))   # module now holds the best epoch

One LightningModule per model task, all on :class:`TaskModule` (registry-built model, AdamW
without decay on the parameters that must not get it, seeded steps, exact metric sums);
resumable, shardable loaders; callbacks; :func:`fit`. Names load on first use, so that
``TrainConfig`` is available without importing Lightning.
"""

from tsssm._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "ConfigError": ".config",
    "TrainConfig": ".config",
    "TaskModule": ".module",
    "optimization_dict": ".module",
    "Optimization": ".optim",
    "parameter_groups": ".optim",
    "no_weight_decay_names": ".optim",
    "ForecastingModule": ".forecasting",
    "ClassificationModule": ".classification",
    "WindowPredictions": ".classification",
    "PretrainModule": ".pretraining",
    "ReconstructionModule": ".reconstruction",
    "PhaseModule": ".phase",
    "EpochSampler": ".loaders",
    "ResumableDataLoader": ".loaders",
    "SplitDataModule": ".loaders",
    "WindowDataModule": ".loaders",
    "FitResult": ".fitting",
    "fit": ".fitting",
    "check_trainer_settings": ".fitting",
    "estimator_device": ".fitting",
    "estimator_train_config": ".fitting",
    "quiet_lightning": ".fitting",
    "test_trainer": ".fitting",
    "environment": ".fitting",
})

# The model task of each module: the task of ``tsssm.models.list_models`` it trains.
MODULES_BY_MODEL_TASK = {
    "forecasting": "ForecastingModule",
    "classification": "ClassificationModule",
    "pretraining": "PretrainModule",
    "reconstruction": "ReconstructionModule",
    "phase": "PhaseModule",
}
