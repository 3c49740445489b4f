"""One runner for every task: its stages in a fixed order, one `transformers.Trainer`.

`run()` reads as the list of stages: resolve the settings, check the output folder, find the
model's source (no download yet), load and check the data (no model is loaded before the data
is known to be good), tokenise, collate, build the model, train, evaluate, save, publish.
Everything is written to a hidden staging folder beside the output folder and moved into place
only when complete, so a failed or interrupted run leaves no half-written output.

Under a distributed launch (`torchrun --nproc_per_node N -m taskrun run ...`, `accelerate launch`)
every process runs this same function and the Trainer trains one model data-parallel (or sharded,
as the launcher asks): the local main process tokenises first (filling the cache) while the others
wait, then they load its cache entry; evaluation is gathered over all processes; only the world's
main process (rank 0) logs and writes files (the checkpoints' own files excepted: Trainer has every
process write its part). Rank 0 alone takes the launch's decisions (taskrun.launch): it locks and
checks the output folder, picks the precision and the checkpoint to resume from, and hands each
answer to the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cache import cached_preprocess, data_digest
from .checkpoints import (
    Checkpoint,
    check_identity,
    check_safe_to_load,
    checkpoint_folder,
    complete_checkpoints,
    discard_after,
    find_resume_point,
)
from .errors import ModelSourceError, TaskrunError, UsageError
from .family import family_of, token_count
from .launch import check_sharding_possible, decided_once, is_main_process, launch_record
from .manager import TaskrunPluginManager
from .models import resolve_model, usable_max_length
from .outputs import (
    check_output_dir,
    check_room,
    keep_only_what_resumes,
    output_dir_lock,
    publish,
    remove_stale_staging,
    staging_folder,
    write_failure,
)
from .precision import resolve_precision
from .rundir import TRACKING_LOGS
from .scoring import (
    OBJECTIVE_LOSS,
    best_evaluation,
    best_metric,
    evaluation_history,
    merged_metrics,
    postprocess,
    primary_metric,
)
from .settings import DEFAULT_SOURCES, RUN_DEFAULTS
from .splits import drop_truncation_marks, load_data
from .task import RunConfig, TaskSpec
from .tracking import check_report_to, tracking_setup

log = logging.getLogger("taskrun")
CUT_TO_MODEL = "cut to the model's limit"  # said of a --max-length the model cannot take


@dataclass
class RunResult:
    output_dir: Path
    metrics: dict[str, Any]
    seconds: float
    main_process: bool = True  # False in the other processes of a distributed launch: they write and print nothing


def resolve(manager: TaskrunPluginManager, config: RunConfig) -> tuple[TaskSpec, RunConfig]:
    """The task and the frozen settings every stage sees: the problem type chosen (--problem, else
    the task's default) and the option combinations checked. The hooks' `task.problem_type` is
    the chosen one too, for plugins written before `config.problem_type` existed."""
    task = manager.task(config.task)
    problem = config.problem_type or task.problem_type
    if problem not in (task.problem_types or (task.problem_type,)):
        offered = ", ".join(task.problem_types or (task.problem_type,))
        raise UsageError(f"task {task.name!r} cannot run as {problem!r}; it offers: {offered}.")
    config = dataclasses.replace(config, problem_type=problem)
    task = dataclasses.replace(task, problem_type=problem, positive_label=config.positive_label or task.positive_label)
    family_of(task).check_options(task, config)
    # given, and not the default (a file that reproduces a run without adapters names their defaults)
    lora_options = [
        name
        for name in ("lora_r", "lora_alpha", "lora_targets")
        if config.sources.get(name, "default") not in DEFAULT_SOURCES and getattr(config, name) != RUN_DEFAULTS[name]
    ]
    if lora_options and not config.lora:
        shown = ", ".join("--" + name.replace("_", "-") for name in lora_options)
        raise UsageError(f"{shown}: the adapters' settings apply only with --lora.")
    if config.force_resume and not config.resume:
        raise UsageError("--force-resume only applies with --resume auto or --resume CHECKPOINT.")
    if config.save_every == "no" and (config.early_stopping or config.metric_for_best):
        log.warning("--save-every none keeps no checkpoint to restore the best model from: the last one is published")
    report_to = check_report_to(config.report_to)
    return task, dataclasses.replace(config, report_to=report_to)


def with_positive_label(task: TaskSpec, config: RunConfig, label_names: list[str]) -> tuple[TaskSpec, RunConfig]:
    """The label `f1` is of (the family says whether its metrics single one out), named in the
    settings (run_config.json); a `--positive-label` the run cannot use is refused, naming the
    labels, before any model loads."""
    chosen = family_of(task).positive_label(task, label_names)
    if config.positive_label is not None and chosen is None:
        raise UsageError(
            f"--positive-label {config.positive_label}: it names the label `f1` is of, for single-label tasks with "
            f"two labels; this run has {len(label_names)} label(s) ({task.problem_type})."
        )
    if task.positive_label is not None and chosen != task.positive_label and chosen is not None:
        raise UsageError(
            f"--positive-label {task.positive_label}: not a label of this run; its labels are {', '.join(label_names)}."
        )
    return dataclasses.replace(task, positive_label=chosen), dataclasses.replace(config, positive_label=chosen)


def load_tokenizer(config: RunConfig) -> tuple[Any, RunConfig]:
    """The model's tokenizer, and the settings with --max-length cut to what the model takes."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(config.model_path)
    except (OSError, ValueError) as exc:
        raise ModelSourceError(f"cannot load the tokenizer of {config.model!r}: {exc}") from exc
    limit = usable_max_length(tokenizer, config.max_length)
    if config.max_length > limit:
        log.info("--max-length %d is more than this model takes; using %d", config.max_length, limit)
        source = f"{config.sources.get('max_length', 'default')}, {CUT_TO_MODEL} (asked {config.max_length})"
        config = dataclasses.replace(config, max_length=limit, sources={**config.sources, "max_length": source})
    return tokenizer, config


def metric_modules(task: TaskSpec, config: RunConfig) -> tuple[str, ...]:
    """Load the `evaluate` modules of the task and of --evaluate-metric (a bad name fails here,
    before any data or model); the run's own as they load (local paths made absolute), so that
    run_config.json records what `taskrun eval` can load again from anywhere."""
    if not (task.evaluate_metrics or config.evaluate_metrics):
        return config.evaluate_metrics
    from .evaluate_metrics import load_modules, source_of

    load_modules([*task.evaluate_metrics, *config.evaluate_metrics])
    return tuple(source_of(name) for name in config.evaluate_metrics)


def build_model(manager: TaskrunPluginManager, task: TaskSpec, config: RunConfig, label_names: list[str]):
    """The task's model, the plugin that built it, and the settings with the layers that took
    LoRA adapters named (with --lora); the run's embedding setting applied."""
    from transformers import set_seed

    set_seed(config.seed)
    model, plugin = manager.stages(task).model(config, label_names)
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    # The heads average their loss themselves and ignore `num_items_in_batch`, though their forward
    # takes **kwargs; left to guess, the Trainer would multiply that average by the number of
    # processes (training and eval loss, and gradients, 2x too large under 2 processes). Said on
    # the task's own model: the Trainer asks the model inside a LoRA wrapper.
    model.accepts_loss_kwargs = False
    if config.lora:
        from .lora import with_lora

        model = with_lora(model, config)
        adapted = sorted(model.peft_config["default"].target_modules)
        config = dataclasses.replace(config, lora_targets=tuple(adapted))  # recorded as adapted
    return model, plugin, config


def run(manager: TaskrunPluginManager, config: RunConfig) -> RunResult:
    """Fine-tune and evaluate one task; return where the results are. Progress goes to the
    `taskrun` logger. The output folder is locked from its check to publishing (by rank 0 of a
    distributed launch)."""
    started = time.monotonic()
    task, config = resolve(manager, config)
    with contextlib.ExitStack() as held:
        decided_once(lambda: claim_output_dir(config, held))
        return _run_stages(manager, task, config, started)


def claim_output_dir(config: RunConfig, held: contextlib.ExitStack) -> None:
    """Lock the output folder for the rest of the run (the lock joins `held`), check that the run
    may write there, and remove the staging folders of killed runs. Rank 0's job in a launch."""
    held.enter_context(output_dir_lock(config.output_dir))
    check_output_dir(config.output_dir, config.overwrite, config.resume)
    remove_stale_staging(config.output_dir)


def _run_stages(manager: TaskrunPluginManager, task: TaskSpec, config: RunConfig, started: float) -> RunResult:
    """The stages of a run, in order, with its output folder locked."""
    main = is_main_process()
    decided_once(check_sharding_possible)
    if config.lora:
        from .lora import check_launch

        check_launch()
    config = dataclasses.replace(config, model_path=resolve_model(config.model))  # fails fast offline; loads nothing
    config = dataclasses.replace(config, evaluate_metrics=metric_modules(task, config))  # fails fast offline too
    room_for = 0 if config.save_every == "no" else config.keep_checkpoints
    decided_once(lambda: check_room(config.output_dir, config.model_path, room_for))
    family = family_of(task)
    # the tokenizer first: every hook sees --max-length as cut to what the model takes
    tokenizer, config = load_tokenizer(config)
    dataset, label_names = load_data(manager, task, config)
    task, config = with_positive_label(task, config, label_names)
    log.info(
        "task %s (plugin %s, %s): %s train and %s validation examples%s",
        task.name,
        task.plugin,
        task.problem_type if family.name == "sequence-classification" else family.name,
        f"{len(dataset['train']):,}",
        f"{len(dataset['validation']):,}",
        f"; labels {', '.join(label_names)}" if label_names else "",
    )
    counts = family.class_counts(task, dataset["train"], label_names) if label_names else []
    if counts:
        family.check_classes(task, counts, label_names)
    best = best_metric(task, config.metric_for_best, len(label_names))
    data_id = data_digest(dataset)
    # Imports torch: after every check that can fail fast. One choice for all processes (a timing).
    precision = decided_once(lambda: resolve_precision(config.precision))
    from .training import (  # transformers: only once the data is known to be good
        ManifestCallback,
        TaskrunTrainer,
        attributed,
        log_progress_to_stderr,
        run_callbacks,
        save_final_model,
        training_arguments,
    )

    # Made before tokenising: it sets up the process group of a distributed launch, so that the
    # local main process tokenises (and fills the cache) while the others wait, then load its entry.
    checkpoints = checkpoint_folder(config.output_dir)
    # the trackers' local files: in the checkpoints folder while training, then in the run
    report_to, tracker_callbacks = tracking_setup(config.report_to, checkpoints / TRACKING_LOGS)
    args = training_arguments(config, precision, checkpoints, len(dataset["train"]), best, report_to)
    with args.main_process_first(desc="tokenising"):
        tokenized = cached_preprocess(manager, task, config, dataset, tokenizer, data_id)
    tokenized, truncated = drop_truncation_marks(tokenized, config)
    tokenized, unseen = family.align_labels(tokenized, dataset, task, label_names)
    collator, collator_plugin = manager.stages(task).data_collator(config, tokenizer)
    identity = run_identity(task, config, label_names, data_id)
    resume_from = decided_once(lambda: resume_point(config, identity))  # hashes each checkpoint once
    model, model_plugin, config = build_model(manager, task, config, label_names)
    loss, loss_plugin = manager.stages(task).loss(config, counts)

    created = not config.output_dir.exists()
    with args.main_process_first(local=False, desc="preparing the checkpoints folder"):
        if main:
            if resume_from is None:
                shutil.rmtree(checkpoints, ignore_errors=True)  # an interrupted run's, replaced (--overwrite)
            else:
                discard_after(checkpoints, resume_from.step)
            checkpoints.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(config.output_dir)  # one for all processes of a launch, made and removed by rank 0
    if main:
        shutil.rmtree(staging, ignore_errors=True)
    try:
        log.info("model %s (%s), %s, output %s", config.model, config.model_path, precision, config.output_dir)
        trainer = TaskrunTrainer(
            model=model,
            args=args,
            train_dataset=tokenized["train"],
            eval_dataset=tokenized["validation"],
            processing_class=tokenizer,
            data_collator=attributed(collator, collator_plugin, "taskrun_data_collator", task),
            compute_metrics=metric_function(manager, task, config, label_names),
            compute_loss_func=attributed(loss, loss_plugin, "taskrun_loss", task),
            callbacks=[
                ManifestCallback(identity, config.keep_checkpoints, score_function(*best)),
                *run_callbacks(config, tracker_callbacks),
            ],
        )
        trainer.model_plugin, trainer.task = model_plugin, task
        log_progress_to_stderr(trainer)
        if resume_from is not None:
            log.info("resuming from %s (step %d)", resume_from.path, resume_from.step)
        train_output = trainer.train(resume_from_checkpoint=str(resume_from.path) if resume_from else None)
        final = trainer.predict(tokenized["validation"], metric_key_prefix="eval")  # gathered over all processes
        assert final.metrics is not None  # always given by Trainer.predict; typed optional
        if trainer.compute_loss_func is not None:  # `loss` is the model's own; the objective beside it, named
            trainer.compute_loss_func = None
            own = trainer.predict(tokenized["validation"], metric_key_prefix="eval").metrics or {}
            final.metrics[f"eval_{OBJECTIVE_LOSS}"] = final.metrics["eval_loss"]
            final.metrics["eval_loss"] = own["eval_loss"]
        save_final_model(trainer, staging)  # every process calls it (a sharded model is gathered); rank 0 writes

        metrics = run_metrics(task, config, tokenized, train_output, final, label_names, counts, truncated)
        metrics.update(best_record(trainer.state, args, best, config))
        if metrics["stopped_early"]:
            log.info(
                "training stopped early at step %d (epoch %g of %g): no better %s in %d evaluations",
                trainer.state.global_step,
                round(trainer.state.epoch or 0, 2),
                config.epochs,
                best[0],
                config.early_stopping,
            )
        if task.positive_label is not None:
            metrics["eval"]["positive_label"] = task.positive_label  # the label `f1` is of
        if unseen.get("validation"):
            metrics["eval"]["rows_with_unseen_labels"] = unseen["validation"]
        predictions = postprocess(manager, task, config, final.predictions, label_names)
        references: Any = final.label_ids if final.label_ids is not None else []
        metrics["eval"].update(family.class_figures(task, predictions, references, label_names))
        collapsed = family.collapse(task, predictions, references, label_names)
        if collapsed:  # said on stderr now, in the summary and metrics.json after
            metrics["eval"]["collapsed"] = collapsed
            log.warning("%s: it learned nothing it can show, whatever the scores say", collapsed)
        metrics["seconds"] = round(time.monotonic() - started, 1)
        if not main:
            return RunResult(config.output_dir, metrics, time.monotonic() - started, main_process=False)
        from .record import add_pictures, write_record

        text_inputs = [c for c in task.text_columns if c in dataset["train"].column_names]
        if (checkpoints / TRACKING_LOGS).is_dir():  # the trackers' files (TensorBoard): the run's, in its record
            shutil.move(checkpoints / TRACKING_LOGS, staging / TRACKING_LOGS)
        launch = launch_record(trainer)
        eval_batch = args.per_device_eval_batch_size
        write_record(staging, task, config, metrics, precision, label_names, text_inputs, eval_batch, launch)
        publish(staging, config.output_dir)
    except BaseException as exc:
        if main:
            keep_only_what_resumes(config.output_dir, created)
            failure = write_failure(exc, config.output_dir)
            if failure is not None:
                raise failure from exc
            if isinstance(exc, TaskrunError):
                add_resume_hint(exc, config.output_dir)
        raise
    finally:
        if main:
            shutil.rmtree(staging, ignore_errors=True)
    # The run is published: the pictures are extras, and nothing they do can lose it.
    add_pictures(config.output_dir, task, config, metrics, trainer.state.log_history, label_names, text_inputs)
    return RunResult(config.output_dir, metrics, time.monotonic() - started)


def metric_function(manager: TaskrunPluginManager, task: TaskSpec, config: RunConfig, label_names: list[str]):
    """Trainer's `compute_metrics`: post-process the logits, then the task's metrics."""
    import numpy as np

    def compute(eval_prediction: Any) -> dict[str, float]:
        predictions = postprocess(manager, task, config, eval_prediction.predictions, label_names)
        references = np.asarray(eval_prediction.label_ids)
        return merged_metrics(manager, task, predictions, references, label_names, config.evaluate_metrics)

    return compute


def run_metrics(task, config, tokenized, train_output, final, label_names, counts, truncated) -> dict[str, Any]:
    """metrics.json: the training figures, the final evaluation, the primary metric."""
    train_tokens = sum(token_count(ids) for ids in tokenized["train"]["input_ids"]) * config.epochs
    train = {"steps": train_output.global_step, **_strip("train_", train_output.metrics)}
    train["tokens_per_second"] = round(train_tokens / max(train["runtime"], 1e-9), 1)
    evaluation = {"split": "validation", "samples": len(tokenized["validation"]), **_strip("eval_", final.metrics)}
    name, higher = primary_metric(task, [k for k in evaluation if k not in ("split", "samples")])
    return {
        "task": task.name,
        "family": family_of(task).name,
        "problem_type": task.problem_type,
        "train": {"samples": len(tokenized["train"]), "label_counts": dict(zip(label_names, counts)), **train},
        "eval": evaluation,
        "primary_metric": {"name": name, "greater_is_better": higher},
        "truncated": truncated,
    }


def _strip(prefix: str, metrics: dict[str, Any]) -> dict[str, Any]:
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in metrics.items()}


def run_identity(task: TaskSpec, config: RunConfig, label_names: list[str], data_id: str) -> dict[str, Any]:
    """What a checkpoint records about its run: what must match to resume it, and the settings
    whose change only warns."""
    return {
        "task": task.name,
        "family": family_of(task).name,
        "problem_type": task.problem_type,
        "data": data_id,
        "model": config.model,
        "labels": label_names,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "epochs": config.epochs,
        "weight_decay": config.weight_decay,
        "warmup_ratio": config.warmup_ratio,
        "seed": config.seed,
        "metric_for_best": config.metric_for_best,
        "early_stopping": config.early_stopping,
        "lora": lora_identity(config),
    }


def lora_identity(config: RunConfig) -> dict[str, Any] | None:
    """The adapters' settings, which a checkpoint must share to be resumed (None: every weight trained)."""
    if not config.lora:
        return None
    return {"r": config.lora_r, "alpha": config.lora_alpha, "targets": list(config.lora_targets)}


def resume_point(config: RunConfig, identity: dict[str, Any]) -> Checkpoint | None:
    """The checkpoint to resume from (checked: complete, same run, safe to load), or None."""
    if not config.resume:
        return None
    checkpoint = find_resume_point(config.output_dir, config.resume)
    if checkpoint is not None:
        check_identity(checkpoint, identity, config.force_resume)
        check_safe_to_load(checkpoint)
    return checkpoint


def score_function(name: str, higher: bool):
    """How a checkpoint's evaluation is scored for "best" (kept by the rotation): the metric that
    picks the published model and its direction."""

    def score(evaluation: dict[str, float]) -> dict[str, Any]:
        return {"name": name, "value": evaluation.get(f"eval_{name}"), "greater_is_better": higher}

    return score


def best_record(state: Any, args: Any, best: tuple[str, bool], config: RunConfig) -> dict[str, Any]:
    """metrics.json's account of the model kept: which evaluation was best by which metric,
    whether that model or the last one was published, whether training stopped early, and
    every evaluation during training."""
    name, higher = best
    chosen = best_evaluation(state.log_history, name, higher)
    restored = bool(
        args.load_best_model_at_end
        and chosen is not None
        and state.best_model_checkpoint
        and Path(state.best_model_checkpoint).is_dir()
    )
    return {
        "best": {
            "metric": name,
            "greater_is_better": higher,
            "value": chosen.get(f"eval_{name}") if chosen else None,
            "step": chosen["step"] if chosen else None,
            "epoch": chosen.get("epoch") if chosen else None,
            "published": "best" if restored else "last",
        },
        "stopped_early": bool(config.early_stopping) and state.global_step < state.max_steps,
        "eval_history": evaluation_history(state.log_history),
    }


def add_resume_hint(error: TaskrunError, output_dir: Path) -> None:
    """Tell how to continue when a failed run left a complete checkpoint."""
    saved = complete_checkpoints(checkpoint_folder(output_dir), hashes=False)
    if saved and "--resume" not in (error.hint or ""):
        resume = f"Complete checkpoints are kept ({saved[-1].path}): the same command with --resume auto continues."
        error.hint = f"{error.hint}\n{resume}" if error.hint else resume
