"""The [tune] table: parsing, the errors of a bad space (before anything trains or any
folder exists), storage URLs that cannot be opened, and Optuna suggestions from a space."""

from __future__ import annotations

import tomllib
from pathlib import Path

import optuna
import pytest

from tsssm.cli import main
from tsssm.recipes import ConfigError, dump_config, from_dict, load_config
from tsssm.recipes.search_space import trial_recipe
from tsssm.tuning import open_storage, suggest

from ..recipes.conftest import tiny_recipe, write_recipe
from .conftest import tiny_study_recipe


@pytest.fixture
def recipe(tmp_path: Path, tiny_csv: Path) -> Path:
    return tiny_study_recipe(tmp_path / "study.toml", tiny_csv)


def test_space_is_typed_and_round_trips(recipe: Path) -> None:
    config = load_config(recipe, ['tune.space.model.n_layers={low=1, high=3}',
                                  "tune.space.model.dropout={low=0, high=0.3, step=0.1}"])
    tune = config.tune
    assert tune is not None
    assert (tune.model, tune.objective, tune.direction) == ("smamba", "val_loss", "minimize")
    kinds = {key: param.kind for key, param in tune.space.items()}
    assert kinds == {"train.lr": "float", "model.d_model": "categorical",
                     "model.n_layers": "int", "model.dropout": "float"}
    assert tune.space["train.lr"].log and tune.space["model.dropout"].step == 0.1
    again = from_dict(tomllib.loads(dump_config(config)))
    assert again.tune == tune


def test_a_trial_trains_the_tuned_model_alone(recipe: Path) -> None:
    config = load_config(recipe, ['tune.model="itransformer"',
                                  "tune.space={baselines.itransformer.d_model={choices=[8, 16]}}"])
    table = trial_recipe(config.to_dict(), "itransformer",
                         {"baselines.itransformer.d_model": 8, "train.lr": 0.5})
    trial = from_dict(table)
    assert [m.name for m in trial.models()] == ["itransformer"]
    assert trial.model.options["d_model"] == 8 and trial.model.options["n_heads"] == 2
    assert trial.train.lr == 0.5 and trial.tune is None


@pytest.mark.parametrize(("override", "message"), [
    ("tune.space.train.lr.low=5e-2", "the range is inverted (low 0.05, high 0.01)"),
    ("tune.space.train.lr.high=1e-5", "the range is inverted"),
    ("tune.space.train.lr={low=0.001, high=0.001}", "the range is empty"),
    ("tune.space.train.lr={low=0.0, high=0.1, log=true}", "a log range needs low > 0"),
    ("tune.space.model.d_model={choices=[]}", "choices must be a non-empty array"),
    ("tune.space.model.d_model={choices=[8, 8]}", "choices repeats a value"),
    ("tune.space.model.d_model={low=8}", "needs both low and high"),
    ("tune.space.model.dropout={low=0, high=0.3, step=1}", "wider than the range"),
    ("tune.space.model.widht={low=8, high=16}", "[tune.space] model.widht = 8: unknown key "
                                                "'model.widht'"),
    ("tune.space.model.d_model={choices=[8, 0]}", "[tune.space] model.d_model = 0: "
                                                  "model.d_model must be at least 1"),
    ("tune.space.model.dropout={low=0.5, high=1.5}", "model.dropout must lie in [0, 1)"),
    ("tune.space.model.lookback={low=8, high=16}", "set it in [data] instead"),
    ("tune.space.baselines.dlinear.train.lr={low=1e-3, high=1e-2}",
     "trials train 'smamba' alone"),
    ("tune.space.run.name={choices=['a']}", "the run's name, task and baselines are not"),
    ('tune.objective="test_mse"', "never an objective: a search must not see the test split"),
    ('tune.objective="val_acc"', "not a validation metric of task 'forecasting'"),
    ('tune.pruner="medain"', "did you mean 'median'?"),
    ('tune.model="chimera"', "tune.model 'chimera' is not a model of the recipe"),
    ("tune.sampeler=1", "unknown key 'tune.sampeler'"),
    ("tune.trials=0", "tune.trials must be a positive integer"),
])
def test_a_bad_space_is_an_error_naming_file_and_key(recipe: Path, override: str,
                                                     message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(recipe, [override])
    assert str(error.value).startswith(str(recipe)) and message in str(error.value)


def test_itransformer_heads_must_divide_every_width_choice(recipe: Path) -> None:
    with pytest.raises(ConfigError, match=r"d_model = 9: .*n_heads 2 must divide"):
        load_config(recipe, ['tune.model="itransformer"',
                             "tune.space={baselines.itransformer.d_model={choices=[8, 9]}}"])


def test_storage_that_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open the study storage"):
        open_storage(f"sqlite:///{tmp_path}/no/such/folder/study.db")
    with pytest.raises(ConfigError, match="cannot open the study storage"):
        open_storage("nosuchdatabase://host/db")
    with pytest.raises(ConfigError, match=r"user:\*\*\*@"):
        open_storage("postgresql://user:secret@127.0.0.1:1/db")


def test_cli_errors_come_before_any_folder(capsys: pytest.CaptureFixture, tmp_path: Path,
                                           recipe: Path, tiny_csv: Path) -> None:
    runs = tmp_path / "runs"
    cases = [
        (["--storage", f"sqlite:///{tmp_path}/none/x.db"], "cannot open the study storage"),
        (["--set", "tune.space.train.lr.low=1.0"], "the range is inverted"),
        (["--trials", "0"], "--trials must be at least 1"),
        (["--set", "train.strategy=ddp"], "trains each trial in one process"),
        (["--resume", str(tmp_path)], "leave out RECIPE"),
    ]
    for extra, message in cases:
        with pytest.raises(SystemExit) as stop:
            main(["tune", str(recipe), "--output-dir", str(runs), *extra])
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    plain = write_recipe(tmp_path / "plain.toml", tiny_recipe(tiny_csv))
    with pytest.raises(SystemExit):
        main(["tune", str(plain), "--output-dir", str(runs)])
    assert "no [tune] table" in capsys.readouterr().err
    assert not runs.exists()


def test_suggestions_follow_the_space(recipe: Path) -> None:
    config = load_config(recipe, ['tune.space.model.n_layers={low=1, high=3}'])
    assert config.tune is not None
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        values = suggest(study.ask(), config.tune.space)
        assert 1e-4 <= values["train.lr"] <= 1e-2 and isinstance(values["train.lr"], float)
        assert values["model.d_model"] in (8, 16)
        assert values["model.n_layers"] in (1, 2, 3)
    lrs = [t.params["train.lr"] for t in study.trials]
    # Log scale: about half the draws fall below the geometric middle, 1e-3.
    assert 4 <= sum(lr < 1e-3 for lr in lrs) <= 16
