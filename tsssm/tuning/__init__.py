"""Hyper-parameter search over a recipe's ``[tune]`` table with Optuna: ``tsssm tune``.

    config = load_config("recipes/etth1_smamba.toml")          # with its [tune] table
    study = StudyRun.start(config, output_dir="runs")           # or StudyRun.resume(run_dir)
    study.run(trials=20)   # trials, then best.toml, tested beside the untuned default

``space`` turns the typed space (``tsssm.recipes.search_space``) into Optuna suggestions,
``pruning`` reports each validation epoch to the trial and prunes, ``storage`` opens the
study's database, ``results`` writes trials.parquet and study.json, ``study`` runs it all.
Names load on first use (Optuna and Lightning only when a study runs).
"""

from tsssm._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "StudyRun": ".study",
    "TrialReporter": ".pruning",
    "make_pruner": ".pruning",
    "make_sampler": ".space",
    "suggest": ".space",
    "open_storage": ".storage",
})
