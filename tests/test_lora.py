"""`--lora`: adapters through peft for both built-in families. The published model is the merged
one (pipeline, predict and eval read it unchanged), only the adapted layers and the head moved,
the adapter beside it loads with `PeftModel.from_pretrained` to the same answers; settings come
from the command line or a config file and are recorded; architectures and layer names peft does
not know are refused naming the layers there are. Kill-and-resume, torchrun and DeepSpeed with
--lora are in test_resume.py, test_multiprocess.py and test_deepspeed.py."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from conftest import reviews_options, shared_run
from test_token_classification import NAMES, tagged_sentence, write_conll

LABELS = ["one", "three", "five"]
TEXTS = ["the movie was lovely really", "the plot was awful quite"]


@pytest.fixture(scope="module")
def lora_run(tiny_model, shared_data, tmp_path_factory):
    options = reviews_options(shared_data / "reviews.csv", tiny_model)
    return shared_run(
        tmp_path_factory, "lora", "run", "custom-csv", *options, "--lora", "--lora-r", "4", "--epochs", "2"
    )


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def test_a_lora_run_publishes_a_merged_model_that_pipeline_reads_with_its_labels(lora_run):
    from transformers import pipeline

    assert (lora_run.output / "model.safetensors").is_file()
    assert (lora_run.output / "adapter" / "adapter_model.safetensors").is_file()
    answers = pipeline("text-classification", model=str(lora_run.output), device="cpu")(TEXTS)
    assert {answer["label"] for answer in answers} <= set(LABELS)
    record = json.loads((lora_run.output / "run_config.json").read_text())
    assert record["files"] and "adapter" in record["files"]
    options = record["options"]
    assert options["lora"] == {"value": True, "source": "command line"}
    assert options["lora_r"] == {"value": 4, "source": "command line"}
    assert options["lora_alpha"]["value"] == 16
    assert options["learning_rate"] == {"value": 5e-4, "source": "--lora default"}
    card = (lora_run.output / "README.md").read_text()
    assert "LoRA" in card and "rank 4" in card


def test_only_the_adapted_layers_and_the_head_moved(lora_run, tiny_model):
    trained = weights(lora_run.output)
    pretrained = {f"bert.{name}": value for name, value in weights(tiny_model).items()}  # saved as a BertModel
    moved = {name for name, value in trained.items() if name in pretrained and not value.equal(pretrained[name])}
    assert {name.rsplit(".", 2)[-2] for name in moved} == {"query", "value"}, sorted(moved)
    assert len(moved) == 2 * 2  # the weights (LoRA leaves biases) of query and value, in both layers
    assert set(trained) - set(pretrained) == {"classifier.weight", "classifier.bias"}  # the head, new


def test_the_kept_adapter_loads_with_peft_to_the_published_models_answers(lora_run, tiny_model):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(lora_run.output)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    merged = AutoModelForSequenceClassification.from_pretrained(lora_run.output).eval()
    base = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3)
    adapted = PeftModel.from_pretrained(base, lora_run.output / "adapter").eval()
    with torch.no_grad():
        assert torch.allclose(merged(**batch).logits, adapted(**batch).logits, atol=1e-5)


def test_eval_of_a_lora_run_gives_the_runs_figures(lora_run, cli, shared_data):
    result = cli("eval", lora_run.output, "custom-csv", "--train", shared_data / "reviews.csv")
    assert result.exit_code == 0, result.output + result.stderr
    metrics = json.loads((lora_run.output / "metrics.json").read_text())["eval"]
    assert f"accuracy {metrics['accuracy']:.4f}" in result.output


def test_lora_settings_come_from_a_config_file_too(cli, run_reviews, tmp_path):
    settings = tmp_path / "lora.toml"
    settings.write_text('lora = true\nlora_r = 2\nlora_targets = ["query", "key", "value"]\nlearning_rate = 1e-3\n')
    result = run_reviews(tmp_path / "run", "--config", settings, "--no-pictures", "--save-every", "none")
    assert result.exit_code == 0, result.output + result.stderr
    adapter = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 2 and sorted(adapter["target_modules"]) == ["key", "query", "value"]
    options = json.loads((tmp_path / "run" / "run_config.json").read_text())["options"]
    assert options["learning_rate"]["value"] == 1e-3 and options["learning_rate"]["source"].startswith("config file")


def test_a_layer_the_model_does_not_have_is_refused_naming_those_it_has(run_reviews, tmp_path):
    result = run_reviews(tmp_path / "run", "--lora", "--lora-targets", "query,q_proj")
    assert result.exit_code == 2
    assert "no linear layer named q_proj" in result.stderr
    assert "query" in result.stderr and "value" in result.stderr and "dense" in result.stderr
    assert not (tmp_path / "run").exists()


def test_adapter_settings_without_lora_are_refused(run_reviews, tmp_path):
    result = run_reviews(tmp_path / "run", "--lora-r", "16")
    assert result.exit_code == 2
    assert "--lora-r: the adapters' settings apply only with --lora" in result.stderr


@pytest.fixture(scope="module")
def tiny_distilbert(tiny_model, tmp_path_factory) -> Path:
    """A tiny DistilBERT (an architecture peft names no default layers for), the tiny BERT's tokenizer."""
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    folder = tmp_path_factory.mktemp("tiny-distilbert")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=tokenizer.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    DistilBertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_an_architecture_without_known_layers_is_refused_then_trains_with_named_ones(
    cli, tiny_distilbert, reviews_csv, tmp_path
):
    options = [*reviews_options(reviews_csv, tiny_distilbert), "--lora", "--no-pictures", "--save-every", "none"]
    refused = cli("run", "custom-csv", *options, "--output-dir", tmp_path / "refused")
    assert refused.exit_code == 2
    assert "no default layers to adapt are known for distilbert models" in refused.stderr
    assert "--lora-targets" in refused.stderr and "q_lin" in refused.stderr and "v_lin" in refused.stderr
    assert not (tmp_path / "refused").exists()

    done = cli("run", "custom-csv", *options, "--lora-targets", "q_lin,v_lin", "--output-dir", tmp_path / "named")
    assert done.exit_code == 0, done.output + done.stderr
    adapter = json.loads((tmp_path / "named" / "adapter" / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == ["q_lin", "v_lin"]


def test_a_lora_ner_run_publishes_a_token_model_that_pipeline_reads(cli, tiny_model, tmp_path):
    from transformers import pipeline

    rng = random.Random(3)
    train = write_conll(tmp_path / "train.conll", [tagged_sentence(rng, NAMES) for _ in range(32)])
    dev = write_conll(tmp_path / "dev.conll", [tagged_sentence(rng, NAMES) for _ in range(8)])
    options = ("--train", train, "--validation", dev, "--epochs", "1", "--batch-size", "8", "--no-pictures")
    result = cli("run", "ner", "--model", tiny_model, *options, "--lora", "--output-dir", tmp_path / "ner")
    assert result.exit_code == 0, result.output + result.stderr
    assert (tmp_path / "ner" / "adapter" / "adapter_model.safetensors").is_file()
    tagger = pipeline("token-classification", model=str(tmp_path / "ner"), device="cpu")
    tags = set(json.loads((tmp_path / "ner" / "config.json").read_text())["id2label"].values())
    assert tags >= {"O", "B-PER"} and all(entity["entity"] in tags for entity in tagger("he met john smith in paris"))


def test_seeds_with_lora_keep_an_adapter_per_seed(cli, run_reviews, tmp_path):
    result = run_reviews(tmp_path / "seeds", "--lora", "--seeds", "1,2", "--no-pictures", "--save-every", "none")
    assert result.exit_code == 0, result.output + result.stderr
    for seed in (1, 2):
        assert (tmp_path / "seeds" / f"seed-{seed}" / "adapter" / "adapter_model.safetensors").is_file()
    assert not weights(tmp_path / "seeds" / "seed-1")["classifier.weight"].equal(
        weights(tmp_path / "seeds" / "seed-2")["classifier.weight"]
    )


def test_tune_searches_the_adapters_rank(cli, tiny_model, reviews_csv, tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("lora_r = {choices = [2, 4]}\nlearning_rate = {low = 1e-4, high = 1e-3, log = true}\n")
    options = reviews_options(reviews_csv, tiny_model)
    result = cli(
        "tune", "custom-csv", *options, "--lora", "--space", space, "--trials", "2", "--output-dir", tmp_path / "t"
    )
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads((tmp_path / "t" / "tune.json").read_text())
    for trial in summary["trials"]:
        rank = trial["params"]["lora_r"]
        folder = tmp_path / "t" / f"trial-{trial['number']:04d}" / "adapter" / "adapter_config.json"
        assert json.loads(folder.read_text())["r"] == rank
    assert "lora = true" in (tmp_path / "t" / "best.toml").read_text()


def test_searching_the_rank_without_lora_is_refused_before_any_trial(cli, tiny_model, reviews_csv, tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("lora_r = {choices = [2, 4]}\n")
    options = reviews_options(reviews_csv, tiny_model)
    result = cli("tune", "custom-csv", *options, "--space", space, "--trials", "2", "--output-dir", tmp_path / "t")
    assert result.exit_code == 2
    assert f"--space {space} searches lora_r, the adapters' settings: add --lora." in result.stderr
    assert not (tmp_path / "t").exists()


def test_a_file_that_reproduces_a_run_without_adapters_runs_again(cli, run_reviews, tmp_path):
    """--print-config names the adapters' defaults; read back without --lora they are no mistake."""
    printed = run_reviews(tmp_path / "run", "--print-config")
    assert printed.exit_code == 0 and "lora_r = 8" in printed.output
    settings = tmp_path / "again.toml"
    settings.write_text(printed.output)
    again = run_reviews(tmp_path / "run", "--config", settings, "--no-pictures", "--save-every", "none")
    assert again.exit_code == 0, again.output + again.stderr
