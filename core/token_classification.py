"""The token-classification family: a tag for every word (named entities in IOB2, part-of-speech
tags, ...), as Hugging Face's `run_ner.py` and `pipeline("token-classification")` cut it.

- Data: a split has a word-list column (`task.text_columns[0]`, e.g. `tokens`) and a tag column
  (`task.label_column`): a sequence of `ClassLabel` ids.
- Preprocessing tokenises the words (`is_split_into_words=True`); the first sub-word of each word
  carries its tag, the other pieces and the special tokens get -100 (ignored by the loss and the
  metrics), or, with the task option `label_all_subwords`, every piece carries the word's tag
  (I- for the continuation of a B- word). Sentences longer than `--max-length` are cut and
  counted. A split without tags (predict) is cut into overlapping windows instead, so that every
  word is tagged; a column `example` says which example each window came from.
- Post-processing: softmax and argmax per token. With the examples' features (predict), each
  word's tag is read at its first sub-word (`pipeline`'s `aggregation_strategy="first"`) and
  adjacent words of one type are joined into entities with character offsets.
- Metrics: entity-level precision, recall and F1 (micro) from seqeval's default evaluation, and
  token accuracy; per entity type in the per-class table; a confusion matrix of tags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, UsageError
from .family import Family, PredictRows, confusion_matrix, softmax
from .task import Predictions, RunConfig

__all__ = ["TokenClassification", "entities_from_words", "AGGREGATION"]

IGNORED = -100
AGGREGATION = "first"  # the pipeline aggregation strategy whose entities `taskrun predict` gives
NO_WORD = -1  # word_ids of a special token


class TokenClassification(Family):
    """A tag for every word; entities are runs of B-/I- tags of one type."""

    name = "token-classification"
    auto_model = "AutoModelForTokenClassification"
    pipeline_tag = "token-classification"
    problem_types = ("single-label",)
    unseen_labels_note = "the words tagged so are left out of the scores (their entities count neither way)"
    sort_eval = False  # the loss averages over a batch's tokens: batch as the run's evaluation did

    # -- data ------------------------------------------------------------------------------------

    def class_counts(self, task, train, label_names):
        """How many words of the training data carry each tag."""
        counts = [0] * len(label_names)
        for tags in train[task.label_column]:
            for tag in tags:
                if 0 <= tag < len(counts):
                    counts[tag] += 1
        return counts

    def check_classes(self, task, counts, label_names):
        """Training data whose words all carry one tag (no entity at all) cannot teach anything."""
        if sum(1 for n in counts if n) < 2:
            only = label_names[counts.index(max(counts))] if any(counts) else "none"
            raise DataError(
                f"task {task.name!r}: every word of the training data has the tag {only!r}; "
                "a tagger needs at least two tags (are the tags in the last column?)."
            )

    def align_labels(self, tokenized, dataset, task, label_names):
        """A split whose tag names differ from training's has its tag ids mapped by name; a tag the
        model does not have is ignored (-100) and its sentences counted."""
        from .data import class_names
        from .splits import ids_by_name

        unseen: dict[str, int] = {}
        for split in tokenized:
            names = class_names(dataset[split].features.get(task.label_column)) if split in dataset else []
            if not names or names == label_names or "labels" not in tokenized[split].column_names:
                continue
            to_model = ids_by_name(names, label_names)

            def mapped(row: dict[str, Any]) -> dict[str, Any]:
                return {"labels": [to_model.get(t, IGNORED) if t != IGNORED else t for t in row["labels"]]}

            original = tokenized[split]["labels"]
            tokenized[split] = tokenized[split].map(mapped)
            unseen[split] = sum(
                1
                for before, after in zip(original, tokenized[split]["labels"])
                if sum(t == IGNORED for t in after) > sum(t == IGNORED for t in before)
            )
        return tokenized, unseen

    # -- the stages ------------------------------------------------------------------------------

    def preprocess(self, task, config, dataset, tokenizer):
        """Tokenise the words of every split and align the tags to the first sub-word of each
        word (see the module's docstring). Keeps `word_ids` (-1 for special tokens)."""
        words_column, tags_column = task.text_columns[0], task.label_column
        label_all = bool(config.task_options.get("label_all_subwords", False))
        if not getattr(tokenizer, "is_fast", False):
            raise UsageError(
                f"task {task.name!r} needs a fast tokenizer (word ids per token); this model's is a slow one."
            )
        encoded = {}
        for split, data in dataset.items():
            names = _tag_names(data.features.get(tags_column))
            if tags_column in data.column_names:

                def encode_batch(batch: dict[str, list[Any]], names: list[str] = names) -> dict[str, list[Any]]:
                    return _encode_tagged(tokenizer, batch[words_column], batch[tags_column], names, config, label_all)

                remove = data.column_names
            else:

                def encode_batch(batch: dict[str, list[Any]], names: list[str] = names) -> dict[str, list[Any]]:
                    return _encode_windows(tokenizer, batch[words_column], config.max_length)

                remove = data.column_names
            encoded[split] = data.map(encode_batch, batched=True, remove_columns=remove, desc=f"Tokenising {split}")
        return type(dataset)(encoded)

    def data_collator(self, task, config, tokenizer):
        """Dynamic padding of the inputs, and of `labels` with -100."""
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer)

    def postprocess(self, task, config, logits, inputs=None, label_names=None):
        """Tag ids and probabilities per token; with the examples' features (predict), the entities
        of each example in `items` (see `entities_from_words`)."""
        scores = softmax(np.asarray(logits, dtype=np.float64))
        predictions = Predictions(label_ids=scores.argmax(axis=-1), scores=scores)
        if inputs is not None and label_names:
            predictions.items = word_entities(scores, inputs, label_names)
        return predictions

    # -- scoring ----------------------------------------------------------------------------------

    def metric_names(self, task, num_labels):
        return ("precision", "recall", "f1", "accuracy")

    def metrics(self, task, predictions, references, label_names):
        """seqeval's entity precision, recall and F1 (micro, its default evaluation) and token
        accuracy, over the positions that carry a tag."""
        from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

        true, predicted = tag_sequences(predictions.label_ids, references, label_names)
        return {
            "precision": float(precision_score(true, predicted, zero_division=0)),
            "recall": float(recall_score(true, predicted, zero_division=0)),
            "f1": float(f1_score(true, predicted, zero_division=0)),
            "accuracy": float(accuracy_score(true, predicted)),
        }

    def evaluate_inputs(self, task, predictions, references, label_names):
        """The predicted and the true tag names of each sentence, without the positions that carry
        no tag (-100): what evaluate's `seqeval` module takes."""
        true, predicted = tag_sequences(predictions.label_ids, references, label_names)
        return predicted, true

    def class_figures(self, task, predictions, references, label_names):
        """Per entity type: precision, recall, F1 and support (seqeval's classification_report);
        and the confusion matrix of the tags, over the words."""
        from seqeval.metrics import classification_report

        true, predicted = tag_sequences(predictions.label_ids, references, label_names)
        report = classification_report(true, predicted, output_dict=True, zero_division=0)
        per_type = {
            name: {
                "precision": float(row["precision"]),
                "recall": float(row["recall"]),
                "f1": float(row["f1-score"]),
                "support": int(row["support"]),
            }
            for name, row in report.items()
            if not name.endswith(" avg")
        }
        ids = {name: i for i, name in enumerate(label_names)}
        flat_true = [ids[t] for sentence in true for t in sentence]
        flat_predicted = [ids[t] for sentence in predicted for t in sentence]
        return {"per_class": per_type, "confusion_matrix": confusion_matrix(flat_true, flat_predicted, label_names)}

    def collapse(self, task, predictions, references, label_names):
        _, predicted = tag_sequences(predictions.label_ids, references, label_names)
        tags = {tag for sentence in predicted for tag in sentence}
        words = sum(len(sentence) for sentence in predicted)
        if len(tags) == 1 and len(predicted) > 1 and len(label_names) > 1:
            return f"the model tags all {words:,} validation words '{tags.pop()}'"
        return None

    def pictures(self, evaluation):
        return [
            *(["per_class.png"] if evaluation.get("per_class") else []),
            *(["confusion_matrix.png"] if "confusion_matrix" in evaluation else []),
            "training_curves.png",
        ]

    # -- a finished run -------------------------------------------------------------------------

    def predict_texts(self, texts, run, where):
        """A text per line or argument, split into words as the model's tokenizer splits them."""
        rows = [{"text": raw.rstrip("\r\n")} for raw in texts]
        return self._rows(rows, [f"{where} {n}" for n in range(1, len(rows) + 1)], run)

    def predict_file(self, path, run, options):
        """A CSV, TSV or JSON Lines file (the text in --text-column, default `text`), or any other
        file as plain text: one text a line."""
        from .data import read_table, require_column

        path = Path(path)
        fmt = options.get("format")
        if fmt is None and path.suffix.lower() not in (".csv", ".tsv", ".jsonl", ".json"):
            lines = read_text_lines(path, options.get("encoding") or "utf-8")
            rows = [{"text": line} for line in lines]
            return self._rows(rows, [f"line {n}" for n in range(1, len(rows) + 1)], run)
        table = read_table(path, fmt, options.get("encoding") or "utf-8")
        column = options.get("text_column") or "text"
        require_column(table, column, "--text-column")
        return self._rows(table.rows, [f"line {n}" for n in table.lines], run, table.column(column))

    def _rows(self, rows, origin, run, texts=None) -> PredictRows:
        texts = texts if texts is not None else [row["text"] for row in rows]
        split = [split_words(run.tokenizer, text) for text in texts]
        words_column = run.task.text_columns[0]
        examples: dict[str, list[Any]] = {
            words_column: [[w for w, _ in words] for words in split],
            "offsets": [[list(span) for _, span in words] for words in split],
            "text": list(texts),
        }
        predict = PredictRows(rows, origin, examples)
        predict.skipped = [i for i, words in enumerate(split) if not words]
        return predict

    def answers(self, predictions, rows, label_names, all_scores):
        return [{"entities": entities} for entities in (predictions.items or [])]

    def output_rows(self, rows, suffix):
        """JSON Lines: each input row with its `entities`; CSV and TSV: one row per entity, with
        the number of the input it was found in."""
        if suffix in (".jsonl", ".json"):
            return rows
        flat = []
        for number, row in enumerate(rows, start=1):
            # predict names the answer `predicted_entities` where the input has an `entities` column
            for entity in row.get("predicted_entities", row.get("entities")) or []:
                flat.append({"input": number, **entity})
        return flat

    def output_columns(self, suffix):
        return [] if suffix in (".jsonl", ".json") else ["input", "type", "score", "start", "end", "text"]

    def table(self, rows, texts):
        several = len(rows) > 1
        header = (["INPUT"] if several else []) + ["TYPE", "SCORE", "START", "END", "TEXT"]
        lines = []
        for number, row in enumerate(rows, start=1):
            for entity in row.get("entities") or []:
                cells = [
                    entity["type"],
                    f"{entity['score']:.4f}",
                    str(entity["start"]),
                    str(entity["end"]),
                    entity["text"],
                ]
                lines.append(([str(number)] if several else []) + cells)
        return header, lines

    def card_usage(self, run_dir, text_inputs):
        return (
            f'tagger = pipeline("token-classification", model="{run_dir}", aggregation_strategy="{AGGREGATION}")\n'
            'tagger("Angela Merkel met Emmanuel Macron in Paris.")',
            f'taskrun predict {run_dir} "Angela Merkel met Emmanuel Macron in Paris."',
        )


# -- preprocessing -------------------------------------------------------------------------------


def _tag_names(feature: Any) -> list[str]:
    from .data import class_names

    return class_names(feature) if feature is not None else []


def _encode_tagged(
    tokenizer: Any, words: list[list[str]], tags: list[list[int]], names: list[str], config: RunConfig, label_all: bool
) -> dict[str, list[Any]]:
    """Tokenised sentences cut to max_length, labels aligned to the words, `truncated` marks."""
    encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=config.max_length)
    lengths = tokenizer(words, is_split_into_words=True)["input_ids"]
    out: dict[str, list[Any]] = {key: list(values) for key, values in encoded.items()}
    out["labels"], out["word_ids"], out["truncated"] = [], [], []
    continuation = continuation_ids(names)
    for i, sentence_tags in enumerate(tags):
        word_ids = encoded.word_ids(i)
        labels, previous = [], None
        for word in word_ids:
            if word is None:
                labels.append(IGNORED)
            elif word != previous:
                labels.append(int(sentence_tags[word]))
            else:
                labels.append(continuation[int(sentence_tags[word])] if label_all else IGNORED)
            previous = word
        out["labels"].append(labels)
        out["word_ids"].append([NO_WORD if w is None else w for w in word_ids])
        out["truncated"].append(len(lengths[i]) > config.max_length)
    return out


def continuation_ids(names: list[str]) -> list[int]:
    """For each tag id, the id a word's continuation pieces carry: I-X for B-X, else the tag."""
    index = {name: i for i, name in enumerate(names)}
    return [index.get("I-" + name[2:], i) if name.startswith("B-") else i for i, name in enumerate(names)]


def window_stride(max_length: int) -> int:
    """Tokens shared by two neighbouring windows of a long text: a quarter of a window."""
    return max(1, max_length // 4)


def _encode_windows(tokenizer: Any, words: list[list[str]], max_length: int) -> dict[str, list[Any]]:
    """Overlapping windows over each sentence, so that every word is seen; `example` maps each
    window to its sentence."""
    encoded = tokenizer(
        words,
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        stride=window_stride(max_length),
        return_overflowing_tokens=True,
    )
    out: dict[str, list[Any]] = {
        key: list(values) for key, values in encoded.items() if key != "overflow_to_sample_mapping"
    }
    out["example"] = list(encoded["overflow_to_sample_mapping"])
    out["word_ids"] = [[NO_WORD if w is None else w for w in encoded.word_ids(i)] for i in range(len(out["example"]))]
    out["truncated"] = [False] * len(out["example"])
    return out


# -- post-processing -------------------------------------------------------------------------------


def word_entities(scores: np.ndarray, inputs: list[dict[str, Any]], label_names: list[str]) -> list[list[dict]]:
    """The entities of each example, from the token probabilities of its windows: each word's tag
    and score are read at its first sub-word, in the window where that sub-word lies furthest
    from the window's edges; then `entities_from_words`."""
    by_example: dict[int, dict[int, tuple[int, np.ndarray]]] = {}
    examples: dict[int, dict[str, Any]] = {}
    for feature, (features, token_scores) in enumerate(zip(inputs, scores)):
        example = int(features.get("example", feature))
        examples.setdefault(example, features)
        word_ids = list(features["word_ids"])
        seen: set[int] = set()
        for position, word in enumerate(word_ids):
            if word == NO_WORD or word in seen:
                continue
            seen.add(word)
            margin = min(position, len(word_ids) - 1 - position)
            known = by_example.setdefault(example, {})
            if word not in known or margin > known[word][0]:
                known[word] = (margin, token_scores[position])
    results = []
    for example in sorted(examples):
        features = examples[example]
        words = by_example.get(example, {})
        tagged = []
        for word in sorted(words):
            probabilities = words[word][1]
            best = int(probabilities.argmax())
            tagged.append((label_names[best], float(probabilities[best]), tuple(features["offsets"][word])))
        results.append(entities_from_words(tagged, features["text"]))
    return results


def split_tag(tag: str) -> tuple[str, str]:
    """("B", "PER") for B-PER; a tag without a B-/I- prefix continues like an I- tag (as pipeline)."""
    if tag.startswith(("B-", "I-")):
        return tag[0], tag[2:]
    return "I", tag


def entities_from_words(words: list[tuple[str, float, tuple[int, int]]], text: str) -> list[dict[str, Any]]:
    """Join tagged words (tag, score, (start, end)) into entities as `pipeline` groups them: a
    word continues the entity before it when it has the same type and no B- prefix; an entity's
    score is the mean of its words' scores; "O" groups are not entities."""
    groups: list[list[tuple[str, float, tuple[int, int]]]] = []
    for word in words:
        prefix, kind = split_tag(word[0])
        if groups and prefix != "B" and split_tag(groups[-1][-1][0])[1] == kind:
            groups[-1].append(word)
        else:
            groups.append([word])
    entities = []
    for group in groups:
        kind = split_tag(group[0][0])[1]
        if kind == "O":
            continue
        start, end = group[0][2][0], group[-1][2][1]
        score = float(np.mean([w[1] for w in group]))
        entities.append({"type": kind, "score": round(score, 6), "start": start, "end": end, "text": text[start:end]})
    return entities


def tag_sequences(predicted: Any, references: Any, label_names: list[str]) -> tuple[list[list[str]], list[list[str]]]:
    """The true and the predicted tag sequences over the positions that carry a tag (not -100)."""
    true, guessed = [], []
    for predicted_row, reference_row in zip(np.asarray(predicted), np.asarray(references)):
        keep = reference_row != IGNORED
        true.append([label_names[int(t)] for t in reference_row[keep]])
        guessed.append([label_names[int(p)] for p in predicted_row[keep]])
    return true, guessed


def split_words(tokenizer: Any, text: str) -> list[tuple[str, tuple[int, int]]]:
    """The words of `text` with their character spans, as the model's tokenizer splits words
    (its pre-tokenizer: whitespace and punctuation for BERT), so that each word is one that
    `pipeline` would also see; whitespace splitting where the tokenizer has no pre-tokenizer.
    A word is the text its span covers, without white space at its ends: some pre-tokenizers
    rewrite their pieces (byte-level "Ġmet" for " met", SentencePiece's "▁met"), and those
    rewritten strings would be encoded again as words."""
    pre = getattr(getattr(tokenizer, "backend_tokenizer", None), "pre_tokenizer", None)
    if pre is not None:
        words = []
        for _, (start, end) in pre.pre_tokenize_str(text):
            piece = text[int(start) : int(end)]
            word = piece.strip()
            if word:
                start = int(start) + len(piece) - len(piece.lstrip())
                words.append((word, (start, start + len(word))))
        return words
    import re

    return [(m.group(), (m.start(), m.end())) for m in re.finditer(r"\S+", text)]


def read_text_lines(path: Path, encoding: str) -> list[str]:
    """The lines of a plain-text file, checked as every input file is (exists, not binary,
    decodes), blank lines included: each line is one text."""
    from .data import read_text

    return read_text(path, encoding).splitlines()
