"""The plugin's own tests, with taskrun's shipped fixtures (`taskrun_tiny_model`, `taskrun_run`):
one tiny model trained end to end on questions made here, then `taskrun predict` and `taskrun
eval` on its run folder, each checked against an independent computation."""

import json
import math
import random

import pytest
import taskrun_multiple_choice
from click.testing import CliRunner
from taskrun.cli import main
from taskrun.testing import make_manager, run_task

GOOD = "good great fine nice lovely best".split()
BAD = "bad awful poor worst boring dull".split()
QUESTION = "which one is good ?"
LEARN = ("--epochs", "3", "--learning-rate", "1e-2", "--metric-for-best", "loss")


def write_questions(path, count, seed):
    """`count` questions of three choices, one of them good, at a random position."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(count):
            choices, label = rng.sample(BAD, 2), rng.randrange(3)
            choices.insert(label, rng.choice(GOOD))
            out.write(json.dumps({"question": QUESTION, "choices": choices, "label": label}) + "\n")
    return path


def taskrun(*args):
    """`taskrun ARGS` in this process, with this plugin (installed or not)."""
    return CliRunner().invoke(main, [str(a) for a in args], obj=make_manager([taskrun_multiple_choice]))


@pytest.fixture(scope="module")
def trained(taskrun_tiny_model, tmp_path_factory):
    """One run, trained once for the module: its folder and data files."""
    folder = tmp_path_factory.mktemp("multiple-choice")
    train = write_questions(folder / "train.jsonl", 48, seed=0)
    dev = write_questions(folder / "dev.jsonl", 16, seed=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TASKRUN_CACHE_DIR", str(folder / "cache"))
        result = run_task(
            "multiple-choice",
            "--train",
            train,
            "--validation",
            dev,
            *LEARN,
            model=taskrun_tiny_model,
            output_dir=folder / "run",
            plugins=[taskrun_multiple_choice],
        )
    assert result.exit_code == 0, result.output + result.stderr
    return result, train, dev


def test_a_run_trains_and_records_the_new_family(trained):
    result, _, _ = trained
    record = json.loads((result.output_dir / "run_config.json").read_text())
    assert record["family"] == record["pipeline_tag"] == "multiple-choice"
    config = json.loads((result.output_dir / "config.json").read_text())
    assert config["architectures"] == ["BertForMultipleChoice"]
    assert result.labels == ["0", "1", "2"]  # the choice positions
    evaluation = result.metrics["eval"]
    assert result.metrics["family"] == "multiple-choice" and evaluation["samples"] == 16
    assert evaluation["accuracy"] >= 0.9 and evaluation["loss"] < math.log(3) - 0.3  # learnt, not chance
    card = (result.output_dir / "README.md").read_text()
    assert "pipeline_tag: multiple-choice" in card


def test_the_cards_example_runs_and_answers(trained, capsys):
    result, _, _ = trained
    card = (result.output_dir / "README.md").read_text()
    code = card.split("```python\n")[1].split("```")[0]
    assert "AutoModelForMultipleChoice" in code
    exec(code, {})
    assert capsys.readouterr().out.strip() == "great"


def test_predict_chooses_the_argmax_of_the_models_own_logits(trained, tmp_path):
    import torch
    from transformers import AutoModelForMultipleChoice, AutoTokenizer

    result, _, _ = trained
    rows = [  # 2, 3 and 4 choices in one batch; a context; a gold label and an id that stay in the output
        {"id": 1, "question": QUESTION, "choices": ["awful", "lovely", "dull", "poor"], "label": 1},
        {"id": 2, "question": QUESTION, "choices": ["great", "bad"]},
        {"id": 3, "question": "which one ?", "context": "pick the best", "choices": ["boring", "worst", "nice"]},
        {"id": 4, "question": QUESTION, "choices": ["bad", "awful", "poor"]},
    ]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "answers.jsonl"
    predicted = taskrun("predict", result.output_dir, "--input", questions, "--output", output, "--all-scores")
    assert predicted.exit_code == 0, predicted.output + predicted.stderr
    answers = [json.loads(line) for line in output.read_text().splitlines()]

    tokenizer = AutoTokenizer.from_pretrained(result.output_dir)
    model = AutoModelForMultipleChoice.from_pretrained(result.output_dir).eval()
    for row, answer in zip(rows, answers, strict=True):
        first = f"{row['context']} {row['question']}" if "context" in row else row["question"]
        batch = tokenizer([first] * len(row["choices"]), row["choices"], padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**{key: value.unsqueeze(0) for key, value in batch.items()}).logits[0]
        probabilities = torch.softmax(logits.double(), dim=-1).tolist()
        best = int(logits.argmax())
        assert {k: answer[k] for k in row} == row  # the input row, kept as it was
        assert answer["choice"] == best and answer["answer"] == row["choices"][best]
        assert answer["score"] == pytest.approx(probabilities[best], abs=1e-5)
        assert answer["scores"] == pytest.approx(probabilities, abs=1e-5)
    assert [a["answer"] for a in answers[:3]] == ["lovely", "great", "nice"]  # the trained model is right

    shown = taskrun("predict", result.output_dir, f"{QUESTION}\tdull\tfine")
    assert shown.exit_code == 0, shown.output + shown.stderr
    header, line = shown.stdout.splitlines()
    assert header.split() == ["CHOICE", "SCORE", "ANSWER", "QUESTION"]
    assert line.split()[0] == "1" and line.split()[2] == "fine" and line.endswith(QUESTION)

    as_csv = tmp_path / "answers.csv"
    assert taskrun("predict", result.output_dir, "--input", questions, "--output", as_csv).exit_code == 0
    assert '"[""awful"", ""lovely"", ""dull"", ""poor""]",1,1,lovely,' in as_csv.read_text()


def test_eval_reproduces_the_runs_own_metrics(trained, tmp_path):
    result, train, dev = trained
    output = tmp_path / "eval.json"
    evaluated = taskrun(
        "eval", result.output_dir, "multiple-choice", "--train", train, "--validation", dev, "--output", output
    )
    assert evaluated.exit_code == 0, evaluated.output + evaluated.stderr
    metrics = json.loads(output.read_text())
    assert metrics["samples"] == 16 and metrics["accuracy"] == result.metrics["eval"]["accuracy"]
    assert metrics["loss"] == pytest.approx(result.metrics["eval"]["loss"], rel=1e-4, abs=1e-6)
    assert f"accuracy {metrics['accuracy']:.4f}" in evaluated.stdout


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"question": "q", "choices": ["a", "b"], "label": 2}', "label must be the position of the right choice"),
        ('{"question": "q", "choices": ["a"], "label": 0}', "a question needs at least two choices"),
        ('{"question": "q", "choices": ["a", "b", "c"], "label": 0}', "3 choices, but line 1 has 2"),
        ('{"question": "q", "choices": "a b", "label": 0}', "choices must be a list of texts"),
        ('{"question": "q", "label": 0}', "the record has no field 'choices'"),
        ('{"question": "q", "choices": ["a", "b"], "label": 0', "not valid JSON"),
    ],
)
def test_bad_input_names_file_and_line(taskrun_run, tmp_path, line, message):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"question": "q", "choices": ["a", "b"], "label": 1}\n' + line + "\n")
    result = taskrun_run("multiple-choice", "--train", data, plugins=[taskrun_multiple_choice])
    assert result.exit_code == 2, result.output + result.stderr
    assert "bad.jsonl:2" in result.error and message in result.error
