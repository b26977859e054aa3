"""ONNX model files: operators (with the opset of their domain), tensors, quantization,
parameters, MACs, flash, and an ESTIMATE of activation RAM.

Rules:
- flash (`model_bytes`) = the file size.
- shapes come from the graph and `onnx.shape_inference` (strict mode off); symbolic
  or unknown dimensions count as 1 (a dynamic batch is one sample), and are noted.
- MACs per inference:
    Conv, ConvInteger, QLinearConv   out_elems * (C_in/group) * prod(kernel)
    ConvTranspose                    in_elems * (C_out/group) * prod(kernel)
    Gemm, QGemm                      M * N * K
    MatMul, MatMulInteger, QLinearMatMul   out_elems * K
  Every other op counts 0 (same convention as kg/tflite_model.py).
- parameters = elements of the initializers (and Constant nodes) that operators read,
  except int64 tensors (ONNX shapes, axes, pads, indices) and the scale / zero-point
  operands of the quantization ops. A tensor read by several ops counts once.
- quantization: QLinear* / QuantizeLinear of activations / ConvInteger / MatMulInteger
  fed by a QuantizeLinear -> 'int8' or 'uint8' (by the zero-point type);
  DynamicQuantizeLinear, or DequantizeLinear of weights only -> 'hybrid';
  float16 weights -> 'float16'; else 'float32'.
- RAM estimate (`peak_activation_bytes`; `arena_bytes` stays None: no runtime planned
  it) = the peak, over the nodes in the file's (topological) order, of the bytes of all
  activation tensors alive at that node: graph inputs and node outputs live from when
  they are produced until their last reader (graph outputs until the end). Weights are
  not counted (they stay in flash; dequantized weights of QDQ models count as weights).
  No runtime is run: it is an estimate (provenance 'estimated', kg/models.py), not a
  measurement, and it ignores runtime scratch buffers and in-place reuse.
"""
from __future__ import annotations

import hashlib
from collections import Counter

from kg.errors import InputError
from kg.model_facts import ModelFacts, OperatorUse, TensorInfo, dims_product, guess_modality_from_shapes

CONV_OPS = {"Conv", "ConvInteger", "QLinearConv"}
MATMUL_OPS = {"MatMul", "MatMulInteger", "QLinearMatMul"}
GEMM_OPS = {"Gemm", "QGemm"}  # QGemm: com.microsoft, written by onnxruntime's quantizer
WEIGHTED = CONV_OPS | MATMUL_OPS | GEMM_OPS | {"ConvTranspose"}
# Operator classes for the hardware cost model (as kg/tflite_model.OP_CLASSES); a Conv whose
# group equals its output channels is "depthwise" (decided per node in _op_class).
OP_CLASSES = {
    **dict.fromkeys(CONV_OPS | {"ConvTranspose"}, "conv"),
    **dict.fromkeys(MATMUL_OPS | GEMM_OPS, "dense"),
    **dict.fromkeys(("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean",
                     "ReduceMax", "ReduceSum", "QLinearAveragePool", "QLinearGlobalAveragePool", "LpPool"),
                    "pooling"),
    **dict.fromkeys(("Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Sqrt", "Abs", "Neg", "Exp", "Log",
                     "Sum", "QLinearAdd", "QLinearMul"), "elementwise"),
    **dict.fromkeys(("Relu", "Clip", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "HardSwish", "HardSigmoid",
                     "LeakyRelu", "PRelu", "Elu", "Gelu", "QLinearSigmoid", "QLinearLeakyRelu"), "activation"),
    **dict.fromkeys(("LSTM", "GRU", "RNN"), "recurrent"),
}
# Inputs that are quantization parameters, not weights: op -> positions.
QPARAM_INPUTS = {
    "QuantizeLinear": {1, 2}, "DequantizeLinear": {1, 2},
    "QLinearConv": {1, 2, 4, 5, 6, 7}, "QLinearMatMul": {1, 2, 4, 5, 6, 7}, "QGemm": {1, 2, 4, 5, 7, 8},
    "ConvInteger": {2, 3}, "MatMulInteger": {2, 3},
    "QLinearAdd": {1, 2, 4, 5, 6, 7}, "QLinearMul": {1, 2, 4, 5, 6, 7},
    "QLinearSigmoid": {1, 2, 3, 4}, "QLinearLeakyRelu": {1, 2, 3, 4},
    "QLinearAveragePool": {1, 2, 3, 4}, "QLinearGlobalAveragePool": {1, 2, 3, 4},
    "QLinearConcat": None,  # all but the data inputs; handled as 'no params'
}


def looks_like_onnx(data: bytes) -> bool:
    """A cheap check: ONNX ModelProto writes ir_version (field 1, varint) first: byte 0x08."""
    return len(data) > 2 and data[0] == 0x08


def _dtype_name(elem_type: int) -> str:
    import onnx

    try:
        import numpy as np

        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
    except Exception:  # noqa: BLE001 - unknown / undefined element types
        return onnx.TensorProto.DataType.Name(elem_type).lower() if elem_type in onnx.TensorProto.DataType.values() else f"type{elem_type}"


def _dtype_bytes(elem_type: int) -> int:
    import onnx

    try:
        import numpy as np

        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).itemsize
    except Exception:  # noqa: BLE001
        return 1 if elem_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4) else 4


def _value_shape(vi, notes: set) -> list[int] | None:
    t = vi.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in t.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(-1)
            notes.add(f"dimension '{d.dim_param or '?'}' of {vi.name} is symbolic; counted as 1")
    return dims


def read_onnx(data: bytes, file: str = "<bytes>") -> ModelFacts:
    """Facts of an ONNX protobuf (see the module docstring for the rules); InputError on a bad file."""
    try:
        return _read_onnx(data, file)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt file can break any step; the user gets one clear line
        raise InputError(file, None, f"corrupt or unsupported ONNX model ({exc.__class__.__name__}: {exc})") from exc


def _read_onnx(data: bytes, file: str) -> ModelFacts:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError, TypeError) as exc:
        raise InputError(file, None, f"not a valid ONNX protobuf ({exc.__class__.__name__}: {exc})") from exc
    except Exception as exc:  # noqa: BLE001 - the protobuf runtime raises its own types
        raise InputError(file, None, f"not a valid ONNX protobuf ({exc.__class__.__name__}: {exc})") from exc
    if not model.HasField("graph") or not model.opset_import or model.ir_version <= 0:
        raise InputError(file, "graph", "not an ONNX model: expected a ModelProto with ir_version, opset_import and a graph")
    graph = model.graph
    if len(graph.node) == 0:
        raise InputError(file, "graph.node", "ONNX graph has no nodes")
    if any(len(a.external_data) or a.data_location == 1 for a in graph.initializer):
        raise InputError(file, "graph.initializer", "weights stored in external data files are not supported; save the model with its weights inside")
    notes: set[str] = set()
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
        g = inferred.graph
    except Exception as exc:  # noqa: BLE001 - inference is best effort
        notes.add(f"shape inference failed ({exc.__class__.__name__}); shapes from the graph only")
        g = graph

    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    inits = {t.name: t for t in graph.initializer}
    consts = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for a in node.attribute:
                if a.name == "value" and a.HasField("t"):
                    consts[node.output[0]] = a.t

    shapes: dict[str, list[int]] = {}
    types: dict[str, int] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        s = _value_shape(vi, notes)
        if s is not None:
            shapes[vi.name] = s
        if vi.type.HasField("tensor_type"):
            types[vi.name] = vi.type.tensor_type.elem_type
    for name, t in list(inits.items()) + list(consts.items()):
        shapes[name] = [int(d) for d in t.dims]
        types[name] = t.data_type

    def info(vi) -> TensorInfo:
        return TensorInfo(vi.name, shapes.get(vi.name, []), _dtype_name(types.get(vi.name, 0)))

    inputs = [info(vi) for vi in graph.input if vi.name not in inits]
    outputs = [info(vi) for vi in graph.output]

    uses: dict[tuple, list[int]] = {}  # key -> [nodes, MACs, weight bytes, output elements]
    seen_w: set[str] = set()
    params = 0
    counted: set[str] = set()
    weighted_weight_types = []
    has_qlinear = has_dynamic = has_dequant_weights = has_quant_acts = False
    zp_types = []
    for node in graph.node:
        domain = node.domain or "ai.onnx"
        key = (node.op_type, opsets.get(domain, 0), domain, _op_class(node, shapes))
        m = _node_macs(node, shapes, notes)
        u = uses.setdefault(key, [0, 0, 0, 0])
        u[0] += 1
        u[1] += m
        for name in node.input:
            t = inits.get(name) or consts.get(name)
            if t is not None and name not in seen_w:
                seen_w.add(name)
                u[2] += dims_product(t.dims) * _dtype_bytes(t.data_type)
        u[3] += sum(dims_product(shapes[o]) for o in node.output if o in shapes)
        qpos = QPARAM_INPUTS.get(node.op_type, set())
        for pos, name in enumerate(node.input):
            t = inits.get(name) or consts.get(name)
            if t is None or name in counted:
                continue
            if qpos is None or pos in qpos or t.data_type == onnx.TensorProto.INT64:
                continue
            counted.add(name)
            params += dims_product(t.dims)
        if node.op_type in WEIGHTED and len(node.input) > 1:
            w = node.input[3] if node.op_type in ("QLinearConv", "QLinearMatMul", "QGemm") and len(node.input) > 3 else node.input[1]
            if w in types:
                weighted_weight_types.append(types[w])
        if node.op_type.startswith("QLinear") or node.op_type == "QGemm":
            has_qlinear = True
        if node.op_type == "DynamicQuantizeLinear":
            has_dynamic = True
        if node.op_type == "QuantizeLinear":
            if node.input and node.input[0] not in inits:
                has_quant_acts = True
            if len(node.input) > 2 and node.input[2] in types:
                zp_types.append(types[node.input[2]])
        if node.op_type == "DequantizeLinear" and node.input and node.input[0] in inits:
            has_dequant_weights = True
            zp_types.append(inits[node.input[0]].data_type)  # the stored weight type gives the signedness
        if node.op_type in ("QLinearConv", "QLinearMatMul") and len(node.input) > 5:
            zp_types.append(types.get(node.input[5], 0))

    quant = _quantization(weighted_weight_types, has_qlinear, has_quant_acts, has_dynamic, has_dequant_weights, zp_types)
    operators = [OperatorUse(op, v, c, d, macs, cls, wb, oe)
                 for (op, v, d, cls), (c, macs, wb, oe) in sorted(uses.items())]
    # Weights as a runtime holds them: initializers, Constant outputs, and dequantized
    # initializers (QDQ models), which runtimes fold into the quantized kernels.
    weight_names = set(inits) | set(consts)
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input and node.input[0] in weight_names:
            weight_names.update(node.output)
    peak = _peak_activation_bytes(graph, shapes, types, weight_names, notes)
    tensor_names = set(shapes) | {o for n in graph.node for o in n.output}
    facts = ModelFacts(
        file=file, format="onnx", model_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
        operators=operators, tensor_count=len(tensor_names), inputs=inputs, outputs=outputs,
        quantization=quant, parameter_count=int(params), macs=int(sum(o.macs for o in operators)),
        peak_activation_bytes=peak,
        input_bytes=dims_product(inputs[0].shape) * _dtype_bytes(types.get(inputs[0].name, 0)) if inputs else None,
        tensor_types=dict(sorted(Counter(_dtype_name(types[n]) for n in types
                                         if n not in weight_names).items())),
        notes=sorted(notes),
        extra={"ir_version": int(model.ir_version), "opsets": opsets,
               "producer": f"{model.producer_name} {model.producer_version}".strip() or None},
    )
    facts.modality = guess_modality_from_shapes(inputs)
    facts.modality_basis = "shape" if facts.modality else None
    return facts


def _op_class(node, shapes: dict) -> str:
    cls = OP_CLASSES.get(node.op_type, "other")
    if cls == "conv" and node.op_type != "ConvTranspose":
        w = shapes.get(node.input[3] if node.op_type == "QLinearConv" else node.input[1]) if len(node.input) > 1 else None
        group = _attr(node, "group", 1)
        if group > 1 and w and len(w) >= 2 and w[1] == 1 and w[0] == group:
            return "depthwise"
    return cls


def _attr(node, name, default=None):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _node_macs(node, shapes: dict, notes: set) -> int:
    op = node.op_type
    if op not in WEIGHTED or not node.output:
        return 0
    out = shapes.get(node.output[0])
    if op in CONV_OPS or op == "ConvTranspose":
        w_name = node.input[3] if op == "QLinearConv" else node.input[1]
        w = shapes.get(w_name)
        if not w or len(w) < 3:
            notes.add(f"{op} {node.name or node.output[0]}: weight shape unknown, MACs not counted")
            return 0
        kernel = dims_product(w[2:])
        if op == "ConvTranspose":
            x = shapes.get(node.input[0])
            if not x:
                notes.add(f"ConvTranspose {node.name}: input shape unknown, MACs not counted")
                return 0
            return dims_product(x) * (w[1] if w[1] > 0 else 1) * kernel  # w: [C_in, C_out/group, k...]
        if not out:
            notes.add(f"{op} {node.name or node.output[0]}: output shape unknown, MACs not counted")
            return 0
        return dims_product(out) * max(w[1], 1) * kernel  # w: [C_out, C_in/group, k...]
    if op in GEMM_OPS:
        a = shapes.get(node.input[0])
        b = shapes.get(node.input[3] if op == "QGemm" else node.input[1])
        if not a or len(a) != 2 or not b or len(b) != 2:
            notes.add(f"{op} {node.name}: shapes unknown, MACs not counted")
            return 0
        m, k = (a[1], a[0]) if _attr(node, "transA", 0) else (a[0], a[1])
        n = b[0] if _attr(node, "transB", 0) else b[1]
        return max(m, 1) * max(k, 1) * max(n, 1)
    # MatMul family: K is the last dim of A
    a_name = node.input[0]
    a = shapes.get(a_name)
    if not a or not out:
        notes.add(f"{op} {node.name or node.output[0]}: shapes unknown, MACs not counted")
        return 0
    return dims_product(out) * max(a[-1], 1)


def _quantization(weight_types, qlinear, quant_acts, dynamic, dequant_weights, zp_types) -> str:
    import onnx

    T = onnx.TensorProto
    integer = qlinear or quant_acts
    if dynamic or (dequant_weights and not integer):
        return "hybrid"
    if integer or any(t in (T.INT8, T.UINT8) for t in weight_types):
        if zp_types and all(t == T.UINT8 for t in zp_types):
            return "uint8"
        if not zp_types and weight_types and all(t == T.UINT8 for t in weight_types):
            return "uint8"
        return "int8"
    if weight_types and all(t == T.FLOAT16 for t in weight_types):
        return "float16"
    return "float32"


def _peak_activation_bytes(graph, shapes, types, weights: set, notes: set) -> int | None:
    """Peak bytes of live activations in node order (see the module docstring)."""
    last_use: dict[str, int] = {}
    n = len(graph.node)
    for i, node in enumerate(graph.node):
        for name in node.input:
            if name and name not in weights:
                last_use[name] = i
    for o in graph.output:
        last_use[o.name] = n

    def size(name: str) -> int:
        if name not in shapes or name not in types:
            notes.add(f"size of {name} unknown; not counted in the RAM estimate")
            return 0
        return dims_product(shapes[name]) * _dtype_bytes(types[name])

    live: dict[str, int] = {}
    for vi in graph.input:
        if vi.name not in weights:
            live[vi.name] = size(vi.name)
    peak = sum(live.values())
    for i, node in enumerate(graph.node):
        for o in node.output:
            if o and o not in weights:
                live[o] = size(o)
        peak = max(peak, sum(live.values()))
        for name in list(live):
            if last_use.get(name, -1) <= i:
                del live[name]
    return int(peak)
