"""The example plugin's own tests, written with taskrun's shipped fixtures."""

import json

import taskrun_topics


def test_topics_runs_on_its_shipped_headlines(taskrun_run):
    result = taskrun_run("topics", plugins=[taskrun_topics])
    assert result.exit_code == 0, result.output + result.stderr
    assert result.labels == ["business", "science", "sports", "world"]
    assert result.metrics["train"]["samples"] == 96 and result.metrics["eval"]["samples"] == 24
    assert {"accuracy", "macro_f1"} <= set(result.metrics["eval"])
    assert result.predict(["Shares of Globex rise after strong profits"])[0]["label"] in taskrun_topics.TOPICS


def test_an_unknown_topic_names_file_and_line(taskrun_run, tmp_path):
    data = tmp_path / "mine.jsonl"
    data.write_text(
        json.dumps({"headline": "a", "topic": "sports"})
        + "\n"
        + json.dumps({"headline": "b", "topic": "cooking"})
        + "\n"
    )
    result = taskrun_run("topics", "--data-file", data, plugins=[taskrun_topics])
    assert result.exit_code == 2
    assert "mine.jsonl:2: topic 'cooking' is not one of" in result.stderr
