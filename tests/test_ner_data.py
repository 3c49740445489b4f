"""The `ner` task's data side (taskrun.plugins.ner): CoNLL and JSON Lines readers, a dataset's
splits, the tag scheme checks and conversions, the tag names, and `taskrun_load_dataset`.

Every file is written by the test into tmp_path; the real WNUT 2017 files are read (not copied)
from ../shared/data when they are there."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from taskrun.errors import DataError, HubUnavailableError, UsageError
from taskrun.plugins import ner
from taskrun.task import RunConfig
from taskrun.testing import make_manager

WNUT = Path(__file__).resolve().parents[2] / "shared/data/ner/wnut17"
WNUT_TYPES = ["corporation", "creative-work", "group", "location", "person", "product"]

TRAIN = """\
-DOCSTART- -X- -X- O

John\tB-PER
Smith\tI-PER
lives\tO
in\tO
Paris\tB-LOC
.\tO

Acme   B-ORG
rocks  O
"""
DEV = "Mary\tB-PER\nvisited\tO\nBerlin\tB-LOC\n\nOK\tO\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def jsonl(path: Path, *records, raw: str = "") -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in records) + raw)


def pairs(sentences):
    return [list(zip(s.tokens, s.tags)) for s in sentences]


@pytest.fixture
def manager():
    """The built-ins, and the ner plugin (registered here until it is one of them)."""
    manager = make_manager(plugins=[])
    if "ner" not in manager.tasks():
        manager.register(ner, "ner")
    return manager


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    """datasets' Arrow cache of each test's folders goes under the test's own tmp_path."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")


def load(manager, tmp_path, **given):
    """`taskrun_load_dataset` for `ner` with the task's option defaults, as the command line gives them."""
    options = {option.key: option.default for option in ner.OPTIONS} | given
    config = RunConfig(task="ner", model="x", output_dir=tmp_path / "out", task_options=options)
    return manager.call("taskrun_load_dataset", manager.task("ner"), config=config)


@pytest.fixture
def files(tmp_path):
    return write(tmp_path / "train.conll", TRAIN), write(tmp_path / "dev.conll", DEV)


# -- the task ---------------------------------------------------------------------------------------


def test_the_task_is_registered_as_a_token_classification_task(manager):
    task = manager.task("ner")
    assert task.family == "token-classification"
    assert task.text_columns == ("tokens",) and task.label_column == "tags"
    assert task.metrics == ("precision", "recall", "f1", "accuracy") and task.primary_metric == "f1"
    assert [option.name for option in task.options] == [
        "--train",
        "--validation",
        "--test",
        "--format",
        "--encoding",
        "--scheme",
        "--dataset",
        "--dataset-config",
        "--split-map",
        "--tokens-column",
        "--tags-column",
        "--label-all-subwords",
    ]
    options = {option.key: option for option in task.options}
    assert options["label_all_subwords"].type is bool and options["label_all_subwords"].default is False
    assert options["scheme"].type == ("iob2", "iob1", "bioes") and options["scheme"].default == "iob2"
    assert options["format"].type == ("conll", "jsonl") and options["format"].default is None
    assert options["tags_column"].default is None and options["tokens_column"].default == "tokens"


@pytest.mark.slow  # starts python
def test_importing_the_plugin_does_not_import_datasets():
    code = "import sys, taskrun.plugins.ner; print('datasets' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


# -- CoNLL ------------------------------------------------------------------------------------------


def test_conll_reads_sentences_columns_and_docstart(tmp_path):
    text = (
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"  # CoNLL-2003: token first, tag last
        "-DOCSTART- -X- -X- O\n"
        "Peter\tB-PER\nBlackburn \t I-PER\n"  # a -DOCSTART- line ends a sentence too
        "\t\n  \n"  # whitespace-only lines end a sentence, twice in a row is fine
        "Hi\tO"  # no newline at the end
    )
    sentences = ner.read_conll(write(tmp_path / "train.txt", text))
    assert pairs(sentences) == [
        [("EU", "B-ORG"), ("rejects", "O")],
        [("Peter", "B-PER"), ("Blackburn", "I-PER")],
        [("Hi", "O")],
    ]
    assert [s.line for s in sentences] == [3, 7, 11]
    assert sentences[1].at(1) == f"{tmp_path / 'train.txt'}:8"


def test_conll_line_numbers_follow_crlf_and_cr(tmp_path):
    sentences = ner.read_conll(write(tmp_path / "a.conll", "a\tO\r\n\r\nb\tO\rc\tB-X\r\n"))
    assert pairs(sentences) == [[("a", "O")], [("b", "O"), ("c", "B-X")]]
    assert [s.line for s in sentences] == [1, 3]


def test_conll_byte_order_marks_anywhere_are_dropped(tmp_path):
    # At the start of the file, inside a line, and a line that is only a mark (blank: a boundary).
    text = "\ufeffJohn\tB-PER\nSmith\ufeff\tI-PER\n\ufeff\nhi\tO\n"
    sentences = ner.read_conll(write(tmp_path / "bom.conll", text))
    assert pairs(sentences) == [[("John", "B-PER"), ("Smith", "I-PER")], [("hi", "O")]]
    assert sentences[1].line == 4


def test_conll_line_without_a_tag_names_the_line(tmp_path):
    path = write(tmp_path / "t.conll", "a\tO\nlonely\nb\tO\n")
    with pytest.raises(DataError, match=r"t\.conll:2: 'lonely' has one column and no tag"):
        ner.read_conll(path)


def test_conll_given_json_lines_says_so(tmp_path):
    path = write(tmp_path / "t.txt", '{"tokens":["a"],"tags":["O"]}\n')
    with pytest.raises(DataError, match=r"t\.txt:1: .* one column") as error:
        ner.read_conll(path)
    assert "--format jsonl" in str(error.value)


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- -X- O\n\n", "\ufeff\n"])
def test_conll_without_sentences_names_the_file(tmp_path, text):
    path = write(tmp_path / "empty.conll", text)
    with pytest.raises(DataError, match=r"empty\.conll: no sentences"):
        ner.read_conll(path)


def test_conll_byte_level_checks(tmp_path):
    with pytest.raises(DataError, match=r"missing\.conll: no such file"):
        ner.read_conll(tmp_path / "missing.conll")
    with pytest.raises(DataError, match=r"folder.conll: not a regular file but a folder"):
        (tmp_path / "folder.conll").mkdir()
        ner.read_conll(tmp_path / "folder.conll")
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"a\tO\n\x00\x01\x02")
    with pytest.raises(DataError, match=r"model\.bin: a binary file, not CoNLL text"):
        ner.read_conll(binary)
    latin = write(tmp_path / "latin.conll", "a\tO\nb\tO\nZürich\tB-LOC\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"latin\.conll:3:2: not valid utf-8 \(byte 0xfc\)") as error:
        ner.read_conll(latin)
    assert "--encoding" in str(error.value)
    assert ner.read_conll(latin, encoding="latin-1")[0].tokens[2] == "Zürich"
    with pytest.raises(DataError, match=r"unknown encoding 'klingon'"):
        ner.read_conll(latin, encoding="klingon")


def test_conll_gzipped(tmp_path):
    path = tmp_path / "train.conll.gz"
    path.write_bytes(gzip.compress(b"a\tB-X\nb\tI-X\n"))
    assert pairs(ner.read_file(path)) == [[("a", "B-X"), ("b", "I-X")]]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.jsonl", "jsonl"), ("a.JSON", "jsonl"), ("a.jsonl.gz", "jsonl"), ("a.conll", "conll"), ("a.txt", "conll")],
)
def test_format_by_extension(name, fmt):
    assert ner.detect_format(Path(name)) == fmt
    assert ner.detect_format(Path(name), "conll") == "conll"


# -- JSON Lines -------------------------------------------------------------------------------------


def test_jsonl_reads_records_and_skips_blank_lines(tmp_path):
    path = jsonl(
        tmp_path / "t.jsonl",
        {"tokens": ["John", "runs"], "tags": ["B-PER", "O"], "id": 7},
        raw='\n  \n{"tokens": ["ok"], "tags": ["O"]}\n',
    )
    sentences = ner.read_file(path)
    assert pairs(sentences) == [[("John", "B-PER"), ("runs", "O")], [("ok", "O")]]
    assert [s.line for s in sentences] == [1, 4]
    assert sentences[1].at(0) == f"{path}:4, word 1"


def test_jsonl_columns_by_option_and_ner_tags_by_default(tmp_path):
    named = jsonl(tmp_path / "a.jsonl", {"words": ["a"], "labels": ["B-X"]})
    assert pairs(ner.read_jsonl(named, tokens_column="words", tags_column="labels")) == [[("a", "B-X")]]
    hub_style = jsonl(tmp_path / "b.jsonl", {"tokens": ["a"], "ner_tags": ["B-X"]})
    assert pairs(ner.read_jsonl(hub_style)) == [[("a", "B-X")]]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"tokens": ["a"], "tags": ["O"]', r"t\.jsonl:2:\d+: not valid JSON"),
        ('["a", "O"]', r"t\.jsonl:2: each line must be a JSON object, found list"),
        ('{"tokens": ["a"]}', r"t\.jsonl:2: the record has no field 'tags' \(named by --tags-column\)"),
        ('{"tags": ["O"]}', r"t\.jsonl:2: the record has no field 'tokens' \(named by --tokens-column\)"),
        ('{"tokens": ["a", "b"], "tags": ["O"]}', r"t\.jsonl:2: 2 tokens but 1 tags"),
        ('{"tokens": [], "tags": []}', r"t\.jsonl:2: a sentence with no tokens"),
        ('{"tokens": "a b", "tags": ["O", "O"]}', r"t\.jsonl:2: field 'tokens' must be a list of strings, not str"),
        ('{"tokens": ["a", 2], "tags": ["O", "O"]}', r"t\.jsonl:2: field 'tokens', item 2 is 2, not a string"),
        ('{"tokens": ["a"], "tags": [0]}', r"t\.jsonl:2: field 'tags', item 1 is 0, not a string"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path, line, message):
    path = write(tmp_path / "t.jsonl", '{"tokens": ["x"], "tags": ["O"]}\n' + line + "\n")
    with pytest.raises(DataError, match=message):
        ner.read_jsonl(path)


def test_jsonl_tag_ids_get_a_hint(tmp_path):
    path = jsonl(tmp_path / "ids.jsonl", {"tokens": ["a"], "ner_tags": [3]})
    with pytest.raises(DataError, match=r"item 1 is 3, not a string\n.*Tags are names"):
        ner.read_jsonl(path)


def test_blank_words_are_reported(manager, tmp_path, files, caplog):
    train = jsonl(tmp_path / "train.jsonl", {"tokens": ["a", "", " "], "tags": ["B-X", "O", "O"]})
    with caplog.at_level("WARNING", logger="taskrun.plugins.ner"):
        load(manager, tmp_path, train=train, validation=write(tmp_path / "dev.conll", "a\tB-X\n"))
    assert "2 word(s) empty or white space only" in caplog.text
    assert f"{train}:1, word 2; {train}:1, word 3" in caplog.text


def test_jsonl_without_records_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"e\.jsonl: no sentences"):
        ner.read_jsonl(write(tmp_path / "e.jsonl", "\n \n"))


def test_jsonl_byte_order_mark_at_a_line_start(tmp_path):
    path = write(
        tmp_path / "b.jsonl", '\ufeff{"tokens": ["a"], "tags": ["O"]}\n\ufeff{"tokens": ["b"], "tags": ["O"]}\n'
    )
    assert pairs(ner.read_jsonl(path)) == [[("a", "O")], [("b", "O")]]


# -- tags -------------------------------------------------------------------------------------------


def sentences_of(tmp_path, text, name="t.conll"):
    return ner.read_conll(write(tmp_path / name, text))


def test_iob2_is_kept(tmp_path):
    sentences = ner.to_iob2(sentences_of(tmp_path, "a\tB-X\nb\tI-X\nc\tB-X\nd\tB-Y\ne\tI-Y\nf\tO\n"))
    assert sentences[0].tags == ["B-X", "I-X", "B-X", "B-Y", "I-Y", "O"]


@pytest.mark.parametrize(
    ("text", "line", "after"),
    [
        ("a\tO\nb\tI-PER\n", 2, "after 'O'"),
        ("a\tO\n\nb\tI-PER\n", 3, "at the start of the sentence"),
        ("a\tB-LOC\nb\tI-PER\n", 2, "after 'B-LOC'"),
        ("a\tB-LOC\nb\tI-LOC\nc\tI-PER\n", 3, "after 'I-LOC'"),
    ],
)
def test_iob2_entity_starting_with_i_is_an_error_hinting_iob1(tmp_path, text, line, after):
    with pytest.raises(DataError, match=rf"t\.conll:{line}: tag 'I-PER' {after}: in IOB2") as error:
        ner.to_iob2(sentences_of(tmp_path, text))
    assert "--scheme iob1" in str(error.value) and "(the only one)" in str(error.value)


def test_iob2_error_counts_every_such_tag(tmp_path):
    with pytest.raises(DataError, match=r"t\.conll:1: .*\(3 such tags in all\)"):
        ner.to_iob2(sentences_of(tmp_path, "a\tI-X\n\nb\tI-X\nc\tO\nd\tI-Y\n"))


def test_iob1_is_converted(tmp_path):
    text = "a\tI-PER\nb\tI-PER\nc\tB-PER\nd\tO\ne\tI-LOC\nf\tI-ORG\ng\tI-ORG\n"
    sentences = ner.to_iob2(sentences_of(tmp_path, text), "iob1")
    assert sentences[0].tags == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG"]


def test_bioes_is_converted(tmp_path):
    text = "a\tS-PER\nb\tB-LOC\nc\tI-LOC\nd\tE-LOC\ne\tO\nf\tB-X\ng\tE-X\n"
    sentences = ner.to_iob2(sentences_of(tmp_path, text), "bioes")
    assert sentences[0].tags == ["B-PER", "B-LOC", "I-LOC", "I-LOC", "O", "B-X", "I-X"]


def test_bioes_end_without_a_start_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"t\.conll:2: tag 'E-LOC' after 'O': in BIOES an entity starts with B- or S-"):
        ner.to_iob2(sentences_of(tmp_path, "a\tO\nb\tE-LOC\n"), "bioes")


@pytest.mark.parametrize(
    ("tag", "scheme", "hint"),
    [
        ("PER", "iob2", "needs its prefix"),
        ("S-PER", "iob2", "--scheme bioes"),
        ("E-PER", "iob1", "--scheme bioes"),
        ("U-PER", "bioes", "BILOU"),
        ("B-", "iob2", "last column"),
        ("o", "iob2", "last column"),
        ("X-PER", "bioes", "last column"),
    ],
)
def test_tag_outside_the_scheme_is_named_with_the_scheme(tmp_path, tag, scheme, hint):
    sentences = sentences_of(tmp_path, f"a\tO\nb\t{tag}\n")
    name = {"iob2": "IOB2", "iob1": "IOB1", "bioes": "BIOES"}[scheme]
    with pytest.raises(DataError, match=rf"t\.conll:2: tag '{tag}' is not a {name} tag") as error:
        ner.to_iob2(sentences, scheme)
    assert hint in str(error.value)


def test_tag_with_white_space_in_jsonl_is_refused(tmp_path):
    sentences = ner.read_jsonl(jsonl(tmp_path / "w.jsonl", {"tokens": ["a"], "tags": ["B-PER "]}))
    with pytest.raises(DataError, match=r"w\.jsonl:1, word 1: tag 'B-PER ' is not a IOB2 tag"):
        ner.to_iob2(sentences)


def test_label_names_o_first_then_b_and_i_of_each_type_sorted(tmp_path):
    sentences = ner.to_iob2(sentences_of(tmp_path, "a\tB-per\nb\tO\nc\tB-LOC\nd\tI-LOC\n\ne\tB-creative-work\n"))
    assert ner.label_names(sentences) == ["O", "B-LOC", "I-LOC", "B-creative-work", "I-creative-work", "B-per", "I-per"]


def test_unknown_type_in_validation_names_line_and_known_types(tmp_path):
    labels = ner.label_names(ner.to_iob2(sentences_of(tmp_path, "a\tB-PER\nb\tB-LOC\n")))
    dev = ner.to_iob2(sentences_of(tmp_path, "a\tI-PER\nb\tI-PER\nc\tO\nd\tB-ORG\n", "dev.conll"), "iob1")
    with pytest.raises(DataError, match=r"dev\.conll:4: tag 'B-ORG': entity type 'ORG' .* types are: LOC, PER"):
        ner.check_known_types(dev, labels)


# -- taskrun_load_dataset, files --------------------------------------------------------------------


def test_hook_returns_the_splits_as_tokens_and_tags(manager, tmp_path, files):
    import datasets

    train, dev = files
    test = jsonl(tmp_path / "test.jsonl", {"tokens": ["Bob", "Smith"], "tags": ["B-PER", "I-PER"]})
    data = load(manager, tmp_path, train=train, validation=dev, test=test)
    assert list(data) == ["train", "validation", "test"]
    labels = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    for split in data.values():
        assert split.column_names == ["tokens", "tags"]
        assert split.features["tokens"] == datasets.Sequence(datasets.Value("string"))
        assert split.features["tags"] == datasets.Sequence(datasets.ClassLabel(names=labels))
    assert data["train"]["tokens"] == [["John", "Smith", "lives", "in", "Paris", "."], ["Acme", "rocks"]]
    assert data["train"][0]["tags"] == [5, 6, 0, 0, 1, 0]
    assert data["validation"]["tokens"][1] == ["OK"]
    assert data["test"][0]["tags"] == [5, 6]


def test_hook_converts_the_scheme_of_every_split(manager, tmp_path):
    train = write(tmp_path / "train.conll", "a\tS-X\nb\tO\nc\tB-Y\nd\tE-Y\n")
    dev = write(tmp_path / "dev.conll", "a\tB-Y\nb\tI-Y\nc\tE-Y\n")
    data = load(manager, tmp_path, train=train, validation=dev, scheme="bioes")
    names = data["train"].features["tags"].feature.names
    assert [names[i] for i in data["train"][0]["tags"]] == ["B-X", "O", "B-Y", "I-Y"]
    assert [names[i] for i in data["validation"][0]["tags"]] == ["B-Y", "I-Y", "I-Y"]


def test_hook_format_option_overrides_the_extension(manager, tmp_path):
    train = jsonl(tmp_path / "train.txt", {"tokens": ["a", "b"], "tags": ["B-X", "O"]})
    dev = jsonl(tmp_path / "dev.txt", {"tokens": ["c"], "tags": ["O"]})
    data = load(manager, tmp_path, train=train, validation=dev, format="jsonl")
    assert data["train"]["tokens"] == [["a", "b"]]


def test_hook_accepts_dev_i_tags_of_a_type_whose_i_training_never_saw(manager, tmp_path):
    train = write(tmp_path / "train.conll", "a\tB-X\nb\tO\n")
    dev = write(tmp_path / "dev.conll", "a\tB-X\nb\tI-X\n")
    data = load(manager, tmp_path, train=train, validation=dev)
    assert data["validation"].features["tags"].feature.names == ["O", "B-X", "I-X"]
    assert data["validation"][0]["tags"] == [1, 2]


def test_hook_refuses_types_training_never_saw(manager, tmp_path, files):
    train, dev = files
    test = write(tmp_path / "test.conll", "a\tO\n\nb\tB-MISC\n")
    with pytest.raises(DataError, match=r"test\.conll:3: tag 'B-MISC': entity type 'MISC'.*LOC, ORG, PER"):
        load(manager, tmp_path, train=train, validation=dev, test=test)


def test_hook_refuses_training_data_without_entities(manager, tmp_path, files):
    train = write(tmp_path / "o.conll", "a\tO\nb\tO\n")
    with pytest.raises(DataError, match=r"o\.conll: no entity in the training data: every tag is 'O'"):
        load(manager, tmp_path, train=train, validation=files[1])


def test_hook_without_validation_asks_for_it(manager, tmp_path, files):
    with pytest.raises(UsageError, match="needs a validation file: --validation FILE") as error:
        load(manager, tmp_path, train=files[0])
    assert "does not hold out" in str(error.value)


def test_hook_usage_errors(manager, tmp_path, files):
    with pytest.raises(UsageError, match="ner needs data: --train FILE --validation FILE"):
        load(manager, tmp_path)
    with pytest.raises(UsageError, match="--split-map applies to --dataset only"):
        load(manager, tmp_path, train=files[0], validation=files[1], split_map="validation=dev")
    with pytest.raises(UsageError, match="--dataset and --train, --validation are mutually exclusive"):
        load(manager, tmp_path, train=files[0], validation=files[1], dataset=str(tmp_path))


def test_hook_errors_name_the_file(manager, tmp_path, files):
    with pytest.raises(DataError, match=r"nope\.conll: no such file"):
        load(manager, tmp_path, train=files[0], validation=tmp_path / "nope.conll")
    bad = write(tmp_path / "bad.conll", "a\tO\nb\tI-PER\n")
    with pytest.raises(DataError, match=r"bad\.conll:2: tag 'I-PER' after 'O'"):
        load(manager, tmp_path, train=files[0], validation=bad)
    assert load(manager, tmp_path, train=files[0], validation=bad, scheme="iob1")["validation"][0]["tags"] == [0, 5]


def test_hook_relative_paths_are_from_the_current_folder(manager, tmp_path, files, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = load(manager, tmp_path, train="train.conll", validation=Path("dev.conll"))
    assert len(data["train"]) == 2 and len(data["validation"]) == 2


# -- taskrun_load_dataset, --dataset ----------------------------------------------------------------


def parquet_folder(folder: Path, splits: dict, features) -> Path:
    """A dataset folder as the Hub lays it out: data/SPLIT-00000-of-00001.parquet and a README.md."""
    import datasets

    (folder / "data").mkdir(parents=True)
    for split, columns in splits.items():
        datasets.Dataset.from_dict(columns, features=features).to_parquet(
            str(folder / "data" / f"{split}-00000-of-00001.parquet")
        )
    (folder / "README.md").write_text("# a test dataset\n", encoding="utf-8")
    return folder


def class_label_folder(folder: Path, splits=("train", "validation", "test"), test_tags=(0, 3)) -> Path:
    """Hub-style NER data: `tokens`, `ner_tags` a sequence of ClassLabel (conll2003's order), `id`."""
    import datasets

    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    rows = {
        "train": {
            "id": ["0", "1"],
            "tokens": [["EU", "rejects"], ["Peter", "Blackburn"]],
            "ner_tags": [[3, 0], [1, 2]],
        },
        "validation": {"id": ["0"], "tokens": [["Paris", "Hilton"]], "ner_tags": [[1, 2]]},
        "test": {"id": ["0"], "tokens": [["to", "Paris"]], "ner_tags": [list(test_tags)]},
    }
    return parquet_folder(folder, {split: rows[split] for split in splits}, features)


def test_dataset_with_class_label_tags(manager, tmp_path):
    folder = class_label_folder(tmp_path / "conll-like")
    data = load(manager, tmp_path, dataset=str(folder), split_map="test=test")
    assert list(data) == ["train", "validation", "test"]
    assert data["train"].column_names == ["tokens", "tags"]
    names = data["train"].features["tags"].feature.names
    assert names == ["O", "B-ORG", "I-ORG", "B-PER", "I-PER"]  # training's types, not the ClassLabel's order
    assert [names[i] for i in data["train"][1]["tags"]] == ["B-PER", "I-PER"]
    assert data["validation"][0]["tags"] == [3, 4]
    assert data["test"][0]["tags"] == [0, 1]


def test_dataset_test_type_unseen_in_training_names_split_and_row(manager, tmp_path):
    folder = class_label_folder(tmp_path / "conll-like", test_tags=(0, 5))
    with pytest.raises(DataError, match=r"split 'test', row 0, word 2: tag 'B-LOC': entity type 'LOC'"):
        load(manager, tmp_path, dataset=str(folder), split_map="test=test")
    assert "test" not in load(manager, tmp_path, dataset=str(folder))  # a test split only where named


def test_dataset_with_string_tags_and_named_columns(manager, tmp_path):
    import datasets

    features = datasets.Features(
        {"words": datasets.Sequence(datasets.Value("string")), "labels": datasets.Sequence(datasets.Value("string"))}
    )
    splits = {
        "train": {"words": [["a", "b"]], "labels": [["B-X", "I-X"]]},
        "dev": {"words": [["c"]], "labels": [["B-X"]]},
    }
    folder = parquet_folder(tmp_path / "strings", splits, features)
    data = load(
        manager, tmp_path, dataset=str(folder), split_map="validation=dev", tokens_column="words", tags_column="labels"
    )
    assert data["train"]["tokens"] == [["a", "b"]] and data["validation"][0]["tags"] == [1]
    with pytest.raises(DataError, match=r"no column 'tokens' \(named by --tokens-column\)"):
        load(manager, tmp_path, dataset=str(folder), split_map="validation=dev")


def test_dataset_without_validation_split_asks_for_one(manager, tmp_path):
    folder = class_label_folder(tmp_path / "two", splits=("train", "test"))
    with pytest.raises(UsageError, match="has no 'validation' split; its splits are 'train', 'test'") as error:
        load(manager, tmp_path, dataset=str(folder))
    assert "--split-map validation=NAME" in str(error.value)


def test_dataset_tag_id_outside_the_class_label(tmp_path):
    import datasets

    data = datasets.Dataset.from_dict(
        {"tokens": [["a", "b"]], "ner_tags": [[0, -1]]},
        features=datasets.Features(
            {
                "tokens": datasets.Sequence(datasets.Value("string")),
                "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-X"])),
            }
        ),
    )
    with pytest.raises(DataError, match=r"split 'train', row 0, word 2: tag id -1 in 'ner_tags'"):
        ner.dataset_sentences(data, "dataset 'x', split 'train'")


def test_dataset_name_offline_fails_fast(manager, tmp_path):
    with pytest.raises(HubUnavailableError, match="not in the local cache and HF_HUB_OFFLINE is set"):
        load(manager, tmp_path, dataset="someone/no-such-ner-dataset")


# -- the real WNUT 2017 files -----------------------------------------------------------------------


@pytest.mark.skipif(not WNUT.is_dir(), reason=f"the WNUT 2017 files are not at {WNUT}")
def test_wnut17(manager, tmp_path):
    """train's separators are lines holding a TAB; dev has a line that is a lone BOM, and one
    I- tag that starts an entity (line 1674): IOB2 refuses it, --scheme iob1 reads it."""
    counts = {"train": 3394, "dev": 1009, "test": 1287}
    for name, count in counts.items():
        assert len(ner.read_conll(WNUT / f"{name}.conll")) == count
    with pytest.raises(DataError, match=r"dev\.conll:1674: tag 'I-creative-work' after 'I-person'.*the only one"):
        ner.to_iob2(ner.read_conll(WNUT / "dev.conll"))
    files = {split: WNUT / f"{name}.conll" for split, name in zip(("train", "validation", "test"), counts)}
    data = load(manager, tmp_path, scheme="iob1", **files)
    assert {split: len(data[split]) for split in data} == dict(zip(files, counts.values()))
    names = data["train"].features["tags"].feature.names
    assert names == ["O"] + [f"{p}-{t}" for t in WNUT_TYPES for p in "BI"]
