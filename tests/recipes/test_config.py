"""Recipe configs: parsing, overrides, the resolved-config round trip and every error case."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from tsssm.recipes import ConfigError, dump_config, from_dict, load_config, parse_override
from tsssm.recipes._toml import dumps
from tsssm.training import TrainConfig

from .conftest import REPO, tiny_recipe, write_recipe


@pytest.fixture
def recipe_file(tmp_path: Path, tiny_csv: Path) -> Path:
    return write_recipe(tmp_path / "x.toml", tiny_recipe(tiny_csv))


def test_parses_into_typed_sections(recipe_file: Path, tiny_csv: Path) -> None:
    config = load_config(recipe_file)
    assert config.run.name == "tiny" and config.run.task == "forecasting"
    assert config.data.lookback == 24 and config.data.dataset == str(tiny_csv)
    assert config.model.name == "smamba" and config.model.options["d_model"] == 16
    assert [m.name for m in config.models()] == ["smamba", "dlinear", "itransformer"]
    assert config.train.devices == 1 and config.train.max_epochs == 2
    # A per-model training change applies to that model only.
    dlinear, itransformer = config.baselines
    assert config.train_for(dlinear).lr == 1e-2
    assert config.train_for(itransformer).lr == config.train.lr == 3e-3


def test_shipped_recipe_parses() -> None:
    config = load_config(REPO / "recipes" / "etth1_smamba.toml")
    assert config.data.dataset == "ETTh1"  # bundled names stay names
    assert (config.data.lookback, config.data.horizon) == (96, 96)
    assert [m.name for m in config.baselines] == ["dlinear", "itransformer"]


def test_overrides_are_toml_values_else_strings(recipe_file: Path) -> None:
    config = load_config(recipe_file, [
        "train.max_epochs=5", "train.lr=1e-2", "train.deterministic=false",
        "train.strategy=ddp", "train.devices=auto", "model.dropout=0", 'run.name="other"',
        "run.baselines=[]", "baselines.dlinear.train.lr=0.5",
    ])
    train = config.train
    assert (train.max_epochs, train.lr, train.deterministic) == (5, 1e-2, False)
    assert (train.strategy, train.devices) == ("ddp", "auto")
    assert config.model.options["dropout"] == 0.0 and isinstance(
        config.model.options["dropout"], float)  # an integer is accepted as a float
    assert config.run.name == "other" and config.baselines == []


def test_override_without_table_creates_it(tmp_path: Path, tiny_csv: Path) -> None:
    recipe = tiny_recipe(tiny_csv)
    del recipe["train"]
    config = load_config(write_recipe(tmp_path / "x.toml", recipe), ["train.patience=1"])
    assert config.train.patience == 1 and config.train.max_epochs == TrainConfig().max_epochs


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a.b=1", ("a.b", 1)), ("a=x y", ("a", "x y")), ("a = [1, 2]", ("a", [1, 2])),
     ("a.b-c=1.5", ("a.b-c", 1.5)), ("a=", ("a", ""))],
)
def test_parse_override(text: str, expected: tuple) -> None:
    assert parse_override(text) == expected


def test_resolved_config_round_trips(recipe_file: Path, tmp_path: Path) -> None:
    config = load_config(recipe_file, ["train.limit_train_batches=3", "model.dropout=0.25"])
    written = tmp_path / "resolved.toml"
    written.write_text(dump_config(config))
    again = load_config(written)
    assert again.to_dict() == config.to_dict()
    assert isinstance(again.train.limit_train_batches, int)  # int | float keeps an int


def test_relative_dataset_is_relative_to_the_recipe(
    tmp_path: Path, tiny_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "data.csv").write_bytes(tiny_csv.read_bytes())
    recipe = tiny_recipe(Path("../data.csv"))
    config = load_config(write_recipe(tmp_path / "sub" / "x.toml", recipe))
    assert config.data.dataset == str((tmp_path / "data.csv").resolve())
    # ... but relative to the working directory when it comes from --set.
    monkeypatch.chdir(tmp_path / "sub")
    (tmp_path / "sub" / "rel.csv").write_bytes(tiny_csv.read_bytes())
    config = load_config("x.toml", ["data.dataset=rel.csv"])
    assert config.data.dataset == str((tmp_path / "sub" / "rel.csv").resolve())


def test_toml_writer_round_trips_awkward_values() -> None:
    data = {"a": {"s": 'quote " back \\ new\nline é', "f": 1e-300, "i": -3, "b": False,
                  "l": [1.5, "x"], "key with space": 1, "inf": math.inf,
                  "n": {"deep": {"x": 1}}, "empty": {}}}
    assert tomllib.loads(dumps(data)) == data


# Errors: each names the file (and the override) and the key --------------------------------


def error_of(path: Path, *overrides: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return str(caught.value)


def test_unknown_key_names_key_file_and_suggestion(recipe_file: Path, tmp_path: Path,
                                                   tiny_csv: Path) -> None:
    recipe = tiny_recipe(tiny_csv)
    recipe["train"]["max_epoch"] = 3
    bad = write_recipe(tmp_path / "bad.toml", recipe)
    message = error_of(bad)
    assert message.startswith(f"{bad}: unknown key 'train.max_epoch'")
    assert "did you mean 'max_epochs'?" in message
    message = error_of(recipe_file, "model.d_modle=8")
    assert message.startswith(f"{recipe_file} (--set model.d_modle=8): unknown key "
                              "'model.d_modle' (did you mean 'd_model'?)")
    assert "unknown key 'runn'" in error_of(recipe_file, "runn.name=x")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("train.lr=abc", "'train.lr' must be float, not string 'abc'"),
        ("train.max_epochs=2.5", "'train.max_epochs' must be integer, not float 2.5"),
        ("train.deterministic=1", "'train.deterministic' must be boolean, not integer 1"),
        ("train.lr=true", "'train.lr' must be float, not boolean True"),
        ("run.baselines=\"dlinear\"", "'run.baselines' must be array of strings"),
        ("data.columns=[1]", "'data.columns' must be array of strings"),
        ("model.d_model=\"big\"", "'model.d_model' must be integer, not string 'big'"),
        ("baselines.dlinear.train.lr=x", "'baselines.dlinear.train.lr' must be float"),
        ("train=3", "'train' must be a table, not integer 3"),
    ],
)
def test_wrong_type(recipe_file: Path, override: str, fragment: str) -> None:
    message = error_of(recipe_file, override)
    assert message.startswith(f"{recipe_file} (--set {override}): ")
    assert fragment in message


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("model.name=smaba", "unknown model 'smaba' (did you mean 'smamba'?)"),
        ("run.baselines=[\"dlinear\", \"nope\"]", "unknown model 'nope'"),
        ("run.baselines=[\"smamba\"]", "repeats the main model 'smamba'"),
        ("model.lookback=8", "'model.lookback' is set from the data; set it in [data]"),
        ("baselines.dlinear.train.seed=1", "unknown key 'baselines.dlinear.train.seed'"),
        ("baselines.dlinaer.d_model=1", "unknown key 'baselines.dlinaer' (did you mean "
                                        "'dlinear'?)"),
        ("data.fill=zero", "data.fill must be one of"),
        ("data.split=random", "data.split must be one of"),
        ("data.lookback=0", "data.lookback must be at least 1"),
        ("train.lr=0", "train.lr must be positive"),
        ("train.max_steps=0", "train.max_steps must be -1"),
        ("train.limit_val_batches=0", "train.limit_val_batches must be a fraction in (0, 1]"),
        ("run.name=a/b", "must be a plain folder name"),
        ("run.task=classify", "unknown task 'classify'"),
        ("data.dataset=ETTh9", "data.dataset: no file"),
        ("train.lr.x=1", "cannot set 'train.lr.x': 'train.lr' is not a table"),
        ("train.lr=inf", "train.lr must be a finite number, not inf"),
        ("model.n_layers=-1", "model.n_layers must be at least 1, not -1"),
        ("model.d_state=0", "model.d_state must be at least 1, not 0"),
        ("model.d_model=0", "model.d_model must be at least 1"),
        ("model.dropout=2.0", "model.dropout must lie in [0, 1), not 2.0"),
        ("baselines.itransformer.n_heads=3", "n_heads 3 must divide baselines.itransformer."
                                             "d_model 16"),
        ("train.devices=-2", "train.devices must be at least 1"),
        ("train.limit_train_batches=1.5", "train.limit_train_batches must be a fraction"),
        ("train.gradient_clip_val=nan", "train.gradient_clip_val must be a finite number"),
        ("train.schedule=step", "train.schedule must be one of ['exponential', 'cosine']"),
        ("train.warmup_epochs=-1.0", "train.warmup_epochs must not be negative"),
        ("model.quantiles=[0.0, 0.5, 0.9]", "model.quantiles: every quantile level must lie "
                                            "strictly inside (0, 1); got 0.0"),
        ("baselines.dlinear.quantiles=[0.5, 1.5]", "baselines.dlinear.quantiles: every "
                                                   "quantile level must lie strictly inside"),
        ("model.quantiles=[0.9, 0.5, 0.1]", "model.quantiles must be strictly increasing"),
        ("model.quantiles=[0.1, 0.5, 0.5]", "(sorted, no level twice)"),
        ("model.quantiles=[0.1, 0.9]", "model.quantiles must include the median 0.5"),
        ("model.quantiles=0.5", "'model.quantiles' must be array of floats"),
    ],
)
def test_invalid_value(recipe_file: Path, override: str, fragment: str) -> None:
    message = error_of(recipe_file, override)
    assert message.startswith(f"{recipe_file} (--set {override}): "), message
    assert fragment in message


@pytest.mark.parametrize("override", ["train.lr", "=3", "train..lr=1", "1train=2", ""])
def test_bad_override_syntax(recipe_file: Path, override: str) -> None:
    message = error_of(recipe_file, override)
    assert message.startswith(f"{recipe_file}: bad override {override!r}: expected KEY=VALUE")


def test_missing_pieces(tmp_path: Path, tiny_csv: Path) -> None:
    recipe = tiny_recipe(tiny_csv)
    del recipe["model"]
    assert "missing table [model]" in error_of(write_recipe(tmp_path / "a.toml", recipe))
    recipe = tiny_recipe(tiny_csv)
    del recipe["run"]["name"]
    assert "missing key 'run.name'" in error_of(write_recipe(tmp_path / "b.toml", recipe))
    recipe = tiny_recipe(tiny_csv)
    del recipe["model"]["name"]
    assert "missing key 'model.name'" in error_of(write_recipe(tmp_path / "c.toml", recipe))


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert error_of(missing).startswith(f"{missing}: cannot read the recipe")
    broken = tmp_path / "broken.toml"
    broken.write_text("[run\nname = 1\n")
    assert error_of(broken).startswith(f"{broken}: not valid TOML")


def test_from_dict_names_its_source(tiny_csv: Path) -> None:
    recipe = tiny_recipe(tiny_csv, train={"batchsize": 3})
    with pytest.raises(ConfigError, match=r"^<memory>: unknown key 'train.batchsize' "
                                          r"\(did you mean 'batch_size'\?\)"):
        from_dict(recipe, source="<memory>")
