"""The multiple-choice family: a question (with an optional context) and a list of choices; the
model scores each choice and the answer is the best one.

Everything here is a `taskrun.Family` subclass and plain helpers: taskrun's core knows nothing
of multiple choice. A task names this family with `TaskSpec(family=MULTIPLE_CHOICE)`, and the
runner, `taskrun predict`, `taskrun eval` and the run record take every shape-dependent default
from it.

- Data: `question` (text), `context` (text, may be empty), `choices` (a list of texts), `label`
  (a `ClassLabel` whose names are the choice positions "0", "1", ...; the id is the position of
  the right choice).
- Preprocessing encodes each choice as the pair (context and question, choice), truncated to
  `--max-length` (longest first), so one example is a list of encodings: `input_ids` of shape
  [choices x tokens].
- The collator pads a batch to [batch x choices x tokens] (`ChoiceCollator`); the model is
  `AutoModelForMultipleChoice`, one logit per choice.
- Post-processing: softmax over the choices, argmax; with predict's inputs, each row's answer
  (`choice`: its position, `answer`: its text, `score`: its probability). Metric: accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from taskrun import Family, Predictions, PredictRows
from taskrun.errors import DataError, UsageError

__all__ = ["MultipleChoice", "MULTIPLE_CHOICE", "ChoiceCollator", "read_examples", "question_text", "SEPARATOR"]

SEPARATOR = "\t"  # separates the question and its choices in a text typed on the command line
JSON_LINES = (".jsonl", ".json", ".ndjson")


class MultipleChoice(Family):
    """The right choice among a question's choices."""

    name = "multiple-choice"
    auto_model = "AutoModelForMultipleChoice"
    pipeline_tag = "multiple-choice"  # the Hub's task tag; transformers has no pipeline for it
    problem_types = ("single-label",)

    # -- data ------------------------------------------------------------------------------------

    def check_options(self, task, config):
        if config.class_weights:
            raise UsageError("--class-weights does not apply to multiple choice: the choices are not classes.")

    def check_classes(self, task, counts, label_names):
        """Answers that always sit at one position can be learnt from the position alone: a warning."""
        import logging

        present = [i for i, n in enumerate(counts) if n]
        if len(present) == 1:
            logging.getLogger("taskrun").warning(
                "every training answer is choice %s: the model can learn the position instead of the content; "
                "shuffle the choices.",
                label_names[present[0]],
            )

    # -- the stages ------------------------------------------------------------------------------

    def preprocess(self, task, config, dataset, tokenizer):
        """Every choice encoded as (context and question, choice), cut to `config.max_length`;
        `labels` kept where the split has them; `truncated` marks an example with a cut choice."""
        encoded = {}
        for split, data in dataset.items():
            labelled = task.label_column in data.column_names

            def encode_batch(batch: Any, labelled: bool = labelled) -> dict[str, list[Any]]:
                contexts = batch["context"] if "context" in batch else [""] * len(batch["question"])
                firsts = [question_text(q, c) for q, c in zip(batch["question"], contexts)]
                out = encode_choices(tokenizer, firsts, batch["choices"], config.max_length)
                if labelled:
                    out["labels"] = list(batch[task.label_column])
                return out

            encoded[split] = data.map(
                encode_batch, batched=True, remove_columns=data.column_names, desc=f"Tokenising {split}"
            )
        return type(dataset)(encoded)

    def data_collator(self, task, config, tokenizer):
        return ChoiceCollator(tokenizer)

    def postprocess(self, task, config, logits, inputs=None, label_names=None):
        """Softmax over each example's choices and the argmax; with predict's `inputs`, the choices
        a row does not have (its batch had more) are left out, and `items` holds each answer."""
        logits = np.asarray(logits, dtype=np.float64)
        present = np.ones(logits.shape, dtype=bool)
        if inputs is not None:
            for row, features in enumerate(inputs):
                present[row, len(features["input_ids"]) :] = False
        scores = masked_softmax(logits, present)
        predictions = Predictions(label_ids=scores.argmax(axis=-1), scores=scores)
        if inputs is not None:
            predictions.items = [
                {
                    "choice": int(best),
                    "answer": features["choices"][int(best)],
                    "score": round(float(row[best]), 6),
                    "scores": [round(float(s), 6) for s in row[: len(features["choices"])]],
                }
                for features, row, best in zip(inputs, scores, predictions.label_ids)
            ]
        return predictions

    # -- scoring ----------------------------------------------------------------------------------

    def metric_names(self, task, num_labels):
        return ("accuracy",)

    def metrics(self, task, predictions, references, label_names):
        from taskrun.metrics import accuracy

        return {"accuracy": accuracy(predictions.label_ids, np.asarray(references))}

    def eval_loss(self, task, logits, references, model_loss):
        """Cross-entropy over the choices, as `AutoModelForMultipleChoice` computes it, from the
        logits: the same however the examples were batched."""
        logits = np.asarray(logits, dtype=np.float64)
        references = np.asarray(references).astype(int)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        return float(-np.mean(log_p[np.arange(len(references)), references]))

    # -- a finished run -------------------------------------------------------------------------

    def predict_texts(self, texts, run, where):
        """One question a line or argument: the question, then each choice, separated by tabs
        (`$'Which is good?\\tawful\\tgreat'` in bash); empty choices (a tab at the end) are left out.
        An empty line gets no answer."""
        rows, origin, short = [], [], []
        for number, raw in enumerate(texts, start=1):
            question, *choices = raw.rstrip("\r\n").split(SEPARATOR)
            rows.append({"question": question, "choices": [c for c in choices if c.strip()]})  # no empty choice
            origin.append(f"{where} {number}")
            if raw.strip() and len(rows[-1]["choices"]) < 2:
                short.append(origin[-1])
        if short:
            shown = ", ".join(short[:5]) + (f" ... ({len(short)} in all)" if len(short) > 5 else "")
            raise UsageError(
                f"a question needs at least two choices after it, separated by tabs; {shown} has fewer.",
                hint="Type $'question\\tfirst choice\\tsecond choice' in bash, or pass --input FILE.jsonl with "
                "question and choices fields.",
            )
        return predict_rows(rows, origin, [not raw.strip() for raw in texts])

    def predict_file(self, path, run, options):
        """The rows of a JSON Lines file (`question`, `choices`, optionally `context`), or of a
        CSV/TSV file whose `choices` column holds a JSON list; other fields are kept."""
        for option in ("text_column", "text_pair_column"):
            if options.get(option):
                raise UsageError(
                    f"--{option.replace('_', '-')} does not apply to a multiple-choice model: its input fields "
                    "are question, context and choices."
                )
        records = read_records(Path(path), options.get("format"), options.get("encoding") or "utf-8")
        for line, record in records:
            check_record(record, f"{path}:{line}", labelled=False)
        return predict_rows([r for _, r in records], [f"line {line}" for line, _ in records], [False] * len(records))

    def answers(self, predictions, rows, label_names, all_scores):
        """The chosen `choice` (its position, from 0), its text `answer` and probability `score`;
        with --all-scores, `scores`: every choice's probability."""
        return [
            {key: value for key, value in item.items() if all_scores or key != "scores"}
            for item in predictions.items or []
        ]

    def output_rows(self, rows, suffix):
        """JSON Lines keeps lists as lists; in CSV and TSV a list (the choices) is JSON text."""
        if suffix in JSON_LINES:
            return rows
        return [
            {
                key: json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
                for key, value in row.items()
            }
            for row in rows
        ]

    def table(self, rows, texts):
        several = any("scores" in row for row in rows)
        header = ["CHOICE", "SCORE", "ANSWER", *(["SCORES"] if several else []), "QUESTION"]
        lines = []
        for row, text in zip(rows, texts):
            if "choice" not in row or row["choice"] == "":
                lines.append(["", "", "", *([""] if several else []), text])
                continue
            scores = [" ".join(f"{s:.4f}" for s in row["scores"])] if several else []
            lines.append([str(row["choice"]), f"{row['score']:.4f}", str(row["answer"]), *scores, text])
        return header, lines

    def card_usage(self, run_dir, text_inputs):
        python = (
            "from transformers import AutoModelForMultipleChoice, AutoTokenizer\n"
            f'tokenizer = AutoTokenizer.from_pretrained("{run_dir}")\n'
            f'model = AutoModelForMultipleChoice.from_pretrained("{run_dir}")\n'
            'question, choices = "Which one is good?", ["awful", "great", "dull"]\n'
            'batch = tokenizer([question] * len(choices), choices, padding=True, return_tensors="pt")\n'
            "logits = model(**{k: v.unsqueeze(0) for k, v in batch.items()}).logits[0]\n"
            "print(choices[int(logits.argmax())])"
        )
        return python, f"taskrun predict {run_dir} $'Which one is good?\\tawful\\tgreat\\tdull'"


MULTIPLE_CHOICE = MultipleChoice()


# -- data -----------------------------------------------------------------------------------------


def question_text(question: str, context: str | None) -> str:
    """The first text of every choice's pair: the context, then the question."""
    return f"{context.strip()} {question.strip()}".strip() if context else question.strip()


def read_records(path: Path, fmt: str | None = None, encoding: str = "utf-8") -> list[tuple[int, Any]]:
    """(line, record) for each record of a JSON Lines file (values as JSON gives them), or of a CSV
    or TSV file (values as text; a `choices` cell is parsed as a JSON list). Errors name the line."""
    from taskrun.data import read_table, read_text

    name = path.name.lower().removesuffix(".gz")
    if fmt == "jsonl" or (fmt is None and name.endswith(JSON_LINES)):
        records = []
        for number, line in enumerate(read_text(path, encoding, "JSON Lines").split("\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}:{exc.colno}: not valid JSON: {exc.msg}") from None
        if not records:
            raise DataError(f"{path}: the file holds no records")
        return records
    table = read_table(path, fmt, encoding)
    records = []
    for row, line in zip(table.rows, table.lines):
        record: dict[str, Any] = dict(row)
        if "choices" in record:
            try:
                record["choices"] = json.loads(record["choices"])
            except json.JSONDecodeError:
                raise DataError(
                    f'{path}:{line}: choices must be a JSON list of texts, like ["yes", "no"], '
                    f"not {record['choices']!r}"
                ) from None
        records.append((line, record))
    return records


def check_record(record: Any, where: str, labelled: bool) -> tuple[str, str, list[str], int | None]:
    """A record's question, context, choices and (where `labelled`) label, checked: a DataError
    names `where` (file and line) and the field."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: each line must be a JSON object, found {type(record).__name__}")
    for field in ("question", "choices", *(("label",) if labelled else ())):
        if field not in record:
            raise DataError(f"{where}: the record has no field {field!r} (its fields: {', '.join(record) or 'none'})")
    question, context, choices = record["question"], record.get("context") or "", record["choices"]
    if not isinstance(question, str) or not isinstance(context, str):
        field = "question" if not isinstance(question, str) else "context"
        raise DataError(f"{where}: {field} must be a text, not {record[field]!r}")
    if not question.strip() and not context.strip():
        raise DataError(f"{where}: the question is empty (and there is no context)")
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise DataError(f"{where}: choices must be a list of texts, not {choices!r}")
    if len(choices) < 2:
        raise DataError(f"{where}: a question needs at least two choices, this one has {len(choices)}")
    empty = [i for i, c in enumerate(choices) if not c.strip()]
    if empty:
        raise DataError(f"{where}: choice {empty[0]} is empty")
    if not labelled:
        return question, context, choices, None
    label = record["label"]
    if isinstance(label, str) and label.strip().isdigit():  # CSV and TSV cells are text
        label = int(label)
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < len(choices):
        raise DataError(
            f"{where}: label must be the position of the right choice, from 0 to {len(choices) - 1}, not {label!r}"
        )
    return question, context, choices, label


def read_examples(path: Path, encoding: str = "utf-8") -> dict[str, list[Any]]:
    """A labelled file's columns (question, context, choices, label), checked record by record.
    Every question of one file has the same number of choices: the model trains on batches of
    equal-sized questions, whose padding choices would otherwise score."""
    columns: dict[str, list[Any]] = {"question": [], "context": [], "choices": [], "label": []}
    first = None
    for line, record in read_records(path, None, encoding):
        question, context, choices, label = check_record(record, f"{path}:{line}", labelled=True)
        if first is None:
            first = (line, len(choices))
        elif len(choices) != first[1]:
            raise DataError(
                f"{path}:{line}: {len(choices)} choices, but line {first[0]} has {first[1]}; every question of a "
                "file needs the same number of choices."
            )
        for key, value in zip(columns, (question, context, list(choices), label)):
            columns[key].append(value)
    return columns


def to_dataset(columns: dict[str, list[Any]], positions: int):
    """A `datasets.Dataset` of a file's examples; `label` a ClassLabel of the choice positions."""
    import datasets

    features = datasets.Features(
        {
            "question": datasets.Value("string"),
            "context": datasets.Value("string"),
            "choices": datasets.List(datasets.Value("string")),
            "label": datasets.ClassLabel(names=[str(i) for i in range(positions)]),
        }
    )
    return datasets.Dataset.from_dict(columns, features=features)


# -- the stages -------------------------------------------------------------------------------------


def encode_choices(
    tokenizer: Any, firsts: list[str], choices: list[list[str]], max_length: int
) -> dict[str, list[Any]]:
    """Each example's choices encoded as (first, choice) pairs, unpadded, cut to `max_length`
    (longest first) where longer: one list per example and key, and `truncated`."""
    flat_first = [first for first, options in zip(firsts, choices) for _ in options]
    flat_choice = [choice for options in choices for choice in options]
    encoded = {key: list(values) for key, values in tokenizer(flat_first, flat_choice).items()}
    long = [i for i, ids in enumerate(encoded["input_ids"]) if len(ids) > max_length]
    if long:
        cut = tokenizer(
            [flat_first[i] for i in long], [flat_choice[i] for i in long], truncation=True, max_length=max_length
        )
        for key, values in encoded.items():
            for j, i in enumerate(long):
                values[i] = cut[key][j]
    cut_set, out = set(long), {key: [] for key in [*encoded, "truncated"]}
    start = 0
    for options in choices:
        end = start + len(options)
        for key, values in encoded.items():
            out[key].append([list(v) for v in values[start:end]])
        out["truncated"].append(any(i in cut_set for i in range(start, end)))
        start = end
    return out


class ChoiceCollator:
    """Pads a batch of examples, each a list of encoded choices, to tensors of shape
    [batch x choices x tokens] (the HF course's DataCollatorForMultipleChoice), on the tokenizer's
    padding side. An example with fewer choices than its batch's most (predict only: training
    files have one number of choices) gets filler choices of padding, which post-processing
    leaves out. `labels` become a tensor of choice positions."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def fill(self, key: str) -> int:
        if key == "input_ids":
            return int(self.tokenizer.pad_token_id or 0)
        if key == "token_type_ids":
            return int(getattr(self.tokenizer, "pad_token_type_id", 0) or 0)
        return 0

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        keys = [
            k for k, v in features[0].items() if k != "labels" and isinstance(v, list) and v and isinstance(v[0], list)
        ]
        most = max(len(f["input_ids"]) for f in features)
        longest = max(len(ids) for f in features for ids in f["input_ids"])
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        batch = {}
        for key in keys:
            tensor = torch.full((len(features), most, longest), self.fill(key), dtype=torch.long)
            for i, feature in enumerate(features):
                for j, values in enumerate(feature[key]):
                    row = torch.as_tensor(values, dtype=torch.long)
                    if left:
                        tensor[i, j, longest - len(values) :] = row
                    else:
                        tensor[i, j, : len(values)] = row
            batch[key] = tensor
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([int(f["labels"]) for f in features], dtype=torch.long)
        return batch


# -- post-processing and predict ------------------------------------------------------------------


def masked_softmax(logits: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Probabilities over the choices that are there (the others get 0), in float64."""
    values = np.where(present, logits, -np.inf)
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def predict_rows(rows: list[dict[str, Any]], origin: list[str], blank: list[bool]) -> PredictRows:
    """predict's rows: the examples' columns (question, context, choices, and `text`, the question
    as predict's table shows it); blank rows are skipped."""
    contexts = [row.get("context") or "" for row in rows]
    examples = {
        "question": [row["question"] for row in rows],
        "context": contexts,
        "choices": [list(row["choices"]) for row in rows],
        "text": [question_text(row["question"], c) for row, c in zip(rows, contexts)],
    }
    predict = PredictRows(rows, origin, examples)
    predict.skipped = [i for i, empty in enumerate(blank) if empty]
    return predict
