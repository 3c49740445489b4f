"""custom-csv --dataset: a Hub dataset name or a local folder in the Hub's layout, read through
`datasets.load_dataset`, checked as files are, its splits picked by --split-map.

Every folder is written by the test; nothing reaches the network (HF_HUB_OFFLINE is set by
conftest, and the tests that could try refuse every connection and count the attempts)."""

from __future__ import annotations

import dataclasses
import json
import random
import socket
from pathlib import Path

import pytest
from conftest import assert_finished_run, sentence
from taskrun import hub
from taskrun.errors import DataError, HubUnavailableError
from taskrun.task import RunConfig
from test_hub_offline import no_network_run

# Not alphabetical: the model's labels must keep the ClassLabel's own order (its ids).
NAMES = ["pos", "neg"]


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    """datasets' Arrow cache of each test's folders goes under the test's own tmp_path."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")


@pytest.fixture
def connections(monkeypatch):
    """Every name lookup and connection attempt fails and is recorded."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def labelled(n: int, seed: int) -> dict[str, list]:
    """`n` sentences whose sentiment word follows the label: ClassLabel ids of NAMES (0 pos, 1 neg)."""
    rng = random.Random(seed)
    labels = [i % 2 for i in range(n)]
    return {"text": [sentence(rng, 1 - label) for label in labels], "label": labels}


def parquet_folder(folder: Path, splits: dict[str, dict[str, list]], features=None) -> Path:
    """A dataset folder as the Hub lays it out: data/SPLIT-00000-of-00001.parquet and a README.md."""
    import datasets

    (folder / "data").mkdir(parents=True)
    for split, columns in splits.items():
        data = datasets.Dataset.from_dict(columns, features=features)
        data.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    (folder / "README.md").write_text("# a test dataset\n", encoding="utf-8")
    return folder


def class_label_features():
    import datasets

    return datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=NAMES)})


@pytest.fixture
def hub_folder(tmp_path) -> Path:
    """train (40 rows) and validation (12 rows), labels a ClassLabel named pos, neg."""
    splits = {"train": labelled(40, 1), "validation": labelled(12, 2)}
    return parquet_folder(tmp_path / "reviews-hub", splits, class_label_features())


@pytest.fixture
def csv_folder(tmp_path) -> Path:
    """train.csv and test.csv (no validation), integer labels 0/1 in a `stars` column."""
    folder = tmp_path / "reviews-csv"
    folder.mkdir()
    for split, n in (("train", 30), ("test", 10)):
        data = labelled(n, len(split))
        lines = ["review,stars"] + [f"{text},{label}" for text, label in zip(data["text"], data["label"])]
        (folder / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def load(manager, problem: str = "single-label", **options):
    """The custom-csv data as a run gets it (`taskrun.splits.load_data`), without a model."""
    from taskrun.plugins.custom_csv import OPTIONS
    from taskrun.splits import load_data

    task = dataclasses.replace(manager.task("custom-csv"), problem_type=problem)
    task_options = {option.key: option.default for option in OPTIONS} | options
    config = RunConfig(
        task="custom-csv", model="unused", output_dir=Path("unused"), problem_type=problem, task_options=task_options
    )
    return load_data(manager, task, config)


def run_dataset(cli, tiny_model, output_dir, *options):
    """`taskrun run custom-csv --dataset ...` with the tiny model, one fast epoch."""
    return cli(
        "run",
        "custom-csv",
        "--model",
        tiny_model,
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--precision",
        "fp32",
        "--output-dir",
        output_dir,
        *options,
    )


def test_parquet_folder_runs_end_to_end_offline_and_eval_reads_it_too(
    cli, tiny_model, hub_folder, tmp_path, connections
):
    out = tmp_path / "run"
    result = run_dataset(cli, tiny_model, out, "--dataset", hub_folder)
    assert result.exit_code == 0, result.output
    assert "12 validation examples" in result.stdout
    # The ClassLabel's names are the labels, in its order: id 0 is still 'pos'.
    assert_finished_run(out, NAMES, ["the movie was great", "the film was awful"])
    record = json.loads((out / "run_config.json").read_text())
    options = record["task_options"]
    assert options["dataset"] == str(hub_folder) and options["train"] is None
    assert options["dataset_config"] is None and options["split_map"] is None

    # eval reuses the plugin's loading: the same figures on the same validation split...
    scored = cli("eval", out, "custom-csv", "--dataset", hub_folder, "--output", tmp_path / "eval.json")
    assert scored.exit_code == 0, scored.output
    metrics = json.loads((tmp_path / "eval.json").read_text())
    assert metrics["samples"] == 12
    assert metrics["accuracy"] == pytest.approx(json.loads((out / "metrics.json").read_text())["eval"]["accuracy"])
    # ...and a test split once --split-map names one.
    test = cli("eval", out, "custom-csv", "--dataset", hub_folder, "--split", "test", "--split-map", "test=validation")
    assert test.exit_code == 0, test.output
    assert "on custom-csv test (12 examples)" in test.stdout
    assert connections == []


def test_class_label_ids_become_their_names_in_the_dataset_order(manager, hub_folder):
    dataset, names = load(manager, dataset=str(hub_folder))
    assert names == NAMES  # not sorted: the dataset's own ids
    first = dataset["train"][0]
    assert dataset["train"].features["label"].int2str(first["label"]) in NAMES
    positives = [row["text"] for row in dataset["validation"] if row["label"] == 0]
    assert positives and all(any(w in text for w in ("good", "great", "lovely", "fine")) for text in positives)


def test_multi_label_sequence_of_class_labels(manager, tmp_path):
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "tags": datasets.Sequence(datasets.ClassLabel(names=["b", "a", "c"]))}
    )
    rows = {"text": [f"text number {i}" for i in range(12)], "tags": [[0, 1], [1], [2, 0], [2]] * 3}
    folder = parquet_folder(tmp_path / "tags", {"train": rows, "validation": rows}, features)
    dataset, names = load(manager, "multi-label", dataset=str(folder), label_column="tags")
    assert names == ["b", "a", "c"]
    assert sorted(dataset["validation"][0]["label"]) == [0, 1]  # 'b' and 'a', by the dataset's ids


def test_every_file_is_read_with_its_own_label_names(manager, tmp_path, caplog):
    """Splits (and files of one split) whose ClassLabel writes the same names in another order:
    each row keeps its own label, matched by name; a name training lacks is said, not swapped."""
    import datasets

    def features(names):
        return datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})

    folder = tmp_path / "orders"
    (folder / "data").mkdir(parents=True)
    texts = {"pos": "the film was great", "neg": "the film was awful"}
    for file, names, labels in (
        ("train-00000-of-00002", ["pos", "neg"], ["pos", "neg"] * 5),
        ("train-00001-of-00002", ["neg", "pos"], ["pos", "pos", "neg"] * 3),
        ("validation-00000-of-00001", ["neg", "pos"], ["pos", "neg", "pos"] * 2),
    ):
        rows = {"text": [texts[label] for label in labels], "label": [names.index(label) for label in labels]}
        datasets.Dataset.from_dict(rows, features=features(names)).to_parquet(str(folder / "data" / f"{file}.parquet"))
    with caplog.at_level("INFO", logger="taskrun"):
        dataset, names = load(manager, dataset=str(folder), validation_fraction=0.5)
    assert names == ["pos", "neg"]
    for split in ("train", "validation"):
        for row in dataset[split]:
            assert row["text"] == texts[names[row["label"]]], (split, row)
    assert "validation-00000-of-00001.parquet numbers the labels of column 'label' neg, pos" in caplog.text
    # eval reads the same way; a name training lacks is the unseen-label refusal, with both lists.
    (folder / "data" / "validation-00000-of-00001.parquet").unlink()
    rows = {"text": ["the film was fine"] * 2 + [texts["pos"]], "label": [0, 0, 2]}
    datasets.Dataset.from_dict(rows, features=features(["meh", "neg", "pos"])).to_parquet(
        str(folder / "data" / "validation-00000-of-00001.parquet")
    )
    with pytest.raises(DataError, match=r"2 label\(s\) that the training split does not have.*'meh'.*pos, neg"):
        load(manager, dataset=str(folder))
    dataset, names = load(manager, dataset=str(folder), allow_unseen_labels=True)
    validation = dataset["validation"]
    read = {row["text"]: validation.features["label"].int2str(row["label"]) for row in validation}
    assert names == ["pos", "neg"] and read == {"the film was fine": "meh", texts["pos"]: "pos"}


def test_csv_folder_without_validation_holds_out_a_share_of_train(manager, csv_folder):
    dataset, names = load(manager, dataset=str(csv_folder), text_column="review", label_column="stars")
    assert names == ["0", "1"]  # numbered as in a file: the CSV's integers become their text
    assert (len(dataset["train"]), len(dataset["validation"])) == (27, 3)
    assert "test" not in dataset  # only where --split-map names it


def test_split_map_picks_the_dataset_splits(manager, csv_folder):
    dataset, _ = load(
        manager, dataset=str(csv_folder), text_column="review", label_column="stars", split_map="validation=test"
    )
    assert (len(dataset["train"]), len(dataset["validation"])) == (30, 10)


def test_split_map_with_other_split_names(manager, tmp_path):
    splits = {"full": labelled(20, 1), "holdout": labelled(6, 2), "extra": labelled(4, 3)}
    folder = parquet_folder(tmp_path / "odd-names", splits, class_label_features())
    dataset, _ = load(manager, dataset=str(folder), split_map=" train=full, validation=holdout ,test=extra")
    assert {split: len(dataset[split]) for split in dataset} == {"train": 20, "validation": 6, "test": 4}


def test_dataset_config_selects_a_readme_config(manager, tmp_path):
    folder = tmp_path / "configs"
    for config, n in (("small", 10), ("large", 30)):
        data = labelled(n, n)
        (folder / config).mkdir(parents=True)
        lines = ["text,label"] + [f"{t},{NAMES[label]}" for t, label in zip(data["text"], data["label"])]
        (folder / config / "train.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: small\n  data_files:\n  - split: train\n    path: small/train.csv\n"
        "- config_name: large\n  data_files:\n  - split: train\n    path: large/train.csv\n---\n",
        encoding="utf-8",
    )
    dataset, names = load(manager, dataset=str(folder), dataset_config="large")
    assert len(dataset["train"]) + len(dataset["validation"]) == 30 and names == ["neg", "pos"]


# -- the checks a file gets, on a dataset -------------------------------------------------------


def _with_empty_text(tmp_path):
    rows = labelled(20, 1)
    rows["text"][3] = "  "
    return parquet_folder(tmp_path / "empty", {"train": rows}, class_label_features())


def _with_unseen_label(tmp_path):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("string")})
    train = {"text": labelled(20, 1)["text"], "label": ["pos", "neg"] * 10}
    validation = {"text": labelled(4, 2)["text"], "label": ["pos", "neg", "meh", "pos"]}
    return parquet_folder(tmp_path / "unseen", {"train": train, "validation": validation}, features)


@pytest.mark.parametrize(
    "make, options, expected",
    [
        (
            lambda tmp: parquet_folder(tmp / "d", {"train": labelled(20, 1)}, class_label_features()),
            ["--text-column", "review"],
            ["split 'train'", "no column 'review' (named by --text-column)", "The columns are: 'text', 'label'"],
        ),
        (
            lambda tmp: parquet_folder(tmp / "d", {"train": labelled(20, 1)}, class_label_features()),
            ["--label-column", "stars"],
            ["no column 'stars' (named by --label-column)"],
        ),
        (
            _with_empty_text,
            [],
            ["split 'train': 1 row(s) with empty text in 'text', rows 3", "--drop-empty"],
        ),
        (
            _with_unseen_label,
            [],
            ["split 'validation': 1 label(s) that the training split does not have (row 2: 'meh')", "--allow-unseen"],
        ),
    ],
    ids=["text-column", "label-column", "empty-text", "unseen-label"],
)
def test_dataset_data_errors_name_the_split_row_and_option(cli, tiny_model, tmp_path, make, options, expected):
    folder = make(tmp_path)
    out = tmp_path / "run"
    result = run_dataset(cli, tiny_model, out, "--dataset", folder, *options)
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.stderr
    assert f"dataset '{folder}'" in result.stderr
    assert "Traceback" not in result.output and not out.exists()


def test_drop_empty_and_allow_unseen_labels_work_on_a_dataset(manager, tmp_path):
    dataset, _ = load(manager, dataset=str(_with_empty_text(tmp_path)), drop_empty=True)
    assert len(dataset["train"]) + len(dataset["validation"]) == 19
    dataset, names = load(manager, dataset=str(_with_unseen_label(tmp_path)), allow_unseen_labels=True)
    assert names == ["neg", "pos"] and len(dataset["validation"]) == 4


@pytest.mark.parametrize(
    "options, expected",
    [
        (["--split-map", "validation"], ["--split-map 'validation'", "is not SPLIT=NAME", "SPLIT=NAME[,SPLIT=NAME"]),
        (["--split-map", "train=train,"], ["--split-map 'train=train,'", "SPLIT=NAME[,SPLIT=NAME"]),
        (["--split-map", "dev=validation"], ["'dev' is not one of taskrun's splits (train, validation, test)"]),
        (["--split-map", "train=train,train=validation"], ["train is named twice"]),
        (
            ["--split-map", "validation=dev"],
            ["--split-map validation=dev", "has no split 'dev'", "its splits are 'train', 'validation'"],
        ),
        (["--split-map", "validation=train"], ["validation and train are all split 'train'"]),
        (["--train", "x.csv"], ["--dataset and --train are mutually exclusive"]),
    ],
    ids=["no-equals", "empty-item", "unknown-split", "twice", "absent-split", "same-split", "with-train"],
)
def test_split_map_and_option_errors(cli, tiny_model, hub_folder, tmp_path, options, expected):
    result = run_dataset(cli, tiny_model, tmp_path / "run", "--dataset", hub_folder, *options)
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.stderr
    assert "Traceback" not in result.output


def test_a_dataset_without_train_split_names_its_splits(cli, tiny_model, tmp_path):
    folder = parquet_folder(tmp_path / "d", {"full": labelled(20, 1)}, class_label_features())
    result = run_dataset(cli, tiny_model, tmp_path / "run", "--dataset", folder)
    assert result.exit_code == 2
    assert "has no 'train' split; its splits are 'full'" in result.stderr and "--split-map train=NAME" in result.stderr


@pytest.mark.parametrize(
    "options, expected",
    [
        ([], "--train FILE (with --validation, --test) or --dataset NAME_OR_FOLDER"),
        (["--train", "{csv}", "--split-map", "validation=dev"], "--split-map applies to --dataset only"),
        (["--dataset", "./no/such/folder"], "--dataset ./no/such/folder: no such folder"),
        (["--dataset", "{csv}"], "a file, not a dataset folder or a Hub dataset name"),
    ],
    ids=["no-data", "split-map-with-files", "no-such-folder", "a-file"],
)
def test_data_source_errors(cli, tiny_model, reviews_csv, tmp_path, connections, options, expected):
    options = [o.format(csv=reviews_csv) for o in options]
    result = run_dataset(cli, tiny_model, tmp_path / "run", "--text-column", "review", *options)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert connections == []  # a path is never sent to the Hub


# -- Hub names that cannot be had ---------------------------------------------------------------


def test_offline_uncached_name_fails_at_once_naming_it(cli, tiny_model, tmp_path, connections, manager):
    result = run_dataset(
        cli, tiny_model, tmp_path / "run", "--dataset", "someone/not-cached-dataset", "--dataset-config", "cfg"
    )
    assert result.exit_code == 3, result.output
    assert "dataset 'someone/not-cached-dataset' (cfg) is not in the local cache and HF_HUB_OFFLINE" in result.stderr
    assert "Pass a local dataset folder to --dataset" in result.stderr
    with pytest.raises(HubUnavailableError):
        load(manager, dataset="someone/not-cached-dataset")
    # No connection attempt at all: datasets' own retries (20 s and more) never start.
    assert connections == [] and not (tmp_path / "run").exists()


def test_offline_set_after_datasets_was_imported_still_fails_at_once(manager, connections, monkeypatch):
    """HF_HUB_OFFLINE set in the process after datasets read it (a notebook): no 20-second retries."""
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # as if imported before the variable was set
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(HubUnavailableError, match="'someone/not-cached-dataset' is not in the local cache"):
        load(manager, dataset="someone/not-cached-dataset")
    assert datasets.config.HF_HUB_OFFLINE is True and connections == []


def test_uncached_name_without_network_fails_after_one_probe(cli, tiny_model, tmp_path, monkeypatch):
    probes = []

    def refuse(address, *args, **kwargs):
        probes.append(address)
        raise OSError("network unreachable (test)")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    hub.hub_reachable.cache_clear()
    try:
        result = run_dataset(cli, tiny_model, tmp_path / "run", "--dataset", "someone/not-cached-dataset")
    finally:
        hub.hub_reachable.cache_clear()
    assert result.exit_code == 3, result.output
    assert "dataset 'someone/not-cached-dataset' must be downloaded" in result.stderr
    assert "cannot be reached" in result.stderr and len(probes) == 1


@pytest.mark.slow  # a taskrun process
def test_offline_flag_uncached_name_fails_without_a_connection_attempt(tiny_model, tmp_path):
    done, attempts = no_network_run(
        tmp_path,
        "run",
        "custom-csv",
        "--model",
        tiny_model,
        "--dataset",
        "someone/not-cached-dataset",
        "--output-dir",
        tmp_path / "run",
        "--offline",
        offline_env=False,
    )
    assert done.returncode == 3, done.stderr
    assert "dataset 'someone/not-cached-dataset' is not in the local cache" in done.stderr
    assert "Traceback" not in done.stderr
    assert attempts == [] and not (tmp_path / "run").exists()
