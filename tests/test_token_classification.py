"""The `ner` task end to end, and the token-classification family behind it: one finished run of
the tiny BERT on synthetic CoNLL files (three entity types), shared by most tests, then
`taskrun predict` against `transformers.pipeline`, `taskrun eval` against the run's metrics.json,
the metrics against seqeval, weights that do not cover the model, class weights, the listings and
the model card, the Python API, and the experiment commands (--seeds, compare, resume).

Every data file is written here; the real WNUT 2017 files are read (not copied) from
../shared/data by one slow test only."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import taskrun
from click.testing import CliRunner
from conftest import taskrun_in_process
from taskrun.cli import main
from taskrun.testing import make_manager

WNUT = Path(__file__).resolve().parents[2] / "shared/data/ner/wnut17"
HELPER = Path(__file__).parent / "helpers" / "killed_taskrun.py"
MAX_LENGTH = 32  # below the tiny tokenizer's 64, so that predict has to cut long texts into windows
TRAIN_SENTENCES, BATCH = 96, 16  # 6 steps an epoch
RUN_OPTIONS = (
    *("--batch-size", str(BATCH), "--learning-rate", "8e-3", "--max-length", str(MAX_LENGTH), "--precision", "fp32"),
)
SHARED_EPOCHS = ("--epochs", "5")  # the shared run: enough to learn every type
SHORT = ("--epochs", "2", "--no-pictures", "--save-every", "none")  # the runs that only need to finish
TYPES = ("LOC", "ORG", "PER")
NAMES = {
    "PER": ["john smith", "mary jones", "alice brown", "peter white", "anna klein", "tom baker"],
    "LOC": ["paris", "berlin", "madrid", "oslo", "vienna", "lisbon"],
    "ORG": ["acme", "globex", "initech", "umbrella", "hooli", "vandelay"],
}
UNSEEN = {"PER": ["rosa diaz", "karl marx"], "LOC": ["quito", "dublin"], "ORG": ["wayne", "cyberdyne"]}
TEMPLATES = [  # a word, or an entity type filled with a name of that type
    ["he", "met", "PER", "in", "LOC", "today"],
    ["shares", "of", "ORG", "rose", "in", "LOC"],
    ["PER", "said", "ORG", "shares", "fell"],
    ["the", "company", "ORG", "reported", "on", "it"],
    ["she", "was", "in", "LOC", "with", "PER"],
]
# Short texts (under MAX_LENGTH tokens: pipeline sees them whole too) with capitals, punctuation,
# an accent, an emoji ([UNK]), entities of each type, and none.
TEXTS = [
    "he met john smith in paris today",
    "Shares of ACME rose in Berlin.",
    "mary jones said hooli shares fell",
    "she was in Oslo with tom baker!",
    "nothing here at all",
    "the company vandelay reported on it 😀",
    "she was in méxico with zoë",
    "x",
]


# -- data and the shared run ------------------------------------------------------------------------


def tagged_sentence(rng: random.Random, names: dict[str, list[str]]) -> list[tuple[str, str]]:
    words = []
    for slot in rng.choice(TEMPLATES):
        if slot not in TYPES:
            words.append((slot, "O"))
            continue
        for i, word in enumerate(rng.choice(names[slot]).split()):
            words.append((word, f"{'B' if i == 0 else 'I'}-{slot}"))
    return words


def write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")
    return path


def conll_sentences(path: Path) -> list[list[tuple[str, str]]]:
    blocks = path.read_text(encoding="utf-8").strip().split("\n\n")
    return [[tuple(line.split("\t")) for line in block.splitlines()] for block in blocks]


@pytest.fixture(scope="module")
def ner_data(tmp_path_factory) -> Path:
    """train.conll (seen names), dev.conll and test.conll (half of the names unseen in training)."""
    folder = tmp_path_factory.mktemp("ner-data")
    rng = random.Random(7)
    mixed = {kind: NAMES[kind][:3] + UNSEEN[kind] for kind in TYPES}
    write_conll(folder / "train.conll", [tagged_sentence(rng, NAMES) for _ in range(TRAIN_SENTENCES)])
    write_conll(folder / "dev.conll", [tagged_sentence(rng, mixed) for _ in range(24)])
    write_conll(folder / "test.conll", [tagged_sentence(rng, mixed) for _ in range(12)])
    return folder


def data_options(data: Path) -> list[str]:
    return ["--train", str(data / "train.conll"), "--validation", str(data / "dev.conll")]


def invoke(*args, stdin=None):
    return CliRunner().invoke(main, [str(a) for a in args], obj=make_manager(plugins=[]), input=stdin)


@pytest.fixture(scope="module", autouse=True)
def module_env(tmp_path_factory):
    """The offline, plugin-free environment of conftest's `_offline_env`, for module fixtures; and
    torch on one thread: the tiny model's steps are too small to share, and on a busy 2-core
    machine two threads made training ten times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        env.setenv("TASKRUN_PLUGINS", "none")
        env.setenv("TASKRUN_CACHE_DIR", str(tmp_path_factory.mktemp("ner-cache")))
        env.delenv("TASKRUN_TRACEBACK", raising=False)
        yield env
    torch.set_num_threads(threads)


def train(folder: Path, tiny_model: Path, data: Path, *options: str) -> Path:
    result = invoke(
        "run", "ner", "--model", tiny_model, *data_options(data), *RUN_OPTIONS, "--output-dir", folder, *options
    )
    assert result.exit_code == 0, result.output + result.stderr
    return folder


@pytest.fixture(scope="module")
def ner_run(tiny_model, ner_data, tmp_path_factory) -> Path:
    """The shared finished run (with its pictures)."""
    return train(tmp_path_factory.mktemp("ner-runs") / "ner", tiny_model, ner_data, *SHARED_EPOCHS)


def metrics_of(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def entities_of(rows: list[dict]) -> list[list[tuple]]:
    return [[(e["type"], e["start"], e["end"], e["text"]) for e in row["entities"]] for row in rows]


def assert_same_table(ours: dict[str, dict], theirs: dict[str, dict]) -> None:
    """Per-type tables with the same types, figures and support."""
    assert list(ours) == list(theirs)
    for kind, row in theirs.items():
        assert ours[kind] == pytest.approx({k: float(v) for k, v in row.items()}), kind


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- predict ------------------------------------------------------------------------------------------


def test_the_run_learned_every_type_and_records_its_family(ner_run):
    evaluation = metrics_of(ner_run)["eval"]
    assert evaluation["f1"] > 0.5, evaluation  # else the comparisons below compare nothing
    assert set(evaluation["per_class"]) == set(TYPES)
    record = json.loads((ner_run / "run_config.json").read_text())
    assert record["family"] == "token-classification" and record["pipeline_tag"] == "token-classification"
    assert record["text_inputs"] == ["tokens"] and record["label_column"] == "tags"
    config = json.loads((ner_run / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert list(config["id2label"].values()) == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert {"per_class.png", "confusion_matrix.png", "training_curves.png"} <= {p.name for p in ner_run.iterdir()}


def test_predict_gives_the_entities_of_pipeline_with_first_aggregation(ner_run, tmp_path):
    from transformers import pipeline

    out = tmp_path / "entities.jsonl"
    result = invoke("predict", ner_run, *TEXTS, "--output", out)
    assert result.exit_code == 0, result.output + result.stderr
    ours = read_jsonl(out)
    assert [row["text"] for row in ours] == TEXTS
    tagger = pipeline("token-classification", model=str(ner_run), aggregation_strategy="first", device="cpu")
    found = set()
    for text, row, theirs in zip(TEXTS, ours, tagger(TEXTS)):
        assert [(e["type"], e["start"], e["end"], e["text"]) for e in row["entities"]] == [
            (e["entity_group"], e["start"], e["end"], text[e["start"] : e["end"]]) for e in theirs
        ], text
        for mine, its in zip(row["entities"], theirs):
            assert mine["score"] == pytest.approx(float(its["score"]), abs=1e-4)
        found |= {e["type"] for e in row["entities"]}
    assert found == set(TYPES)  # the texts do have entities, of every type
    assert ("PER", 7, 17, "john smith") in entities_of(ours)[0]  # two words, one entity


def test_predict_prints_a_table_of_entities(ner_run):
    """Texts as arguments or on standard input, a table of their entities, numbered by input."""
    for result in (
        invoke("predict", ner_run, TEXTS[1], TEXTS[0]),
        invoke("predict", ner_run, stdin=f"{TEXTS[1]}\n{TEXTS[0]}\n"),
    ):
        assert result.exit_code == 0, result.output + result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].split() == ["INPUT", "TYPE", "SCORE", "START", "END", "TEXT"]
        assert any(line.split()[:2] == ["2", "PER"] and line.endswith("john smith") for line in lines[1:])


def test_predict_from_a_text_file_to_jsonl_and_csv(ner_run, tmp_path):
    """A plain-text file: a text a line (a blank line gets no entities). JSON Lines: each input row
    with its entities; CSV: one row per entity, with the number of its input."""
    lines = [TEXTS[0], "", TEXTS[1], TEXTS[3]]
    source = tmp_path / "x.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("predict", ner_run, "--input", source, "--output", tmp_path / "y.jsonl")
    assert result.exit_code == 0, result.output + result.stderr
    assert "1 empty text(s) left without an answer: line 2" in result.stderr
    rows = read_jsonl(tmp_path / "y.jsonl")
    assert [set(row) for row in rows] == [{"text", "entities"}] * 4
    assert [row["text"] for row in rows] == lines
    assert rows[1]["entities"] == []
    by_argument = read_jsonl(argument_predictions(ner_run, tmp_path, TEXTS[0], TEXTS[1]))
    assert [rows[0]["entities"], rows[2]["entities"]] == [row["entities"] for row in by_argument]
    assert all(row["entities"] for row in by_argument)  # so that the CSV below has rows of two inputs

    result = invoke("predict", ner_run, "--input", source, "--output", tmp_path / "y.csv")
    assert result.exit_code == 0, result.output + result.stderr
    with open(tmp_path / "y.csv", newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert table and list(table[0]) == ["input", "type", "score", "start", "end", "text"]
    expected = [(n, e) for n, row in enumerate(rows, start=1) for e in row["entities"]]
    assert len(table) == len(expected)
    for cells, (number, entity) in zip(table, expected):
        assert int(cells["input"]) == number
        assert (cells["type"], int(cells["start"]), int(cells["end"]), cells["text"]) == (
            entity["type"],
            entity["start"],
            entity["end"],
            entity["text"],
        )
        assert float(cells["score"]) == pytest.approx(entity["score"])
        assert lines[number - 1][entity["start"] : entity["end"]] == entity["text"]


def argument_predictions(run: Path, tmp_path: Path, *texts: str) -> Path:
    out = tmp_path / "arguments.jsonl"
    result = invoke("predict", run, *texts, "--output", out)
    assert result.exit_code == 0, result.output + result.stderr
    return out


def test_a_csv_without_entities_still_has_its_header(ner_run, tmp_path):
    source = tmp_path / "blank.txt"
    source.write_text("\n\n", encoding="utf-8")  # texts without words: certainly no entity
    result = invoke("predict", ner_run, "--input", source, "--output", tmp_path / "none.csv")
    assert result.exit_code == 0, result.output + result.stderr
    assert (tmp_path / "none.csv").read_text(encoding="utf-8").splitlines() == ["input,type,score,start,end,text"]


def test_predict_from_a_csv_file_keeps_its_columns(ner_run, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(f'id,sentence\n7,"{TEXTS[0]}"\n8,"{TEXTS[2]}"\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = invoke("predict", ner_run, "--input", source, "--text-column", "sentence", "--output", out)
    assert result.exit_code == 0, result.output + result.stderr
    rows = read_jsonl(out)
    assert [(row["id"], row["sentence"]) for row in rows] == [("7", TEXTS[0]), ("8", TEXTS[2])]
    assert entities_of(rows) == entities_of(read_jsonl(argument_predictions(ner_run, tmp_path, TEXTS[0], TEXTS[2])))


def test_an_entities_column_of_the_input_is_kept_beside_the_predicted_one(ner_run, tmp_path):
    """A gold `entities` column: JSON Lines keep it and add `predicted_entities`; CSV lists the
    predicted entities, one a row."""
    source = tmp_path / "gold.csv"
    source.write_text(f"text,entities\n{TEXTS[0]},PER LOC\n{TEXTS[2]},PER ORG\n", encoding="utf-8")
    expected = read_jsonl(argument_predictions(ner_run, tmp_path, TEXTS[0], TEXTS[2]))
    result = invoke("predict", ner_run, "--input", source, "--output", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output + result.stderr
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [row["entities"] for row in rows] == ["PER LOC", "PER ORG"]
    assert [row["predicted_entities"] for row in rows] == [row["entities"] for row in expected]
    result = invoke("predict", ner_run, "--input", source, "--output", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output + result.stderr
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        table = [(int(r["input"]), r["type"], int(r["start"]), int(r["end"])) for r in csv.DictReader(handle)]
    assert table == [(n, e["type"], e["start"], e["end"]) for n, row in enumerate(expected, 1) for e in row["entities"]]


@pytest.mark.parametrize("pre_tokenizer", ["BertPreTokenizer", "ByteLevel", "Metaspace", "WhitespaceSplit"])
def test_predict_reads_the_words_a_text_spans(pre_tokenizer):
    """The words predict tags are pieces of the text itself, however the model's pre-tokenizer
    writes them (byte-level "Ġmet", SentencePiece "▁met"): those strings, encoded again as words,
    are other tokens than training saw."""
    from taskrun.token_classification import split_words
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    backend.pre_tokenizer = getattr(pre_tokenizers, pre_tokenizer)()
    text = "  Zoë met  John Smith, in Paris 😀!  ok "
    words = split_words(PreTrainedTokenizerFast(tokenizer_object=backend), text)
    assert "".join(word for word, _ in words) == "".join(text.split())
    for word, (start, end) in words:
        assert word and text[start:end] == word and word == word.strip(), (word, start, end)
    assert ("John", (11, 15)) in words


def test_a_text_longer_than_max_length_is_tagged_to_its_last_word(ner_run, tmp_path):
    """Predict cuts a long text into overlapping windows of --max-length tokens: the entities of
    its end are found, as those of the same sentence alone, and nothing is reported truncated."""
    from transformers import AutoTokenizer

    sentence = TEXTS[0]  # "he met john smith in paris today"
    text = " and ".join([sentence] * 6)
    tokenizer = AutoTokenizer.from_pretrained(ner_run)
    assert len(tokenizer(text)["input_ids"]) > 3 * MAX_LENGTH
    first_window = tokenizer(text, truncation=True, max_length=MAX_LENGTH, return_offsets_mapping=True)
    covered = max(end for _, end in first_window["offset_mapping"])

    out = tmp_path / "long.jsonl"
    result = invoke("predict", ner_run, text, sentence, "--output", out)
    assert result.exit_code == 0, result.output + result.stderr
    assert "truncated" not in result.stderr
    long, alone = read_jsonl(out)
    assert alone["entities"], "the sentence alone has entities"
    assert any(e["start"] >= covered for e in long["entities"])
    last = text.rindex(sentence)
    tail = [(e["type"], e["start"] - last, e["end"] - last) for e in long["entities"] if e["start"] >= last]
    assert tail == [(e["type"], e["start"], e["end"]) for e in alone["entities"]]
    for e in long["entities"]:
        assert text[e["start"] : e["end"]] == e["text"]
    # every copy of the sentence is tagged (a window's edge does not lose a word)
    for copy in (m.start() for m in re.finditer(re.escape(sentence), text)):
        assert any(copy <= e["start"] < copy + len(sentence) for e in long["entities"]), copy


def test_the_python_api_returns_entities(ner_run, tmp_path):
    one = taskrun.predict(ner_run, TEXTS[0])
    assert len(one) == 1 and one[0]["text"] == TEXTS[0]
    assert entities_of(one) == entities_of(read_jsonl(argument_predictions(ner_run, tmp_path, TEXTS[0])))
    several = taskrun.predict(ner_run, [TEXTS[1], "", TEXTS[2]])
    assert [row["text"] for row in several] == [TEXTS[1], "", TEXTS[2]]
    assert several[1]["entities"] == [] and several[0]["entities"] and several[2]["entities"]
    assert {"type", "score", "start", "end", "text"} == set(several[0]["entities"][0])


# -- eval and the metrics --------------------------------------------------------------------------------


def test_eval_gives_the_runs_figures(ner_run, ner_data, tmp_path):
    out = tmp_path / "eval.json"
    result = invoke("eval", ner_run, "ner", *data_options(ner_data), "--output", out)
    assert result.exit_code == 0, result.output + result.stderr
    ours, recorded = json.loads(out.read_text()), metrics_of(ner_run)["eval"]
    assert ours["samples"] == recorded["samples"] == 24
    for key in ("loss", "precision", "recall", "f1", "accuracy"):
        assert ours[key] == pytest.approx(recorded[key], abs=1e-4), key
    assert_same_table(ours["per_class"], recorded["per_class"])
    assert ours["confusion_matrix"] == recorded["confusion_matrix"]
    assert f"f1 {recorded['f1']:.4f}" in result.stdout
    train, validation = data_options(ner_data)[1::2]
    assert taskrun.evaluate(ner_run, "ner", train=train, validation=validation) == ours


@pytest.fixture(scope="module")
def all_subwords_run(tiny_model, ner_data, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ner-all-subwords") / "all-subwords"
    return train(folder, tiny_model, ner_data, *SHORT, "--label-all-subwords")


def eval_figures(run: Path, data: Path, tmp_path: Path, *options: str) -> dict:
    out = tmp_path / "eval.json"
    result = invoke("eval", run, "ner", *data_options(data), *options, "--output", out)
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(out.read_text())


def test_eval_of_a_run_that_labelled_every_subword_with_the_option_again(all_subwords_run, ner_data, tmp_path):
    """--label-all-subwords scores every sub-word (as run_ner.py's label_all_tokens): eval with
    the option gives the run's figures."""
    recorded = metrics_of(all_subwords_run)["eval"]
    ours = eval_figures(all_subwords_run, ner_data, tmp_path, "--label-all-subwords")
    for key in ("loss", "precision", "recall", "f1", "accuracy"):
        assert ours[key] == pytest.approx(recorded[key], abs=1e-4), key
    words = sum(len(s) for s in conll_sentences(ner_data / "dev.conll"))
    assert sum(map(sum, recorded["confusion_matrix"]["rows_true_columns_predicted"])) > words  # sub-words


def test_eval_of_a_run_that_labelled_every_subword_gives_its_figures(all_subwords_run, ner_data, tmp_path):
    recorded = metrics_of(all_subwords_run)["eval"]
    ours = eval_figures(all_subwords_run, ner_data, tmp_path)
    for key in ("loss", "precision", "recall", "f1", "accuracy"):
        assert ours[key] == pytest.approx(recorded[key], abs=1e-4), key


def first_subword_logits(run: Path, sentences: list[list[tuple[str, str]]]) -> list[np.ndarray]:
    """Each sentence's logits at the first sub-word of each of its words (a row a word), from the
    saved model, one sentence at a time."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run)
    model = AutoModelForTokenClassification.from_pretrained(run).eval()
    out = []
    for sentence in sentences:
        encoded = tokenizer([w for w, _ in sentence], is_split_into_words=True, return_tensors="pt")
        assert encoded["input_ids"].shape[1] <= MAX_LENGTH  # nothing is cut: every word is scored
        with torch.no_grad():
            logits = model(**encoded).logits[0].double().numpy()
        first: dict[int, int] = {}
        for position, word in enumerate(encoded.word_ids(0)):
            if word is not None and word not in first:
                first[word] = position
        out.append(logits[[first[i] for i in range(len(sentence))]])
    return out


def first_subword_tags(run: Path, sentences: list[list[tuple[str, str]]]) -> list[list[str]]:
    """The tag the saved model gives each word (at its first sub-word)."""
    names = json.loads((run / "config.json").read_text())["id2label"]
    return [[names[str(i)] for i in logits.argmax(-1)] for logits in first_subword_logits(run, sentences)]


def test_entity_figures_are_seqevals_on_the_models_own_predictions(ner_run, ner_data, tmp_path):
    """precision, recall, F1, accuracy and the per-type table of metrics.json (validation) and of
    `taskrun eval --split test` equal seqeval's on predictions recomputed here from the logits."""
    from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score

    out = tmp_path / "test.json"
    result = invoke(
        "eval", ner_run, "ner", *data_options(ner_data), "--test", ner_data / "test.conll", "--split", "test",
        "--output", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    for split, figures in (("dev", metrics_of(ner_run)["eval"]), ("test", json.loads(out.read_text()))):
        sentences = conll_sentences(ner_data / f"{split}.conll")
        true = [[t for _, t in s] for s in sentences]
        predicted = first_subword_tags(ner_run, sentences)
        assert figures["precision"] == pytest.approx(precision_score(true, predicted, zero_division=0)), split
        assert figures["recall"] == pytest.approx(recall_score(true, predicted, zero_division=0)), split
        assert figures["f1"] == pytest.approx(f1_score(true, predicted, zero_division=0)), split
        assert figures["accuracy"] == pytest.approx(accuracy_score(true, predicted)), split
        report = classification_report(true, predicted, output_dict=True, zero_division=0)
        expected = {
            kind: {"precision": r["precision"], "recall": r["recall"], "f1": r["f1-score"], "support": r["support"]}
            for kind, r in report.items()
            if not kind.endswith(" avg")
        }
        assert_same_table(figures["per_class"], expected)
        labels = figures["confusion_matrix"]["labels"]
        matrix = np.zeros((len(labels), len(labels)), dtype=int)
        for sentence_true, sentence_predicted in zip(true, predicted):
            for t, p in zip(sentence_true, sentence_predicted):
                matrix[labels.index(t), labels.index(p)] += 1
        assert figures["confusion_matrix"]["rows_true_columns_predicted"] == matrix.tolist(), split
    assert 0 < figures["f1"] < 1  # unseen names: the figures are not all trivially 1


def test_eval_matches_tags_by_name_not_position(ner_run, ner_data, tmp_path):
    """Data without ORG has other tag ids (O, B-LOC, I-LOC, B-PER, I-PER): eval maps them to the
    model's by name, and scores what seqeval scores on the model's own predictions."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    sentences = {}
    for split in ("train", "dev"):
        kept = [s for s in conll_sentences(ner_data / f"{split}.conll") if all("ORG" not in t for _, t in s)]
        sentences[split] = kept
        write_conll(tmp_path / f"{split}.conll", kept)
    out = tmp_path / "eval.json"
    options = ["--train", tmp_path / "train.conll", "--validation", tmp_path / "dev.conll"]
    result = invoke("eval", ner_run, "ner", *options, "--output", out)
    assert result.exit_code == 0, result.output + result.stderr
    figures = json.loads(out.read_text())
    true = [[t for _, t in s] for s in sentences["dev"]]
    predicted = first_subword_tags(ner_run, sentences["dev"])
    assert figures["samples"] == len(true) and {"LOC", "PER"} <= set(figures["per_class"])
    assert figures["per_class"]["PER"]["support"] == sum(t == "B-PER" for s in true for t in s)
    assert figures["precision"] == pytest.approx(precision_score(true, predicted, zero_division=0))
    assert figures["recall"] == pytest.approx(recall_score(true, predicted, zero_division=0))
    assert figures["f1"] == pytest.approx(f1_score(true, predicted, zero_division=0))


def test_eval_names_the_tags_the_model_does_not_have_and_what_becomes_of_them(ner_run, ner_data, tmp_path):
    """A tag the model was not trained with (MISC) has no id in it: its words are left out of the
    scores, and eval says so (it said they "count as errors", which they do not)."""
    for split in ("train", "dev"):
        sentences = conll_sentences(ner_data / f"{split}.conll")
        sentences[0] = [("Eurovision", "B-MISC"), *sentences[0]]
        write_conll(tmp_path / f"{split}.conll", sentences)
    options = ["--train", tmp_path / "train.conll", "--validation", tmp_path / "dev.conll"]
    result = invoke("eval", ner_run, "ner", *options)
    assert result.exit_code == 0, result.output + result.stderr
    assert "labels the model does not have: B-MISC, I-MISC; the words tagged so are left out" in result.stderr


# -- a run folder that does not hold its model -----------------------------------------------------------


def without_classifier(run: Path, to: Path) -> Path:
    from safetensors.torch import load_file, save_file

    shutil.copytree(run, to)
    weights = load_file(to / "model.safetensors")
    assert {"classifier.weight", "classifier.bias"} <= set(weights)
    save_file(
        {k: v for k, v in weights.items() if not k.startswith("classifier.")},
        to / "model.safetensors",
        {"format": "pt"},
    )
    return to


def as_other_family(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    record = json.loads((to / "run_config.json").read_text())
    record["family"] = "sequence-classification"
    (to / "run_config.json").write_text(json.dumps(record))
    return to


@pytest.mark.parametrize(
    "damage, named",
    [
        (without_classifier, ["classifier.weight", "classifier.bias"]),
        (as_other_family, ["bert.pooler.dense.weight"]),
    ],
    ids=["classifier-deleted", "family-changed"],
)
def test_weights_that_do_not_cover_the_model_are_refused(ner_run, ner_data, tmp_path, damage, named):
    from taskrun.errors import ModelSourceError

    broken = damage(ner_run, tmp_path / "broken")
    for result in (
        invoke("predict", broken, TEXTS[0]),
        invoke("eval", broken, "ner", *data_options(ner_data)),
    ):
        assert result.exit_code == 3, result.output + result.stderr
        assert "the saved weights do not cover" in result.stderr
        assert all(name in result.stderr for name in named), result.stderr
        assert not result.stdout.strip()  # no answer from a random head
    with pytest.raises(ModelSourceError, match=re.escape(named[0])):
        taskrun.predict(broken, TEXTS[0])


# -- class weights -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def balanced_run(tiny_model, ner_data, tmp_path_factory) -> Path:
    """seeds/seed-1's settings with --class-weights balanced."""
    folder = tmp_path_factory.mktemp("ner-balanced") / "balanced"
    return train(folder, tiny_model, ner_data, *SHORT, "--seed", "1", "--class-weights", "balanced")


def validation_loss(run: Path, data: Path, label_counts: dict[str, int] | None = None) -> float:
    """Cross-entropy over the validation words (their first sub-words) from the saved model, in
    one batch as the runs evaluate 24 sentences (batch size 2 x 16): the mean, or with
    `label_counts` weighted by n / (tags seen * count) per tag and divided by the words."""
    sentences = conll_sentences(data / "dev.conll")
    id2label = json.loads((run / "config.json").read_text())["id2label"]
    names = [id2label[str(i)] for i in range(len(id2label))]
    weights = np.ones(len(names))
    if label_counts is not None:
        counts = np.array([label_counts[name] for name in names], dtype=float)
        seen = np.count_nonzero(counts)
        weights = np.divide(counts.sum(), seen * counts, out=np.zeros_like(counts), where=counts > 0)
    total, words = 0.0, 0
    for sentence, logits in zip(sentences, first_subword_logits(run, sentences)):
        log_p = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
        for (_, tag), row in zip(sentence, log_p):
            total -= weights[names.index(tag)] * row[names.index(tag)]
            words += 1
    return total / words


def test_balanced_class_weights_weigh_the_loss_by_tag(balanced_run, seeds, ner_data):
    """The only difference to seed-1 is the weighting: the training loss differs, and the run
    reports the balanced cross-entropy over the tags beside the plain one."""
    record = json.loads((balanced_run / "run_config.json").read_text())
    assert record["class_weights"] == "balanced" and record["seed"] == 1
    weighted, plain = metrics_of(balanced_run), metrics_of(seeds / "seed-1")
    counts = weighted["train"]["label_counts"]
    assert counts == plain["train"]["label_counts"] and counts["O"] > 3 * counts["B-PER"]
    assert counts["I-LOC"] == 0  # a tag training never saw: weight 0, not a division by zero
    assert all(math.isfinite(weighted["eval"][k]) for k in ("loss", "f1", "precision", "recall", "accuracy"))
    assert weighted["train"]["loss"] != pytest.approx(plain["train"]["loss"], rel=1e-3)
    balanced, own = validation_loss(balanced_run, ner_data, counts), validation_loss(balanced_run, ner_data)
    assert balanced != pytest.approx(own, abs=1e-3)
    # both losses, named: the objective training minimised, and the model's own (comparable across runs)
    assert weighted["eval"]["objective_loss"] == pytest.approx(balanced, abs=1e-4)
    assert weighted["eval"]["loss"] == pytest.approx(own, abs=1e-4)
    assert "objective_loss" not in plain["eval"]
    # and the unweighted runs' figure is the plain cross-entropy
    unweighted = validation_loss(seeds / "seed-1", ner_data)
    assert plain["eval"]["loss"] == pytest.approx(unweighted, abs=1e-4)


def test_eval_of_a_class_weighted_run_gives_its_figures(balanced_run, ner_data, tmp_path):
    out = tmp_path / "eval.json"
    result = invoke("eval", balanced_run, "ner", *data_options(ner_data), "--output", out)
    assert result.exit_code == 0, result.output + result.stderr
    ours, recorded = json.loads(out.read_text()), metrics_of(balanced_run)["eval"]
    for key in ("precision", "recall", "f1", "accuracy"):
        assert ours[key] == pytest.approx(recorded[key], abs=1e-4), key
    for key in ("loss", "objective_loss"):  # the model's own loss, and the balanced one it trained on
        assert ours[key] == pytest.approx(recorded[key], abs=1e-4), key


# -- listings and the model card -------------------------------------------------------------------------------


def test_list_and_info_name_the_family():
    listed = invoke("list")
    assert listed.exit_code == 0, listed.output
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith("ner "))
    assert row[3] == "token-classification"
    as_json = invoke("list", "--json")
    ner = next(task for task in json.loads(as_json.stdout)["tasks"] if task["task"] == "ner")
    assert ner["family"] == "token-classification"
    info = invoke("info", "ner")
    assert info.exit_code == 0, info.output
    assert re.search(r"^\s+problem\s+token-classification$", info.stdout, re.M), info.stdout
    assert re.search(r"^\s+metrics\s+precision, recall, f1, accuracy; primary f1", info.stdout, re.M)


def test_the_model_card_says_token_classification_and_its_examples_work(ner_run, tmp_path, monkeypatch):
    from huggingface_hub import ModelCard

    card = ModelCard.load(ner_run / "README.md")
    assert card.data.pipeline_tag == "token-classification"
    assert "token-classification" in card.data.tags and "ner" in card.data.tags
    assert card.data.eval_results[0].task_type == "token-classification"
    assert "| problem | token-classification |" in card.text
    for kind in TYPES:
        assert re.search(rf"^\| {kind} \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| \d+ \|$", card.text, re.M), kind

    python = re.search(r"```python\n(.*?)```", card.text, re.S).group(1)
    assert 'aggregation_strategy="first"' in python
    *setup, call = python.strip().splitlines()
    scope: dict = {}
    exec("\n".join(setup), scope)
    entities = eval(call, scope)
    assert isinstance(entities, list) and all({"entity_group", "start", "end", "score"} <= set(e) for e in entities)

    commands = re.search(r"```\n(taskrun predict.*?)```", card.text, re.S).group(1).strip().splitlines()
    assert len(commands) == 2
    monkeypatch.chdir(tmp_path)  # the second writes predictions.csv here, from texts.csv here
    Path("texts.csv").write_text(f"text\n{TEXTS[0]}\n", encoding="utf-8")
    for command in commands:
        argv = shlex.split(command)
        assert argv[:2] == ["taskrun", "predict"] and argv[2] == str(ner_run)
        result = invoke(*argv[1:])
        assert result.exit_code == 0, command + "\n" + result.output + result.stderr
    with open("predictions.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and rows[0]["type"] in TYPES


# -- experiments ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds(tiny_model, ner_data, tmp_path_factory) -> Path:
    """Two short runs, seeds 1 and 2, in seeds/seed-1 and seeds/seed-2."""
    return train(tmp_path_factory.mktemp("ner-seeds") / "seeds", tiny_model, ner_data, *SHORT, "--seeds", "1,2")


def test_seeds_summarise_the_entity_figures(seeds):
    summary = json.loads((seeds / "summary.json").read_text())
    assert summary["seeds"] == [1, 2] and summary["primary_metric"]["name"] == "f1"
    assert list(summary["metrics"])[0] == "f1"
    for metric in ("f1", "precision", "recall", "accuracy"):
        runs = [metrics_of(seeds / f"seed-{s}")["eval"][metric] for s in (1, 2)]
        figures = summary["metrics"][metric]
        assert figures["runs"] == {"1": runs[0], "2": runs[1]}
        assert figures["mean"] == pytest.approx(np.mean(runs))
        assert figures["std"] == pytest.approx(np.std(runs, ddof=1))


def test_compare_two_ner_runs(seeds):
    result = invoke("compare", seeds, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    assert data["differing_settings"] == ["seed"] and data["warnings"] == []
    assert data["metrics"][0] == "f1" and {"precision", "recall", "accuracy", "loss"} <= set(data["metrics"])
    by_name = {row["run"]: row for row in data["runs"]}
    assert set(by_name) == {"seed-1", "seed-2"}
    for name, row in by_name.items():
        recorded = metrics_of(seeds / name)["eval"]
        assert row["metrics"] == {m: recorded[m] for m in data["metrics"]}
    f1 = {name: row["metrics"]["f1"] for name, row in by_name.items()}
    if f1["seed-1"] != f1["seed-2"]:
        assert {name for name, row in by_name.items() if row["best"]} == {max(f1, key=f1.get)}
    table = invoke("compare", seeds / "seed-1", seeds / "seed-2")
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].split()[:3] == ["RUN", "SEED", "F1"]


@pytest.mark.slow
def test_an_interrupted_ner_run_resumes_to_the_same_model(ner_run, ner_data, tiny_model, tmp_path):
    """SIGKILLed in its second epoch (helpers/killed_taskrun.py), the run resumes from the first
    epoch's checkpoint and ends with the weights and figures of the shared, uninterrupted run."""
    from safetensors.torch import load_file

    args = [
        "run", "ner", "--model", str(tiny_model), *data_options(ner_data), *RUN_OPTIONS, *SHARED_EPOCHS,
        "--output-dir", str(tmp_path / "killed"),
    ]  # fmt: skip
    # one thread, as the shared run trained (module_env): the same sums in the same order
    env = {
        **os.environ,
        "TASKRUN_CACHE_DIR": str(tmp_path / "cache"),
        "TASKRUN_PLUGINS": "none",
        "OMP_NUM_THREADS": "1",
    }
    steps = TRAIN_SENTENCES // BATCH

    def taskrun(*command):
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

    killed = taskrun(sys.executable, str(HELPER), "step", str(steps + 3), *args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = taskrun_in_process([*args, "--resume", "auto"], cache=tmp_path / "cache")
    assert resumed.returncode == 0, resumed.stderr
    assert f"checkpoint-{steps} (step {steps})" in resumed.stderr
    ours, theirs = load_file(tmp_path / "killed" / "model.safetensors"), load_file(ner_run / "model.safetensors")
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert ours[name].equal(theirs[name]), name
    for key in ("loss", "f1", "precision", "recall", "accuracy"):
        assert metrics_of(tmp_path / "killed")["eval"][key] == metrics_of(ner_run)["eval"][key], key


# -- the real data -----------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not (WNUT / "train.conll").is_file(), reason="needs ../shared/data/ner/wnut17")
def test_wnut17_trains_evaluates_and_predicts(tiny_model, tmp_path):
    """A few steps on WNUT 2017 (IOB1 reading for dev.conll's stray I- tag): the run's figures,
    `taskrun eval` of them, and predict on a tweet-like text."""
    run = tmp_path / "wnut"
    options = [
        *("--train", WNUT / "train.conll", "--validation", WNUT / "dev.conll", "--scheme", "iob1"),
        *("--max-eval-samples", "64"),
    ]
    result = invoke(
        "run", "ner", "--model", tiny_model, *options, "--max-train-samples", "64", "--epochs", "1",
        "--batch-size", "16", "--learning-rate", "1e-3", "--precision", "fp32", "--no-pictures",
        "--output-dir", run,
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    metrics = metrics_of(run)
    assert metrics["train"]["samples"] == 64 and metrics["train"]["steps"] == 4
    assert metrics["eval"]["samples"] == 64
    assert all(math.isfinite(metrics["eval"][k]) for k in ("loss", "precision", "recall", "f1", "accuracy"))
    types = ["corporation", "creative-work", "group", "location", "person", "product"]
    config = json.loads((run / "config.json").read_text())
    assert list(config["id2label"].values()) == ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]

    out = tmp_path / "eval.json"
    evaluated = invoke("eval", run, "ner", *options, "--output", out)
    assert evaluated.exit_code == 0, evaluated.output + evaluated.stderr
    for key in ("loss", "precision", "recall", "f1", "accuracy"):
        assert json.loads(out.read_text())[key] == pytest.approx(metrics["eval"][key], abs=1e-4), key

    text = "@paul &gt; new iPhone 😀 in New York City tonight #wnut"
    predicted = invoke("predict", run, text, "--output", tmp_path / "p.jsonl")
    assert predicted.exit_code == 0, predicted.output + predicted.stderr
    (row,) = read_jsonl(tmp_path / "p.jsonl")
    assert row["text"] == text and isinstance(row["entities"], list)
    for entity in row["entities"]:
        assert entity["type"] in types and text[entity["start"] : entity["end"]] == entity["text"]
