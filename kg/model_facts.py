"""What an extractor reads from a model file: the format-neutral record that
kg/tflite_model.py and kg/onnx_model.py fill and kg/models.py turns into RDF."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Quantization labels shared by the extractors; kg/models.py maps them to ar: individuals.
QUANTIZATIONS = ("int8", "uint8", "float32", "float16", "hybrid")


@dataclass
class TensorInfo:
    """One input or output tensor: name, shape (-1 where dynamic) and element type (numpy-style name)."""

    name: str
    shape: list[int]
    dtype: str


@dataclass
class OperatorUse:
    """One operator kind used by a model: name, version (TFLite op version or ONNX opset),
    domain ('builtin' / 'custom' for TFLite, the ONNX domain, 'ai.onnx' for the default one),
    how many nodes use it, and the MACs those nodes perform together."""

    name: str
    version: int
    count: int
    domain: str
    macs: int = 0
    # Cost-model features (ranker/cost_model.py): the operator's class (conv, depthwise,
    # dense, pooling, elementwise, activation, recurrent, other), bytes of the constant
    # weights its nodes read, and the elements their outputs hold.
    op_class: str = "other"
    weight_bytes: int = 0
    output_elements: int = 0


@dataclass
class ModelFacts:
    """Everything read from one model file. Sizes in bytes, MACs per inference."""

    file: str                     # the path as given (for messages)
    format: str                   # 'tflite' | 'onnx'
    model_bytes: int              # flash: the file size
    sha256: str
    operators: list[OperatorUse] = field(default_factory=list)
    tensor_count: int = 0
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    quantization: str | None = None
    parameter_count: int = 0
    macs: int = 0
    arena_bytes: int | None = None
    arena_method: str | None = None     # 'tflm' (planned by the interpreter); an estimate is peak_activation_bytes
    tflm_refusal: str | None = None     # why TFLM would not load it, when it would not
    modality: str | None = None
    modality_basis: str | None = None   # 'shape' here; kg/models.py may override from the card
    notes: list[str] = field(default_factory=list)  # what was not counted, and why
    peak_activation_bytes: int | None = None  # live activations at the widest point, node order
    input_bytes: int | None = None            # bytes of the first input tensor
    tensor_types: dict = field(default_factory=dict)  # activation (non-constant) tensors per dtype
    extra: dict = field(default_factory=dict)       # format-specific details (producer, opsets ...)

    @property
    def macs_by_operator(self) -> dict[str, int]:
        """MACs per operator name (summed over versions)."""
        out: dict[str, int] = {}
        for op in self.operators:
            out[op.name] = out.get(op.name, 0) + op.macs
        return out

    def as_dict(self) -> dict:
        """Plain-data view (JSON-serialisable)."""
        data = asdict(self)
        data["macs_by_operator"] = self.macs_by_operator
        return data


def dims_product(shape) -> int:
    """Number of elements of a shape; unknown (negative) dims count as 1, so a dynamic batch is one."""
    n = 1
    for d in shape:
        n *= d if d > 0 else 1
    return n


def guess_modality_from_shapes(inputs: list[TensorInfo]) -> str | None:
    """A cautious guess of the input modality from the first input's shape; None when unclear.

    image: rank 4 [N,H,W,C] (or [N,C,H,W]) with H, W >= 32 and 3 or 4 channels, or H, W >= 64 in one;
    inertial: a window of >= 20 samples over 3, 6 or 9 axes ([N,T,A] or [N,T,A,1]);
    audio: 2-D audio features, >= 20 frames of 8-31 coefficients in one channel ([N,T,F,1], e.g.
    the 49 x 10 MFCCs of keyword spotting). One-channel grids of 32-63 a side are either
    (spectrogram patches and small grey images both look like that: 1 of the 23 TinyML models
    is one), so they are not guessed; nor are flattened feature vectors: the card or the task says."""
    if not inputs:
        return None
    shape = [d for d in inputs[0].shape]
    if len(shape) == 4:
        n, a, b, c = shape
        side = 64 if c == 1 else 32
        if a >= side and b >= side and c in (1, 3, 4):
            return "image"
        if b >= 32 and c >= 32 and a == 3 or b >= 64 and c >= 64 and a == 1:  # NCHW
            return "image"
        if a >= 20 and b in (3, 6, 9) and c == 1:
            return "inertial"
        if a >= 20 and 8 <= b < 32 and c == 1:
            return "audio"
    if len(shape) == 3:
        n, t, axes = shape
        if t >= 20 and axes in (3, 6, 9):
            return "inertial"
    return None
