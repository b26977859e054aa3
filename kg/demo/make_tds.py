"""Dev tool: write the demo registry's Thing Descriptions (kg/demo/tds/*.td.jsonld).

Run from the project root: `python -m kg.demo.make_tds [--shared ../shared/data]`.
The board specifications come from kg.benchmarks.board_catalogue(), which reads the shared
benchmark tables (MLPerf Tiny system descriptions and results, STM32 model-zoo footprints) and
completes them with vendor specifications (the Arduino, Adafruit and Syntiant boards of the
TinyML knowledge graph, the STM32 kits). The generated files are committed; this script is not
needed at run time.

Each TD's "id" is kg.ids.device_iri(board_canonical), the key benchmark records use, so records
and devices meet. The hardware profile uses Arachne's TD extension (docs/td-extension.md);
sensors appear as readable properties, from which the importer derives ar:hasSensor. Memory is
the board's capacity, except for the Adafruit PyBadge, the Adafruit TFLite Micro kit and the
Syntiant TinyML board, whose figures are the TinyML knowledge graph's (memory left to the
application, 1 kB = 1000 bytes).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from kg.contexts import ARACHNE_TD, TD_10, TD_11
from kg.ids import device_iri, slug

HERE = Path(__file__).resolve().parent
OUT = HERE / "tds"
DEFAULT_SHARED = HERE.parents[2] / "shared" / "data"
REN_KG_FIGURES = {"Adafruit-PyBadge", "Adafruit-TFLite-Micro-Kit", "Syntiant-TinyML"}

# ar: sensor class -> (property name, title, unit)
SENSOR_PROPERTIES = {
    "Accelerometer": ("acceleration", "Acceleration (x, y, z)", "om:standardAccelerationOfGravity"),
    "Gyroscope": ("angularVelocity", "Angular velocity / orientation (x, y, z)", "om:degreePerSecond-Time"),
    "Magnetometer": ("magneticField", "Magnetic field (x, y, z)", "om:microtesla"),
    "Microphone": ("soundLevel", "Microphone sound level", "om:decibel"),
    "Camera": ("image", "Camera image", None),
    "Thermometer": ("temperature", "Temperature", "om:degreeCelsius"),
    "HumiditySensor": ("humidity", "Relative humidity", "om:percent"),
    "PressureSensor": ("pressure", "Barometric pressure", "om:kilopascal"),
    "LightSensor": ("illuminance", "Ambient light level (illuminance)", "om:lux"),
}


def runtimes(board: dict) -> list[str]:
    """The runtimes the benchmarks saw on the board, plus TFLite Micro on every Arm
    Cortex-M MCU and ST Edge AI (STM32Cube.AI) on every STM32 MCU board."""
    keys = list(board.get("frameworks") or [])
    core = board.get("core") or ""
    if core.startswith("Cortex-M") and "tflite-micro" not in keys:
        keys.append("tflite-micro")
    stm32 = board["board_canonical"].startswith(("NUCLEO", "DISCO", "STM32", "B-U585")) or \
        str(board.get("soc", "")).startswith("STM32")
    if stm32 and core.startswith("Cortex-M") and "st-edge-ai" not in keys:
        keys.append("st-edge-ai")
    return sorted(keys)


def thing(board: dict, aliases: set[str]) -> dict:
    """A TD 1.1 with Arachne's hardware-profile extension for one catalogue board."""
    canonical = board["board_canonical"]
    ren = canonical in REN_KG_FIGURES
    ram = board.get("app_free_ram_bytes") if ren else board.get("ram_bytes")
    flash = board.get("app_free_flash_bytes") if ren else board.get("flash_bytes")
    td: dict = {
        # TD 1.0 first, then TD 1.1: the form TD 1.1 gives for TD 1.0 consumers (node-wot 0.9 accepts no other)
        "@context": [TD_10, TD_11, ARACHNE_TD, {"schema": "https://schema.org/"}],
        "id": device_iri(canonical),
        "@type": "Thing",
        "title": board.get("name") or canonical,
    }
    details = ", ".join(x for x in (board.get("soc"), board.get("core")) if x)
    source = board.get("source") or ""
    if ren:
        source += "; memory: the TinyML knowledge graph's figures (left to the application)"
    td["description"] = f"{details}; {source}" if details else source
    names = sorted({canonical, *aliases} - {td["title"]})
    if names:
        td["schema:alternateName"] = names
    td["securityDefinitions"] = {"nosec_sc": {"scheme": "nosec"}}
    td["security"] = "nosec_sc"
    if board.get("core"):
        td["ar:processorCore"] = board["core"]
    if board.get("clock_mhz"):
        clock = float(board["clock_mhz"])
        td["ar:clockMHz"] = int(clock) if clock.is_integer() else clock
    if ram:
        td["ar:ramBytes"] = int(ram)
    if flash:
        td["ar:flashBytes"] = int(flash)
    if board.get("fpu") is not None:
        td["ar:hasFPU"] = bool(board["fpu"])
    if board.get("accelerator"):
        td["ar:accelerator"] = board["accelerator"]
    if runtimes(board):
        td["ar:supportsRuntime"] = runtimes(board)
    props = {}
    for sensor in board.get("sensors") or []:
        name, label, unit = SENSOR_PROPERTIES[sensor]
        camera = sensor == "Camera"
        prop = {"title": label, "type": "string" if camera else "number", "readOnly": True, "observable": not camera}
        if camera:
            prop["contentMediaType"] = "image/jpeg"
        if unit:
            prop["unit"] = unit
        prop["forms"] = [{"href": f"/properties/{name}", "contentType": "image/jpeg" if camera else "application/json"}]
        props[name] = prop
    if props:
        td["base"] = f"coap://{slug(canonical)}.local/"
        td["properties"] = props
    return td


def board_aliases(shared: Path) -> dict[str, set[str]]:
    """Other spellings of each board in the benchmark tables (for matching vendors' TDs)."""
    import csv

    out: dict[str, set[str]] = {}
    for table in ("mlperf_tiny_systems.csv", "stm32_footprints.csv"):
        for row in csv.DictReader(open(shared / "benchmarks" / table, encoding="utf-8")):
            if row.get("board_canonical") and row.get("board"):
                out.setdefault(row["board_canonical"], set()).add(row["board"])
    return out


def build(shared: Path) -> dict[str, dict]:
    from kg.benchmarks import board_catalogue

    bench = shared / "benchmarks"
    catalogue = board_catalogue(bench / "mlperf_tiny_systems.csv", bench / "stm32_footprints.csv",
                                bench / "mlperf_tiny.csv")
    aliases = board_aliases(shared)
    return {b["board_canonical"]: thing(b, aliases.get(b["board_canonical"], set())) for b in catalogue}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    args = parser.parse_args(argv)
    tds = build(args.shared)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.td.jsonld"):
        old.unlink()
    for canonical, td in tds.items():
        (OUT / f"{slug(canonical).replace('/', '-')}.td.jsonld").write_text(
            json.dumps(td, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(tds)} Thing Descriptions to {OUT}")


if __name__ == "__main__":
    main()
