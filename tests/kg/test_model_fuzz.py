"""Random byte flips over the 23 real models never crash or hang the process: each file
is either described (TFLM may refuse it, or crash in its worker) or rejected with an
InputError that names the file. Seeded; bounded in count and in time."""
import random
import time

from kg import demo
from kg.errors import InputError
from kg.model_facts import ModelFacts
from kg.models import read_model_bytes

MUTANTS = 300
TIME_BUDGET_S = 45  # stop early on a slow machine; the count below says how far it got


def test_byte_flips_never_crash_the_process():
    files = demo.model_files()
    originals = [p.read_bytes() for p in files]
    rng = random.Random(20241128)
    outcomes = {"described": 0, "tflm_refused": 0, "input_error": 0}
    start = time.monotonic()
    done = 0
    for done in range(1, MUTANTS + 1):
        k = rng.randrange(len(files))
        data = bytearray(originals[k])
        for _ in range(rng.choice((1, 2, 4, 8, 16, 64))):
            data[rng.randrange(len(data))] = rng.randrange(256)
        name = f"{files[k].name}#mutant{done}"
        try:
            facts = read_model_bytes(bytes(data), name, measure_ram=True)
        except InputError as exc:
            assert exc.file == name and exc.message
            outcomes["input_error"] += 1
        else:
            assert isinstance(facts, ModelFacts)
            assert (facts.arena_bytes is None) == bool(facts.tflm_refusal)
            outcomes["tflm_refused" if facts.tflm_refusal else "described"] += 1
        if time.monotonic() - start > TIME_BUDGET_S:
            break
    assert sum(outcomes.values()) == done >= 50
    assert outcomes["input_error"] > 0 and outcomes["described"] > 0
    # and the originals still read exactly as before: the worker survived whatever happened
    assert read_model_bytes(originals[0], str(files[0])).arena_bytes is not None


def _small_onnx() -> bytes:
    """Conv -> Relu -> Flatten -> Gemm, built with onnx.helper (no exporter needed)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(shape).astype("float32"), name)
             for name, shape in (("w", (4, 1, 3, 3)), ("b", (4,)), ("fw", (3, 4 * 6 * 6)), ("fb", (3,)))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]), helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_onnx_byte_flips_never_crash_the_process():
    original = _small_onnx()
    facts = read_model_bytes(original, "small.onnx")
    assert facts.macs == 4 * 6 * 6 * 9 + 3 * 144 and facts.parameter_count == 36 + 4 + 432 + 3
    rng = random.Random(7)
    errors = 0
    for i in range(MUTANTS):
        data = bytearray(original)
        for _ in range(rng.choice((1, 2, 4, 8))):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            read_model_bytes(bytes(data), f"small.onnx#mutant{i}")
        except InputError as exc:
            assert exc.file == f"small.onnx#mutant{i}"
            errors += 1
    assert 0 < errors < MUTANTS
