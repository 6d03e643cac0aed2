"""The inside of ``Solver.train()``: one epoch, one update, the evaluations, the callbacks.

:meth:`handgrad.optim.solver.Solver.train` runs the epochs with :func:`run_epoch`, which
does the updates (:func:`update`: callbacks, learning-rate schedule, loss and gradients,
clipping, the update rule, the histories) until the epoch ends or a stop is requested, then
decays the learning rate, evaluates (:func:`evaluate`), calls ``on_epoch_end`` and writes the
checkpoint. The Solver's options and public methods stay in :mod:`handgrad.optim.solver`;
the state written to checkpoints is in :mod:`handgrad.optim.solver_state`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from handgrad.optim import clipping, evaluation, solver_state
from handgrad.optim.progress import Progress
from handgrad.optim.solver_checks import checked_norm

if TYPE_CHECKING:  # pragma: no cover
    from handgrad.optim.solver import Solver


def notify(solver: Solver, hook: str, *args: Any) -> None:
    """Call ``hook`` of every callback. A KeyboardInterrupt raised by one counts as a first
    Ctrl-C (hooks run between steps); one after that aborts (see handgrad.optim.interrupt)."""
    for cb in solver.callbacks:
        try:
            getattr(cb, hook)(solver, *args)
        except KeyboardInterrupt:
            if solver._interrupted:
                raise
            solver._interrupt()


def epoch_reached(solver: Solver) -> int | float:
    """Completed epochs, plus the fraction of the current one at a stop inside it."""
    if 0 < solver._pos < solver.num_train:
        return solver.epoch + solver._pos / solver.num_train
    return solver.epoch


def evaluate(solver: Solver, progress: Progress) -> None:
    """Measure the metrics at an epoch end (or before training, or at a stop)."""
    batch = max(solver.batch_size, 100)
    train = solver.evaluate(solver.X_train, solver.y_train, solver.num_train_samples, batch)
    val = solver.evaluate(solver.X_val, solver.y_val, solver.num_val_samples, batch)
    epoch = epoch_reached(solver)
    solver.train_metric_history.append(train)
    solver.val_metric_history.append(val)
    solver.eval_epoch_history.append(float(epoch))
    if evaluation.is_better(solver.task, val, solver.best_val_metric):
        solver_state.keep_as_best(solver, val, epoch)
    short = "acc" if solver.task == "classification" else "mse"
    progress.message(f"(Epoch {epoch:g} / {solver.num_epochs}) train {short}: {train:.6f}; "
                     f"val {short}: {val:.6f}", **{f"val_{short}": val})


def update(solver: Solver) -> None:
    """One minibatch update (the caller makes sure the epoch has examples left)."""
    step = solver.step
    notify(solver, "on_step_begin", step)
    if solver.lr_schedule is not None:
        solver_state.schedule_learning_rate(solver, step)

    idx = solver._perm[solver._pos:solver._pos + solver.batch_size]
    loss, grads = solver.model.loss(solver.X_train[idx], solver.y_train[idx])
    loss = float(loss)
    norm = checked_norm(solver, loss, grads)
    params = solver.model.params

    if solver.clip_value is not None:
        clipping.clip_grad_value(grads, solver.clip_value)
    if solver.clip_norm is not None:
        clipping.clip_grad_norm(grads, solver.clip_norm)

    for name, w in params.items():
        next_w, solver.optim_configs[name] = solver.rule(w, grads[name],
                                                         solver.optim_configs[name])
        params[name] = next_w

    first = next(iter(solver.optim_configs.values()))
    solver.loss_history.append(loss)
    solver.grad_norm_history.append(norm)
    solver.lr_history.append(float(first["learning_rate"]))
    solver._pos += solver.batch_size
    solver.step += 1
    notify(solver, "on_step_end", step, loss, grads)


def run_epoch(solver: Solver, progress: Progress) -> None:
    """The rest of the current epoch, or up to the step during which a stop came."""
    if solver._perm is None:
        solver._perm = solver.rng.permutation(solver.num_train)
        solver._pos = 0
    while solver._pos < solver.num_train:
        update(solver)
        progress.step(solver.step - 1, solver.loss_history[-1])
        if solver._pos >= solver.num_train:
            break
        if solver._stop_request is not None:
            stop_inside_epoch(solver, progress)
            return
        if (solver.checkpoint is not None and solver.checkpoint_every is not None
                and solver.step % solver.checkpoint_every == 0):
            solver.save_checkpoint()
    solver.epoch += 1
    solver._perm = None
    solver._pos = 0
    if solver.lr_schedule is None:
        solver_state.decay_learning_rate(solver)
    evaluate(solver, progress)
    notify(solver, "on_epoch_end", solver.epoch - 1)
    if solver.checkpoint is not None:
        solver.save_checkpoint()


def stop_inside_epoch(solver: Solver, progress: Progress) -> None:
    """Evaluate at a stop inside an epoch and write the checkpoint."""
    # The evaluation draws its subsample from a copy of the generator, so that the
    # checkpoint resumes with the shuffles of the uninterrupted run.
    rng, solver.rng = solver.rng, copy.deepcopy(solver.rng)
    try:
        evaluate(solver, progress)
    finally:
        solver.rng = rng
    if solver.checkpoint is not None:
        solver.save_checkpoint()
