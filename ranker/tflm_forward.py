"""Run a .tflite model on the host with the TFLite Micro Python interpreter, to get what the
transferability estimators read: the penultimate-layer features and the source head's softmax.

Each model runs in its own child process (`python -m ranker.tflm_forward`): TFLM is C++ and
a model it cannot handle may abort the process, which must not take the caller with it.
Several models run in parallel.

Which tensors:
* outputs: the first output, dequantized; `probs` is it as is when the head ends in SOFTMAX,
  else its softmax when it has >= 2 values per sample and is not an input-sized
  reconstruction (an autoencoder); otherwise there are no probabilities (LEEP/NCE abstain);
* features: walking back from the output through head ops (SOFTMAX, DEQUANTIZE, RESHAPE ...)
  to the last FULLY_CONNECTED, its input is the penultimate layer; without such a layer the
  output itself is the feature.
Inputs are float32 in the model's input space; int8/uint8 inputs are quantized with the
input tensor's scale and zero point.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

_HEAD_OPS = {"SOFTMAX", "DEQUANTIZE", "QUANTIZE", "RESHAPE", "SQUEEZE", "LOGISTIC", "LOG_SOFTMAX"}
_MAX_ARENA = 512 << 20


@dataclass
class Forward:
    """One model's outputs on n samples: features (n, d), probs (n, Z) or None, and which
    tensor gave the features ('penultimate' or 'output'); `error` when it could not run."""

    features: np.ndarray | None = None
    probs: np.ndarray | None = None
    feature_kind: str | None = None
    error: str | None = None


# ---------------------------------------------------------------------------
# In the child process
# ---------------------------------------------------------------------------
def _graph(data: bytes):
    """(input index, output index, penultimate index or None, ends in softmax, op names,
    {tensor index: (scale, zero point)}) of subgraph 0."""
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator

    names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}
    model = tflite.Model.GetRootAsModel(data, 0)
    sg = model.Subgraphs(0)
    producer = {}
    for j in range(sg.OperatorsLength()):
        op = sg.Operators(j)
        oc = model.OperatorCodes(op.OpcodeIndex())
        name = names.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), "CUSTOM")
        for t in op.OutputsAsNumpy():
            producer[int(t)] = (name, [int(i) for i in op.InputsAsNumpy()])
    quant = {}
    for t in range(sg.TensorsLength()):
        q = sg.Tensors(t).Quantization()
        if q is not None and q.ScaleLength() == 1:
            quant[t] = (float(q.Scale(0)), int(q.ZeroPoint(0)) if q.ZeroPointLength() else 0)
    out = int(sg.Outputs(0))
    softmax, penultimate, t = False, None, out
    for _ in range(sg.OperatorsLength()):
        if t not in producer:
            break
        name, ins = producer[t]
        if name == "SOFTMAX":
            softmax = True
        if name == "FULLY_CONNECTED":
            penultimate = ins[0]
            break
        if name not in _HEAD_OPS:
            break
        t = ins[0]
    return int(sg.Inputs(0)), out, penultimate, softmax, quant


def _dequantize(raw: np.ndarray, qp: tuple[float, int] | None) -> np.ndarray:
    x = np.asarray(raw)
    if x.dtype.kind in "iu" and qp is not None and qp[0] > 0:
        return (x.astype(np.float64) - qp[1]) * qp[0]
    return x.astype(np.float64)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def run_model(data: bytes, X: np.ndarray) -> Forward:
    """Forward every sample of X through the model, in this process (see the module docstring)."""
    from tflite_micro.python.tflite_micro import runtime

    in_idx, out_idx, pen_idx, softmax, quant = _graph(data)
    interp, arena = None, None
    while interp is None:
        try:
            interp = runtime.Interpreter.from_bytes(
                data, arena_size=arena, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
        except RuntimeError:
            # Preserving every tensor needs more arena than TFLM's default guess: grow it.
            arena = max((arena or len(data) * 10) * 4, 1 << 20)
            if arena > _MAX_ARENA:
                raise
    details = interp.get_input_details(0)
    shape = [int(d) for d in details["shape"]]
    per_sample = int(np.prod(shape[1:])) if len(shape) > 1 else int(np.prod(shape))
    X = np.asarray(X, dtype=np.float32)
    if X.ndim < 2 or int(np.prod(X.shape[1:])) != per_sample:
        got = int(np.prod(X.shape[1:])) if X.ndim >= 2 else 1
        return Forward(error=f"the data has {got} values per sample, the model's input {shape} takes {per_sample}")
    dtype = np.dtype(details["dtype"])
    qp = details["quantization_parameters"]
    scale = float(qp["scales"][0]) if len(qp["scales"]) else 0.0
    zero = int(qp["zero_points"][0]) if len(qp["zero_points"]) else 0
    feats, outs = [], []
    for x in X:
        x = x.reshape(shape)
        if dtype.kind in "iu" and scale > 0:
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        interp.set_input(x.astype(dtype), 0)
        interp.invoke()
        outs.append(_dequantize(interp.get_output(0), quant.get(out_idx)).ravel())
        if pen_idx is not None:
            t = interp.GetTensor(pen_idx, 0)
            feats.append(_dequantize(t["tensor_data"], quant.get(pen_idx)).ravel())
    out = np.stack(outs)
    probs = None
    if softmax:
        probs = np.clip(out, 0.0, None)
        probs = probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
    elif out.shape[1] >= 2 and out.shape[1] != per_sample:
        probs = _softmax(out)
    if pen_idx is not None:
        return Forward(np.stack(feats), probs, "penultimate")
    return Forward(out, probs, "output")


def _child(model_path: str, x_path: str, out_path: str) -> int:
    res = run_model(Path(model_path).read_bytes(), np.load(x_path))
    arrays = {"kind": np.array(res.feature_kind or ""), "error": np.array(res.error or "")}
    if res.features is not None:
        arrays["features"] = res.features
    if res.probs is not None:
        arrays["probs"] = res.probs
    np.savez(out_path, **arrays)
    return 0


# ---------------------------------------------------------------------------
# In the caller
# ---------------------------------------------------------------------------
def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def forward_many(paths: Sequence[str | Path], X: np.ndarray, workers: int | None = None,
                 timeout: float = 300.0) -> list[Forward]:
    """Run each model file on X in its own child process (at most `workers` at once)."""
    workers = workers or max(1, min(8, os.cpu_count() or 1))
    results: list[Forward | None] = [None] * len(paths)
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory(prefix="arachne-forward-") as tmp:
        x_path = os.path.join(tmp, "x.npy")
        np.save(x_path, np.asarray(X, dtype=np.float32))
        pending = list(range(len(paths)))
        running: list[tuple[int, subprocess.Popen, str]] = []
        while pending or running:
            while pending and len(running) < workers:
                i = pending.pop(0)
                out = os.path.join(tmp, f"out{i}.npz")
                proc = subprocess.Popen([sys.executable, "-m", "ranker.tflm_forward", str(paths[i]), x_path, out],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=root)
                running.append((i, proc, out))
            i, proc, out = running.pop(0)
            try:
                _, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                results[i] = Forward(error=f"the interpreter took over {timeout:g} s")
                continue
            if proc.returncode != 0 or not os.path.exists(out):
                why = _last_line(err.decode("utf-8", "replace")) or f"exit status {proc.returncode}"
                results[i] = Forward(error=f"the TFLM interpreter failed: {why}")
                continue
            with np.load(out) as z:
                error = str(z["error"]) or None
                results[i] = Forward(z["features"] if "features" in z else None,
                                     z["probs"] if "probs" in z else None, str(z["kind"]) or None, error)
    return results  # type: ignore[return-value]


if __name__ == "__main__":
    raise SystemExit(_child(*sys.argv[1:4]))
