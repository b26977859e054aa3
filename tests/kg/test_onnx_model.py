"""The ONNX extractor on a small torch model exported here: parameters, MACs, shapes,
dtypes, quantization, the RAM estimate, and bad files."""
import io
import warnings

import pytest

torch = pytest.importorskip("torch")

from kg.errors import InputError  # noqa: E402
from kg.ids import AR  # noqa: E402
from kg.models import describe_model  # noqa: E402
from kg.onnx_model import read_onnx  # noqa: E402
from kg.validation import validate  # noqa: E402


class Small(torch.nn.Module):
    """conv 3->8 3x3 stride 2 on 16x16 -> 8x8x8, depthwise 3x3 -> 8x8x8, linear 512 -> 10."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.fc = torch.nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        x = torch.relu(self.dw(x))
        return self.fc(x.flatten(1))


# hand-computed: out elements * kernel * input channels per group
MACS = {"Conv": 8 * 8 * 8 * (3 * 3 * 3) + 8 * 8 * 8 * (3 * 3 * 1), "Gemm": 512 * 10}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = Small().eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, 16, 16), buf, dynamo=False,
                          input_names=["image"], output_names=["logits"])
    path = tmp_path_factory.mktemp("onnx") / "small.onnx"
    path.write_bytes(buf.getvalue())
    return model, path


def test_parameters_equal_torch_numel(exported):
    model, path = exported
    facts = read_onnx(path.read_bytes(), str(path))
    assert facts.parameter_count == sum(p.numel() for p in model.parameters()) == 5434


def test_macs_hand_computed(exported):
    _, path = exported
    facts = read_onnx(path.read_bytes(), str(path))
    assert facts.macs_by_operator["Conv"] == MACS["Conv"]
    assert facts.macs_by_operator["Gemm"] == MACS["Gemm"]
    assert facts.macs_by_operator["Relu"] == 0
    assert facts.macs == sum(MACS.values())


def test_operators_shapes_dtypes(exported):
    _, path = exported
    facts = read_onnx(path.read_bytes(), str(path))
    ops: dict = {}
    for o in facts.operators:  # Conv appears twice: its conv and its depthwise node
        ops[(o.name, o.domain)] = ops.get((o.name, o.domain), 0) + o.count
    assert ops[("Conv", "ai.onnx")] == 2 and ops[("Gemm", "ai.onnx")] == 1
    assert all(o.version == facts.extra["opsets"]["ai.onnx"] for o in facts.operators)
    assert [(t.name, t.shape, t.dtype) for t in facts.inputs] == [("image", [1, 3, 16, 16], "float32")]
    assert [(t.name, t.shape, t.dtype) for t in facts.outputs] == [("logits", [1, 10], "float32")]
    assert facts.quantization == "float32"
    assert facts.model_bytes == path.stat().st_size
    assert facts.modality is None  # 16x16 is below the 32-pixel threshold of the shape guess


def test_ram_estimate_is_peak_live_activations(exported):
    _, path = exported
    facts = read_onnx(path.read_bytes(), str(path))
    # at the first Conv the input (3*16*16 floats) and its output (8*8*8 floats) are alive
    assert facts.peak_activation_bytes == (3 * 16 * 16 + 8 * 8 * 8) * 4
    assert facts.arena_bytes is None  # no runtime planned it: an estimate, not a tensor arena
    d = describe_model(path)
    assert (d.facts["ram_bytes"], d.facts["ram_provenance"]) == (facts.peak_activation_bytes, "estimated")
    assert not list(d.graph.objects(None, AR.arenaBytes))


def test_quantized_exports(exported, tmp_path):
    ort_q = pytest.importorskip("onnxruntime.quantization")
    import numpy as np

    _, path = exported

    class Reader(ort_q.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"image": np.random.rand(1, 3, 16, 16).astype("float32")} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    dyn = tmp_path / "dyn.onnx"
    qdq = tmp_path / "qdq.onnx"
    qop = tmp_path / "qop.onnx"
    import logging

    logging.getLogger().setLevel(logging.ERROR)
    ort_q.quantize_dynamic(str(path), str(dyn), weight_type=ort_q.QuantType.QInt8)
    ort_q.quantize_static(str(path), str(qdq), Reader())
    ort_q.quantize_static(str(path), str(qop), Reader(), quant_format=ort_q.QuantFormat.QOperator,
                          activation_type=ort_q.QuantType.QUInt8, weight_type=ort_q.QuantType.QUInt8)
    got = {p.stem: read_onnx(p.read_bytes(), str(p)) for p in (dyn, qdq, qop)}
    assert got["dyn"].quantization == "hybrid"  # DynamicQuantizeLinear: float activations
    assert got["qdq"].quantization == "int8"
    assert got["qop"].quantization == "uint8"
    for facts in got.values():
        assert facts.macs == sum(MACS.values())  # ConvInteger / QLinearConv / QGemm / MatMulInteger
    assert got["qdq"].parameter_count == got["qop"].parameter_count == 5434  # scales & zero points excluded


def test_describe_model_graph_conforms(exported):
    _, path = exported
    d = describe_model(path, task="image_classification", dataset="random")
    assert d.facts["format"] == "onnx" and d.facts["ram_provenance"] == "estimated"
    assert validate(d.graph) == []


@pytest.mark.parametrize("blob, match", [
    (b"\x08\x07" + b"\xff" * 40, "not a valid ONNX protobuf"),
    (b"\x08\x07", "not an ONNX model"),
    (b"hello world, this is text", "not a valid ONNX protobuf|not an ONNX model"),
])
def test_bad_onnx_gives_clear_errors(tmp_path, blob, match):
    path = tmp_path / "bad.onnx"
    path.write_bytes(blob)
    with pytest.raises(InputError, match=match) as exc:
        describe_model(path)
    assert str(path) in str(exc.value)


def test_cost_features_per_operator_class(exported):
    """Per-class work for the hardware cost model: the grouped conv is depthwise, weight
    bytes are float32 constants (weights + biases) per class, and the features reach the graph."""
    model, path = exported
    facts = read_onnx(path.read_bytes(), str(path))
    by = {}
    for o in facts.operators:
        d = by.setdefault(o.op_class, {"macs": 0, "weight_bytes": 0, "out": 0})
        d["macs"] += o.macs
        d["weight_bytes"] += o.weight_bytes
        d["out"] += o.output_elements
    assert by["conv"]["macs"] == 8 * 8 * 8 * 27 and by["depthwise"]["macs"] == 8 * 8 * 8 * 9
    assert by["conv"]["weight_bytes"] == 4 * (model.conv.weight.numel() + 8)
    assert by["depthwise"]["weight_bytes"] == 4 * (model.dw.weight.numel() + 8)
    assert by["dense"]["weight_bytes"] == 4 * (512 * 10 + 10)
    assert by["activation"]["out"] == 2 * 512  # two ReLUs on 8x8x8
    assert facts.input_bytes == 3 * 16 * 16 * 4
    assert facts.peak_activation_bytes > 0 and facts.arena_bytes is None
    assert facts.tensor_types.get("float32", 0) >= 5
    g = describe_model(path).graph
    rows = {str(r[0]) for r in g.query(
        "PREFIX ar: <https://w3id.org/arachne#> SELECT ?c WHERE { ?m ar:hasOperatorUse ?u . "
        "?u ar:operatorClass ?c ; ar:operatorWeightBytes ?w ; ar:operatorOutputElements ?e }")}
    assert {"conv", "depthwise", "dense", "activation"} <= rows
