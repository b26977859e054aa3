"""TensorFlow Lite model files: operators, tensors, quantization, parameters, MACs,
flash, and the tensor-arena RAM measured by the real TFLite Micro interpreter.

Rules (what the numbers mean):
- flash (`model_bytes`) = the file size.
- MACs = multiply-accumulates per inference, counted for the ops that do them:
    CONV_2D            out_elems * KH*KW*IC/groups   (filter [OC,KH,KW,IC/groups])
    DEPTHWISE_CONV_2D  out_elems * KH*KW             (filter [1,KH,KW,OC])
    FULLY_CONNECTED    out_elems * K                 (weights [units,K])
    TRANSPOSE_CONV     in_elems * KH*KW*OC           (each input scatters to KH*KW*OC outputs)
    CONV_3D            out_elems * KD*KH*KW*IC
    BATCH_MATMUL       out_elems * K
  Every other op counts 0: pooling, MEAN, ADD, MUL, SOFTMAX, LOGISTIC, PAD, RESHAPE,
  (DE)QUANTIZE, RESIZE_* are additions, comparisons, single multiplies or data
  movement, not multiply-accumulates. This is the convention of the TinyML paper's
  count (reference.csv `ren_macs`), which it reproduces on all 23 models (one value
  there is rounded to 7 significant digits). Recurrent ops (LSTM, SVDF, RNN) are not
  counted; a note in `facts.notes` says so when a model has one. Ops in every
  subgraph are counted once (a WHILE body's trip count is unknown).
- parameters = elements of constant tensors (tensors with data in the file) that
  operators read, of weight types (float32/16, int8/uint8/int16/int4), plus the
  int32/int64 bias operands of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED /
  TRANSPOSE_CONV / CONV_3D. Other integer constants are shapes, axes or paddings and
  are not parameters. A tensor shared by several ops counts once.
- quantization, from the weighted ops (conv / fc / matmul): int8 or uint8 weights
  with activations of the same type -> 'int8' / 'uint8' (int16 activations with int8
  weights -> 'int8', noted); int8/uint8 weights with float activations -> 'hybrid';
  float16 weights (constants of type float16, usually behind a DEQUANTIZE) -> 'float16';
  float32 -> 'float32'. Without weighted ops: the most common non-int32 tensor type.
- RAM (`arena_bytes`) = "Arena allocation total" that TFLM's RecordingMicroAllocator
  prints after AllocateTensors, with the interpreter's default arena (10x the model
  size; larger if that is too small). TFLM runs in a separate worker process, so a
  crash or hang on a corrupt file cannot take the caller down; a model TFLM refuses
  gets `tflm_refusal` (its own message) and no arena.
- RAM estimate (`peak_activation_bytes`, for every file) = the peak, in execution order,
  of the bytes of the non-constant tensors alive at once (from the op that writes a
  tensor to the last op that reads it); without an arena it is the model's RAM figure,
  provenance 'estimated' (kg/models.py). On the 32 files TFLM plans (22 of the demo's 23, 10
  of the 11 MLPerf Tiny files) the arena is 1.03-47x it (median 1.52): planner overhead,
  persistent buffers, scratch.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from kg.errors import InputError
from kg.model_facts import ModelFacts, OperatorUse, TensorInfo, dims_product, guess_modality_from_shapes

MAGIC = b"TFL3"

# Tensor element types by schema.fbs TensorType number (numpy-style names).
DTYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
    7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64",
    13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16",
}
WEIGHT_DTYPES = {"float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "int4"}
# Weighted ops: (weights input index, bias input index or None).
WEIGHTED = {
    "CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2),
    "TRANSPOSE_CONV": (1, 3), "CONV_3D": (1, 2), "CONV_3D_TRANSPOSE": (1, 3), "BATCH_MATMUL": (1, None),
}
RECURRENT = {"LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM", "SVDF", "RNN",
             "UNIDIRECTIONAL_SEQUENCE_RNN", "BIDIRECTIONAL_SEQUENCE_RNN"}
# Operator classes for the hardware cost model (ranker/cost_model.py): ops of one class
# cost about the same cycles per unit of work on a given core and kernel library.
OP_CLASSES = {
    **dict.fromkeys(("CONV_2D", "TRANSPOSE_CONV", "CONV_3D", "CONV_3D_TRANSPOSE"), "conv"),
    "DEPTHWISE_CONV_2D": "depthwise",
    **dict.fromkeys(("FULLY_CONNECTED", "BATCH_MATMUL"), "dense"),
    **dict.fromkeys(("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D", "MEAN", "SUM", "REDUCE_MAX",
                     "REDUCE_MIN", "REDUCE_PROD"), "pooling"),
    **dict.fromkeys(("ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "ADD_N",
                     "POW", "RSQRT", "SQRT", "ABS", "NEG", "EXP", "LOG"), "elementwise"),
    **dict.fromkeys(("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LOGISTIC", "TANH", "SOFTMAX",
                     "LOG_SOFTMAX", "HARD_SWISH", "LEAKY_RELU", "PRELU", "ELU", "GELU"), "activation"),
    **dict.fromkeys(RECURRENT, "recurrent"),
}
DTYPE_BYTES = {"float32": 4, "float16": 2, "int32": 4, "uint8": 1, "int64": 8, "bool": 1, "int16": 2,
               "int8": 1, "float64": 8, "uint64": 8, "uint32": 4, "uint16": 2, "int4": 1, "bfloat16": 2}
# Errors the flatbuffers accessors raise on out-of-range offsets in a corrupt file.
_CORRUPT = (IndexError, struct.error, ValueError, TypeError, OverflowError, UnicodeDecodeError, AttributeError, KeyError)


def _builtin_names() -> dict[int, str]:
    from tflite.BuiltinOperator import BuiltinOperator

    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


_BUILTINS: dict[int, str] | None = None


def is_tflite(data: bytes) -> bool:
    """True when the bytes carry the TFLite flatbuffer identifier ('TFL3' at offset 4)."""
    return len(data) >= 8 and data[4:8] == MAGIC


class _Reader:
    """Bounds-checked access to the flatbuffer: every vector length is checked against the
    file size before a loop runs over it, so a corrupt length cannot make us loop for ever."""

    def __init__(self, data: bytes, file: str):
        self.data = data
        self.file = file

    def fail(self, field: str, message: str) -> InputError:
        return InputError(self.file, field, message)

    def length(self, n: int, field: str, item_bytes: int = 4) -> int:
        if n < 0 or n * item_bytes > len(self.data):
            raise self.fail(field, f"corrupt TFLite flatbuffer: vector of {n} items cannot fit in {len(self.data)} bytes")
        return n

    def index(self, i: int, n: int, field: str) -> int:
        if not 0 <= i < n:
            raise self.fail(field, f"corrupt TFLite flatbuffer: index {i} out of range 0..{n - 1}")
        return i

    def vector_end_ok(self, table, slot: int, field: str) -> int:
        """Length of a byte vector at `slot`, checking that its data lies inside the file (truncation)."""
        o = table._tab.Offset(slot)
        if not o:
            return 0
        start = table._tab.Vector(o)
        n = table._tab.VectorLen(o)
        if n < 0 or start + n > len(self.data):
            raise self.fail(field, f"truncated TFLite file: {n} bytes of data at offset {start} run past the end ({len(self.data)} bytes)")
        return n


def _shape(tensor) -> list[int]:
    n = tensor.ShapeLength()
    return [int(d) for d in tensor.ShapeAsNumpy()] if n else []


def read_tflite(data: bytes, file: str = "<bytes>", measure_ram: bool = True, tflm_timeout: float = 30.0) -> ModelFacts:
    """Facts of a TFLite flatbuffer (see the module docstring for the rules); InputError on a bad file."""
    global _BUILTINS
    if not is_tflite(data):
        found = data[4:8] if len(data) >= 8 else data[:8]
        raise InputError(file, "bytes 4-8", f"not a TFLite flatbuffer: expected the identifier 'TFL3' at byte 4, found {found!r}")
    if _BUILTINS is None:
        _BUILTINS = _builtin_names()
    import tflite

    r = _Reader(data, file)
    try:
        facts = _parse(tflite, r, data, file)
    except InputError:
        raise
    except RecursionError as exc:
        raise InputError(file, None, "corrupt TFLite flatbuffer: nesting too deep") from exc
    except _CORRUPT as exc:
        raise InputError(file, None, f"truncated or corrupt TFLite flatbuffer ({type(exc).__name__}: {exc})") from exc
    if measure_ram:
        arena, refusal = measure_arena(data, timeout=tflm_timeout)
        facts.arena_bytes = arena
        facts.arena_method = "tflm" if arena is not None else None
        facts.tflm_refusal = refusal
    return facts


def _parse(tflite, r: _Reader, data: bytes, file: str) -> ModelFacts:
    model = tflite.Model.GetRootAsModel(data, 0)
    version = model.Version()
    n_codes = r.length(model.OperatorCodesLength(), "operator_codes")
    codes = []  # (name, version, domain)
    for i in range(n_codes):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == 32:  # CUSTOM: named by its custom code
            custom = oc.CustomCode()
            name = custom.decode("utf-8", "replace") if custom else "CUSTOM"
            codes.append((name, oc.Version(), "custom"))
        else:
            if code not in _BUILTINS:
                raise r.fail(f"operator_codes[{i}]", f"unknown builtin operator code {code} (newer schema than the `tflite` package, or a corrupt file)")
            codes.append((_BUILTINS[code], oc.Version(), "builtin"))

    n_buffers = r.length(model.BuffersLength(), "buffers")
    buffer_size: dict[int, int] = {}

    def constant_bytes(b: int) -> int:
        if b not in buffer_size:
            buf = model.Buffers(b)
            n = r.vector_end_ok(buf, 4, f"buffers[{b}].data")
            # Models over 2 GB keep data outside the flatbuffer (offset/size fields).
            if n == 0 and buf.Offset() > 1:
                n = int(buf.Size())
            buffer_size[b] = n
        return buffer_size[b]

    n_sub = r.length(model.SubgraphsLength(), "subgraphs")
    if n_sub == 0:
        raise r.fail("subgraphs", "corrupt TFLite flatbuffer: no subgraph (a model needs at least one)")

    uses: Counter = Counter()
    macs: Counter = Counter()
    wbytes: Counter = Counter()    # constant bytes read, per operator key
    out_elems: Counter = Counter()  # output elements written, per operator key
    peak_act = input_bytes = None
    tensor_count = 0
    params = 0
    weighted_pairs = []  # (weights dtype, activations dtype)
    type_counts: Counter = Counter()
    notes: list[str] = []
    inputs: list[TensorInfo] = []
    outputs: list[TensorInfo] = []

    for s in range(n_sub):
        sg = model.Subgraphs(s)
        n_t = r.length(sg.TensorsLength(), f"subgraphs[{s}].tensors")
        tensor_count += n_t
        tensors = [sg.Tensors(t) for t in range(n_t)]
        dtypes = []
        for t, ten in enumerate(tensors):
            code = ten.Type()
            dtypes.append(DTYPES.get(code, f"type{code}"))
        shapes = [_shape(ten) for ten in tensors]
        is_const = []
        for t, ten in enumerate(tensors):
            b = ten.Buffer()
            if n_buffers == 0 or ten.IsVariable():
                is_const.append(False)
                continue
            r.index(b, n_buffers, f"subgraphs[{s}].tensors[{t}].buffer")
            is_const.append(constant_bytes(b) > 0)
        for t in range(n_t):
            if not is_const[t]:
                type_counts[dtypes[t]] += 1
        counted: set[int] = set()
        weight_seen: set[int] = set()

        def io(vec_len, vec_np, what):
            n = r.length(vec_len, f"subgraphs[{s}].{what}")
            idx = [int(i) for i in vec_np()] if n else []
            out = []
            for i in idx:
                r.index(i, n_t, f"subgraphs[{s}].{what}")
                name = tensors[i].Name()
                out.append(TensorInfo(name.decode("utf-8", "replace") if name else f"tensor{i}", shapes[i], dtypes[i]))
            return out

        if s == 0:
            inputs = io(sg.InputsLength(), sg.InputsAsNumpy, "inputs")
            outputs = io(sg.OutputsLength(), sg.OutputsAsNumpy, "outputs")

        n_ops = r.length(sg.OperatorsLength(), f"subgraphs[{s}].operators")
        op_io: list[tuple[list[int], list[int]]] = []
        for j in range(n_ops):
            op = sg.Operators(j)
            where = f"subgraphs[{s}].operators[{j}]"
            name, opver, domain = codes[r.index(op.OpcodeIndex(), n_codes, where + ".opcode_index")]
            uses[(name, opver, domain)] += 1
            n_in = r.length(op.InputsLength(), where + ".inputs")
            n_out = r.length(op.OutputsLength(), where + ".outputs")
            ins = [int(i) for i in op.InputsAsNumpy()] if n_in else []
            outs = [int(i) for i in op.OutputsAsNumpy()] if n_out else []
            for i in ins:
                if i != -1:  # -1 marks an omitted optional input
                    r.index(i, n_t, where + ".inputs")
            for i in outs:
                r.index(i, n_t, where + ".outputs")

            op_io.append((ins, outs))
            key = (name, opver, domain)
            out_elems[key] += sum(dims_product(shapes[i]) for i in outs)
            for i in ins:
                if i != -1 and is_const[i] and i not in weight_seen:
                    weight_seen.add(i)
                    wbytes[key] += constant_bytes(tensors[i].Buffer())

            # parameters
            w_idx, b_idx = WEIGHTED.get(name, (None, None))
            for pos, i in enumerate(ins):
                if i == -1 or i in counted or not is_const[i]:
                    continue
                if dtypes[i] in WEIGHT_DTYPES or (pos == b_idx and dtypes[i] in ("int32", "int64")):
                    counted.add(i)
                    params += dims_product(shapes[i])

            # MACs
            m = _op_macs(name, ins, outs, shapes)
            macs[(name, opver, domain)] += m
            if name in RECURRENT and f"{name} MACs not counted" not in " ".join(notes):
                notes.append(f"{name} MACs not counted (recurrent op)")

            # quantization evidence
            if w_idx is not None and len(ins) > w_idx and ins[w_idx] != -1 and ins[0] != -1:
                w = ins[w_idx]
                wtype = dtypes[w]
                if not is_const[w]:
                    wtype = _dequantized_source_type(sg, tensors, dtypes, is_const, codes, w, r, n_t, n_ops) or wtype
                weighted_pairs.append((wtype, dtypes[ins[0]]))

        if s == 0:
            peak_act = _peak_activation(op_io, shapes, dtypes, is_const,
                                        [int(i) for i in sg.InputsAsNumpy()] if sg.InputsLength() else [],
                                        [int(i) for i in sg.OutputsAsNumpy()] if sg.OutputsLength() else [])
            if inputs:
                input_bytes = dims_product(inputs[0].shape) * DTYPE_BYTES.get(inputs[0].dtype, 4)

    quant, qnote = _quantization(weighted_pairs, type_counts)
    if qnote:
        notes.append(qnote)
    operators = [OperatorUse(name, int(v), int(c), domain, int(macs[(name, v, domain)]),
                             OP_CLASSES.get(name, "other"), int(wbytes[(name, v, domain)]),
                             int(out_elems[(name, v, domain)]))
                 for (name, v, domain), c in sorted(uses.items(), key=lambda kv: (kv[0][0], kv[0][1]))]
    desc = model.Description()
    facts = ModelFacts(
        file=file, format="tflite", model_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
        operators=operators, tensor_count=tensor_count, inputs=inputs, outputs=outputs,
        quantization=quant, parameter_count=int(params), macs=int(sum(macs.values())), notes=notes,
        peak_activation_bytes=peak_act, input_bytes=input_bytes, tensor_types=dict(sorted(type_counts.items())),
        extra={"schema_version": int(version), "subgraphs": n_sub,
               "description": desc.decode("utf-8", "replace") if desc else None},
    )
    facts.modality = guess_modality_from_shapes(inputs)
    facts.modality_basis = "shape" if facts.modality else None
    return facts


def _peak_activation(op_io, shapes, dtypes, is_const, inputs, outputs) -> int:
    """Peak bytes of live non-constant tensors in execution order: a tensor lives from the
    op that writes it (or the start, for inputs) to the last op that reads it."""
    def size(t):
        return dims_product(shapes[t]) * DTYPE_BYTES.get(dtypes[t], 4)

    last = {t: len(op_io) for t in outputs}
    for j, (ins, _) in enumerate(op_io):
        for t in ins:
            if t != -1 and not is_const[t]:
                last[t] = max(last.get(t, -1), j)
    live = {t: size(t) for t in inputs if not is_const[t]}
    peak = sum(live.values())
    for j, (_, outs) in enumerate(op_io):
        for t in outs:
            if not is_const[t]:
                live[t] = size(t)
        peak = max(peak, sum(live.values()))
        for t in [t for t in live if last.get(t, -1) <= j]:
            del live[t]
    return int(peak)


def _op_macs(name: str, ins: list[int], outs: list[int], shapes: list[list[int]]) -> int:
    def shp(i):
        return shapes[i] if i != -1 else []

    if not outs or name not in WEIGHTED:
        return 0
    out = shp(outs[0])
    out_elems = dims_product(out)
    w = shp(ins[1]) if len(ins) > 1 else []
    if name == "CONV_2D" and len(w) == 4:
        return out_elems * dims_product(w[1:])
    if name == "DEPTHWISE_CONV_2D" and len(w) == 4:
        return out_elems * dims_product(w[1:3])
    if name == "FULLY_CONNECTED" and len(w) == 2:
        return out_elems * max(w[1], 1)
    if name == "TRANSPOSE_CONV" and len(w) == 4 and len(ins) > 2:
        return dims_product(shp(ins[2])) * dims_product(w[:3])
    if name == "CONV_3D" and len(w) == 5:
        return out_elems * dims_product(w[:4])
    if name == "BATCH_MATMUL" and len(out) >= 2:
        lhs = shp(ins[0])
        if len(lhs) >= 2:
            k = lhs[-1] if lhs[-2] == out[-2] else lhs[-2]
            return out_elems * max(k, 1)
    return 0


def _dequantized_source_type(sg, tensors, dtypes, is_const, codes, w, r, n_t, n_ops) -> str | None:
    """Type of the constant behind a DEQUANTIZE that produces tensor `w` (float16 / int8 weights)."""
    for j in range(n_ops):
        op = sg.Operators(j)
        if codes[op.OpcodeIndex()][0] != "DEQUANTIZE" or op.OutputsLength() != 1:
            continue
        if int(op.OutputsAsNumpy()[0]) == w and op.InputsLength() >= 1:
            src = int(op.InputsAsNumpy()[0])
            if 0 <= src < n_t and is_const[src]:
                return dtypes[src]
    return None


def _quantization(pairs: list[tuple[str, str]], type_counts: Counter) -> tuple[str | None, str | None]:
    floats = {"float32", "float64", "bfloat16"}
    votes: Counter = Counter()
    note = None
    for wtype, atype in pairs:
        if wtype in ("int8", "uint8", "int4") and atype in floats:
            votes["hybrid"] += 1
        elif wtype in ("int8", "int4") and atype == "int16":
            votes["int8"] += 1
            note = "int16 activations with int8 weights (16x8 quantization), reported as int8"
        elif wtype in ("int8", "int4"):
            votes["int8"] += 1
        elif wtype == "uint8":
            votes["uint8"] += 1
        elif wtype == "float16":
            votes["float16"] += 1
        elif wtype in floats:
            votes["float32"] += 1
    if votes:
        # Any hybrid op makes the model hybrid (a runtime must support hybrid kernels).
        if votes["hybrid"]:
            return "hybrid", note
        return votes.most_common(1)[0][0], note
    for dtype, _ in type_counts.most_common():
        if dtype in ("int8", "uint8", "float32", "float16"):
            return dtype, note
    return None, note


# ---------------------------------------------------------------------------
# Tensor arena, measured by the TFLM interpreter in a worker process.
# ---------------------------------------------------------------------------
_ARENA_RE = re.compile(rb"Arena allocation total (\d+) bytes")
_TOO_SMALL_RE = re.compile(rb"Failed to (allocate|resize)|missing: \d+|too small", re.I)
_MAX_ARENA = 64 * 1024 * 1024


class TflmWorker:
    """A long-lived `python -m kg.tflite_model --tflm-worker` process that loads models
    into TFLM one at a time. Requests are sent on stdin; replies come back on a pipe of
    their own, because TFLM's C++ code prints to fds 1 and 2, which the worker captures."""

    def __init__(self, argv: list[str] | None = None):
        # argv: the worker command (tests substitute one that crashes or hangs)
        self.argv = argv or [sys.executable, "-m", "kg.tflite_model", "--tflm-worker"]
        self.proc: subprocess.Popen | None = None
        self.reply_fd: int | None = None
        self.lock = threading.Lock()

    def _start(self):
        read_fd, write_fd = os.pipe()
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["ARACHNE_TFLM_REPLY_FD"] = str(write_fd)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(write_fd,), env=env, cwd=root,
        )
        os.close(write_fd)
        os.set_blocking(self.proc.stdin.fileno(), False)  # writes must not block past a timeout
        self.reply_fd = read_fd

    def close(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.reply_fd is not None:
            os.close(self.reply_fd)
        self.proc, self.reply_fd = None, None

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.close()

    def _write(self, payload: bytes, deadline: float) -> bool:
        """Send the request without blocking past the deadline (a hung worker stops reading)."""
        fd = self.proc.stdin.fileno()
        view = memoryview(payload)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _, ready, _ = select.select([], [fd], [], left)
            if ready:
                try:
                    n = os.write(fd, view[:65536])
                except BlockingIOError:
                    continue
                view = view[n:]
        return True

    def _read_reply(self, timeout: float) -> bytes | None:
        buf = b""
        while not buf.endswith(b"\n"):
            ready, _, _ = select.select([self.reply_fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.reply_fd, 65536)
            if not chunk:
                return b""  # the worker died
            buf += chunk
        return buf

    def measure(self, data: bytes, timeout: float = 30.0) -> tuple[int | None, str | None]:
        """(arena bytes, None) when TFLM loads the model; (None, reason) when it refuses, crashes or hangs."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.close()
                self._start()
            deadline = time.monotonic() + timeout
            try:
                if self._write(json.dumps({"n": len(data)}).encode() + b"\n" + data, deadline):
                    reply = self._read_reply(max(deadline - time.monotonic(), 0))
                else:
                    reply = None  # it stopped reading: hung
            except (BrokenPipeError, OSError):
                reply = b""  # it died while reading the model
            if reply is None:
                self._kill()
                return None, f"TFLM did not finish loading the model within {timeout:g} s"
            if reply == b"":
                try:
                    code = self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    code = None
                self._kill()
                if code is not None and code < 0:
                    try:
                        what = f"signal {signal.Signals(-code).name}"
                    except ValueError:
                        what = f"signal {-code}"
                else:
                    what = f"exit status {code}"
                return None, f"TFLM crashed while loading the model ({what})"
            try:
                result = json.loads(reply)
            except ValueError:
                self._kill()
                return None, "TFLM worker answered garbage"
            return result.get("arena"), result.get("refusal")


_WORKER: TflmWorker | None = None


def _worker() -> TflmWorker:
    global _WORKER
    if _WORKER is None:
        _WORKER = TflmWorker()
        atexit.register(_WORKER.close)
    return _WORKER


def tflm_available() -> bool:
    """Whether the tflite-micro package is installed."""
    import importlib.util

    return importlib.util.find_spec("tflite_micro") is not None


def measure_arena(data: bytes, timeout: float = 30.0) -> tuple[int | None, str | None]:
    """Tensor-arena bytes TFLM allocates for the model, or (None, why not)."""
    if not tflm_available():
        return None, None
    return _worker().measure(data, timeout=timeout)


def _refusal_text(captured: bytes, exc: Exception | None) -> str:
    """TFLM's own messages, without the source-file prefixes and the allocator report."""
    lines = []
    for raw in captured.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("[RecordingMicroAllocator]"):
            continue
        line = re.sub(r"^\S+\.(cc|h|cpp)(:\d+)?\s+", "", line)
        lines.append(line)
    if exc is not None and str(exc) and not lines:
        lines.append(str(exc))
    return " ".join(lines)[:1000] or "TFLM refused the model"


def _worker_main() -> None:
    import ctypes
    import resource
    import tempfile

    reply = os.fdopen(int(os.environ["ARACHNE_TFLM_REPLY_FD"]), "w", buffering=1)
    capture = tempfile.TemporaryFile()
    os.dup2(capture.fileno(), 1)
    os.dup2(capture.fileno(), 2)
    libc = ctypes.CDLL(None)
    try:  # a corrupt model must not eat the machine's memory
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
    except (ValueError, OSError):
        pass
    from tflite_micro.python.tflite_micro import runtime

    stdin = sys.stdin.buffer
    while True:
        header = stdin.readline()
        if not header:
            return
        n = int(json.loads(header)["n"])
        data = stdin.read(n)
        arena_size = None  # TFLM's default: 10x the model size (what reference.csv used)
        result = {}
        while True:
            capture.seek(0)
            capture.truncate()
            exc = None
            interp = None
            try:
                interp = runtime.Interpreter.from_bytes(data, arena_size=arena_size)
                interp.print_allocations()
            except Exception as e:  # noqa: BLE001 - any failure is a refusal, reported as text
                exc = e
            sys.stdout.flush()
            libc.fflush(None)
            capture.seek(0)
            text = capture.read()
            del interp
            match = _ARENA_RE.search(text)
            if exc is None and match:
                result = {"arena": int(match.group(1)), "refusal": None}
                break
            current = arena_size or len(data) * 10
            if exc is not None and _TOO_SMALL_RE.search(text) and current < _MAX_ARENA:
                arena_size = min(max(current * 4, 1 << 20), _MAX_ARENA)
                continue
            result = {"arena": None, "refusal": _refusal_text(text, exc)}
            break
        reply.write(json.dumps(result) + "\n")


if __name__ == "__main__" and "--tflm-worker" in sys.argv:
    _worker_main()
