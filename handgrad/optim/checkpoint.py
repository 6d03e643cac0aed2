"""Solver checkpoints: one ``.npz`` file, no pickle, written atomically.

Layout of the archive (every entry loads with ``np.load(path, allow_pickle=False)``)::

    metadata             0-d unicode array holding a JSON object (see below)
    params/<i>           parameter i (names in metadata["param_names"]), current values
    best_params/<i>      the parameters of the best validation score so far (if any)
    buffers/<i>          model.buffers (e.g. batchnorm running statistics), if the model has any
    best_buffers/<i>     the buffers that went with best_params
    optim/<i>/<key>      per-parameter optimizer state arrays (velocity, cache, m, v)
    history/<name>       the Solver's float histories: per update ``loss``, ``grad_norm``,
                         ``lr``; per evaluation ``train_acc``, ``val_acc`` (classification) or
                         ``train_mse``, ``val_mse`` (regression), and ``eval_epoch``, the epoch
                         of each evaluation (2.5 for a stop half-way through the third)
    epoch_perm           the current epoch's shuffle, when written in the middle of an epoch

``metadata`` holds ``format`` ("handgrad-checkpoint"), ``format_version``, the Solver's
options (``solver``: update rule, optim_config, lr_decay, lr_schedule, batch size, ...,
``diagnose``), the scalar part of each parameter's optimizer config (learning rate, ``t``,
...), ``epoch`` and ``step`` (and ``epoch_pos``, the position inside the epoch), the random
generator state (``bit_generator.state`` as JSON), the best validation score
(``best_val_metric``, ``best_epoch``), ``stop_reason`` (why training stopped before
``num_epochs``, e.g. "time budget of 3 min spent" or "interrupted (Ctrl-C)"; None when it did
not), the callbacks' state and history, and the model's class (``model_class``) and
constructor arguments (``model_config``, from ``model.config()`` when the model has that
method).

The file is written to a temporary file in the same directory, flushed, fsynced and moved over
the old checkpoint with ``os.replace`` (:func:`handgrad._files.atomic_write`), so a crash
mid-write leaves the previous one intact. It is readable by its owner only (mode 0o600).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handgrad._files import atomic_write

FORMAT = "handgrad-checkpoint"
FORMAT_VERSION = 1


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def dumps(value: Any) -> str:
    """JSON with NumPy scalars and arrays turned into Python values (NaN allowed)."""
    return json.dumps(value, default=_json_default)


def encode(params: Mapping[str, np.ndarray], best_params: Mapping[str, np.ndarray] | None,
           optim_configs: Mapping[str, Mapping[str, Any]], buffers: Mapping[str, np.ndarray],
           best_buffers: Mapping[str, np.ndarray] | None,
           histories: Mapping[str, Sequence[float]], epoch_perm: np.ndarray | None
           ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The archive entries of the layout above, and the metadata entries that index them
    (``param_names``, ``param_shapes``, ``param_dtypes``, ``buffer_names``, ``optim_scalars``,
    ``optim_arrays``); :func:`load_checkpoint` reads them back."""
    names = list(params)
    arrays: dict[str, np.ndarray] = {}
    optim_scalars: list[dict[str, Any]] = []
    optim_arrays: list[list[str]] = []
    for i, name in enumerate(names):
        arrays[f"params/{i}"] = np.asarray(params[name])
        if best_params is not None:
            arrays[f"best_params/{i}"] = best_params[name]
        scalars: dict[str, Any] = {}
        keys: list[str] = []
        for key, value in optim_configs[name].items():
            if isinstance(value, np.ndarray):
                arrays[f"optim/{i}/{key}"] = value
                keys.append(key)
            else:
                scalars[key] = value
        optim_scalars.append(scalars)
        optim_arrays.append(keys)
    for i, (name, value) in enumerate(buffers.items()):
        arrays[f"buffers/{i}"] = value
        if best_params is not None and best_buffers is not None:
            arrays[f"best_buffers/{i}"] = best_buffers[name]
    for key, values in histories.items():
        arrays[f"history/{key}"] = np.asarray(values, dtype=np.float64)
    if epoch_perm is not None:
        arrays["epoch_perm"] = epoch_perm
    layout = {
        "param_names": names,
        "param_shapes": [list(params[n].shape) for n in names],
        "param_dtypes": [str(params[n].dtype) for n in names],
        "buffer_names": list(buffers),
        "optim_scalars": optim_scalars,
        "optim_arrays": optim_arrays,
    }
    return arrays, layout


def write_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray],
                     metadata: dict[str, Any]) -> None:
    """Atomically write ``arrays`` plus the JSON ``metadata`` to ``path`` (an ``.npz`` file)."""
    entries: dict[str, Any] = dict(arrays)
    entries["metadata"] = np.array(dumps(metadata))
    # The directory must exist (the Solver checks it up front); the file stays private.
    atomic_write(path, lambda fh: np.savez(fh, **entries), mode=0o600, fsync=True,
                 parents=False)


def _indexed(npz: Any, prefix: str, names: list[str]) -> dict[str, np.ndarray] | None:
    if f"{prefix}/0" not in npz.files and names:
        return None
    return {name: npz[f"{prefix}/{i}"] for i, name in enumerate(names)}


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a Solver checkpoint into plain Python objects (no pickle involved).

    Returns a dict with:

    - ``metadata``: the JSON metadata (hyper-parameters, ``epoch``, ``step``, ``model_class``,
      ``model_config``, ``best_val_metric``, ...);
    - ``params``: ``{name: array}``, the parameters when the checkpoint was written;
    - ``best_params``: the parameters with the best validation score (what the Solver restores
      at the end of training), or None if no validation score was finite;
    - ``buffers`` / ``best_buffers``: the model's buffers (``{}`` / None when it has none);
    - ``optim_configs``: ``{name: config}`` with each parameter's full optimizer config;
    - ``histories``: ``{name: float64 array}`` (``loss``, ``grad_norm``, ``lr``, ``train_acc``,
      ``val_acc`` or ``train_mse``, ``val_mse``, ``eval_epoch``);
    - ``history``: the callbacks' history (``solver.history``);
    - ``epoch_perm``: the current epoch's shuffle, or None at an epoch boundary.
    """
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {str(path)!r}") from None
    except (ValueError, OSError) as exc:
        raise ValueError(f"load_checkpoint: {str(path)!r} is not a readable .npz checkpoint "
                         f"({exc})") from None
    with npz:
        if not hasattr(npz, "files") or "metadata" not in npz.files:
            raise ValueError(f"load_checkpoint: {str(path)!r} is not a handgrad checkpoint "
                             f"(no metadata entry)")
        meta = json.loads(npz["metadata"].item())
        if meta.get("format") != FORMAT:
            raise ValueError(f"load_checkpoint: {str(path)!r} is not a handgrad checkpoint")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"load_checkpoint: {str(path)!r} has checkpoint format version "
                             f"{meta.get('format_version')!r}; this handgrad reads version "
                             f"{FORMAT_VERSION}")
        names = list(meta["param_names"])
        buffer_names = list(meta.get("buffer_names", []))
        optim_configs: dict[str, dict[str, Any]] = {}
        for i, name in enumerate(names):
            config = dict(meta["optim_scalars"][i])
            for key in meta["optim_arrays"][i]:
                config[key] = npz[f"optim/{i}/{key}"]
            optim_configs[name] = config
        histories = {f[len("history/"):]: npz[f] for f in npz.files if f.startswith("history/")}
        return {
            "metadata": meta,
            "params": _indexed(npz, "params", names),
            "best_params": _indexed(npz, "best_params", names),
            "buffers": _indexed(npz, "buffers", buffer_names) or {},
            "best_buffers": _indexed(npz, "best_buffers", buffer_names)
            if "best_params/0" in npz.files else None,
            "optim_configs": optim_configs,
            "histories": histories,
            "history": meta.get("callback_history", {}),
            "epoch_perm": npz["epoch_perm"] if "epoch_perm" in npz.files else None,
        }
