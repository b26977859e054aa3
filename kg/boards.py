"""What the registry knows about boards and runtimes without any table: the runtime names
(`runtime_family`), which cores have an FPU, and the vendors' specifications of the TinyML
boards (KNOWN_BOARDS). Model, benchmark and TD importers all use it; it imports none of them.
"""
from __future__ import annotations

import re

KIB = 1024

# ---------------------------------------------------------------------------
# Runtimes
# ---------------------------------------------------------------------------
# (pattern, key, label): first match wins; order matters (TFLM before TFLite).
_RUNTIMES = [
    (r"tflite[- ]?micro|tensorflow lite (for )?micro|tflm|tflu", "tflite-micro", "TensorFlow Lite Micro"),
    (r"x-cube-ai|cube\.?ai|stedge|st edge", "st-edge-ai", "STM32Cube.AI / ST Edge AI"),
    (r"plumerai", "plumerai", "Plumerai Inference Engine"),
    (r"microtvm|\btvm\b", "microtvm", "microTVM"),
    (r"\bhale\b|bosch", "bosch-hale", "Bosch HALE"),
    (r"syntiant", "syntiant-sdk", "Syntiant SDK"),
    (r"\bonnc\b", "onnc", "ONNC"),
    (r"qualcomm ai", "qualcomm-ai-stack", "Qualcomm AI Stack"),
    (r"\bfinn\b", "finn", "FINN"),
    (r"hls4ml", "hls4ml", "hls4ml"),
    (r"fpgaconvnet", "fpgaconvnet", "fpgaConvNet"),
    (r"csi-nn", "csi-nn2", "CSI-NN2"),
    (r"gapflow|gap sdk", "gapflow", "GAPflow"),
    (r"leip|latent", "latentai-leip", "Latent AI LEIP"),
    (r"openvx", "openvx", "OpenVX"),
    (r"tensorflow ?lite|tflite", "tflite", "TensorFlow Lite"),
]


def runtime_family(*texts: str) -> tuple[str, str] | None:
    """(key, label) of the runtime named in the first text that names a known one."""
    for text in texts:
        if not text:
            continue
        low = text.lower()
        for pattern, key, label in _RUNTIMES:
            if re.search(pattern, low):
                return key, label
    return None


def runtime_label(key: str) -> str:
    for _, k, label in _RUNTIMES:
        if k == key:
            return label
    return key


# ---------------------------------------------------------------------------
# Boards
# ---------------------------------------------------------------------------
# Cores with a hardware FPU. Cortex-M0/M0+/M3 have none; Cortex-M4 has one only as
# "M4F" (the text must say FPU/M4F); M7, M33, M55, M85 are taken to have one (all the
# M33 boards here do; it is optional in the architecture); A-class cores have one.
_FPU_CORES = {"cortex-m4f", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85",
              "cortex-a7", "cortex-a9", "cortex-a35", "cortex-a53", "cortex-a72", "renesas rxv2", "renesas rh850",
              "qualcomm kryo/oryon"}
_NO_FPU_CORES = {"cortex-m0", "cortex-m0+", "cortex-m3", "cortex-m23", "hifi3+m0 (syntiant)"}


def has_fpu(core: str, processor_text: str = "") -> bool | None:
    """Whether the core has a hardware FPU (None when the text does not tell)."""
    c = (core or "").lower().strip()
    text = (processor_text or "").lower()
    if c == "cortex-m4":
        return True if ("fpu" in text or "m4f" in text) else None
    if c in _FPU_CORES:
        return True
    if c in _NO_FPU_CORES:
        return False
    if c.startswith("risc-v") or c == "risc-v":
        if "fpu" in text or re.search(r"\brv(32|64)[a-z]*[fdg]", text) or re.search(r"d25f|\b64gc", text):
            return True
        return None
    return None


def core_name(core: str, processor: str) -> str:
    core = (core or "").strip()
    if core == "Cortex-M4" and has_fpu(core, processor):
        return "Cortex-M4F"
    return core


# Boards the tables do not describe (the TinyML boards of Ren et al.) or describe only in
# part (STM32 zoo boards): specifications from the vendors' product pages and datasheets.
KNOWN_BOARDS: dict[str, dict] = {
    "Arduino-Nano-33-BLE-Sense": dict(
        name="Arduino Nano 33 BLE Sense", soc="nRF52840", core="Cortex-M4F", clock_mhz=64.0,
        ram_bytes=256 * KIB, flash_bytes=1024 * KIB, fpu=True, accelerator="",
        frameworks=["tflite-micro"],
        sensors=["Microphone", "Accelerometer", "Gyroscope", "Magnetometer", "Thermometer", "HumiditySensor",
                 "PressureSensor", "LightSensor"]),
    "Arduino-Nano-33-BLE-Sense-TinyML-Kit": dict(
        name="Arduino Tiny Machine Learning Kit (Nano 33 BLE Sense + OV7675 camera)", soc="nRF52840",
        core="Cortex-M4F", clock_mhz=64.0, ram_bytes=256 * KIB, flash_bytes=1024 * KIB, fpu=True, accelerator="",
        frameworks=["tflite-micro"],
        sensors=["Microphone", "Accelerometer", "Gyroscope", "Magnetometer", "Thermometer", "HumiditySensor",
                 "PressureSensor", "LightSensor", "Camera"],
        app_free_ram_bytes=187 * 1000, app_free_flash_bytes=785 * 1000),
    "Adafruit-PyBadge": dict(
        name="Adafruit PyBadge", soc="ATSAMD51J19", core="Cortex-M4F", clock_mhz=120.0,
        ram_bytes=192 * KIB, flash_bytes=512 * KIB, fpu=True, accelerator="", frameworks=["tflite-micro"],
        sensors=["Accelerometer", "LightSensor"], app_free_ram_bytes=109 * 1000, app_free_flash_bytes=385 * 1000),
    "Adafruit-TFLite-Micro-Kit": dict(
        name="Adafruit TensorFlow Lite for Microcontrollers Kit (EdgeBadge)", soc="ATSAMD51J19", core="Cortex-M4F",
        clock_mhz=120.0, ram_bytes=192 * KIB, flash_bytes=512 * KIB, fpu=True, accelerator="",
        frameworks=["tflite-micro"], sensors=["Accelerometer", "Microphone", "LightSensor"],
        app_free_ram_bytes=96 * 1000, app_free_flash_bytes=245 * 1000),
    "Syntiant-TinyML": dict(
        name="Syntiant TinyML Board", soc="ATSAMD21G18 + NDP101", core="Cortex-M0+", clock_mhz=48.0,
        ram_bytes=32 * KIB, flash_bytes=256 * KIB, fpu=False, accelerator="Syntiant NDP101",
        frameworks=["syntiant-sdk"], sensors=["Microphone", "Accelerometer", "Gyroscope"],
        app_free_ram_bytes=25 * 1000, app_free_flash_bytes=1883 * 1000),
    "B-U585I-IOT02A": dict(
        name="B-U585I-IOT02A Discovery kit", soc="STM32U585AI", core="Cortex-M33", clock_mhz=160.0,
        ram_bytes=768 * KIB, flash_bytes=2048 * KIB, fpu=True, accelerator="",
        sensors=["Microphone", "Accelerometer", "Gyroscope", "Magnetometer", "Thermometer", "HumiditySensor",
                 "PressureSensor", "LightSensor"]),
    "NUCLEO-F401RE": dict(
        name="NUCLEO-F401RE", soc="STM32F401RE", core="Cortex-M4F", clock_mhz=84.0,
        ram_bytes=96 * KIB, flash_bytes=512 * KIB, fpu=True, accelerator=""),
    "NUCLEO-U3C5ZI-Q": dict(
        name="NUCLEO-U3C5ZI-Q", soc="STM32U3C5ZI", core="Cortex-M33", clock_mhz=96.0,
        ram_bytes=640 * KIB, flash_bytes=2048 * KIB, fpu=True, accelerator="HSP (signal-processing co-processor)"),
    "STM32F769I-DISCO": dict(
        name="STM32F769I-DISCO", soc="STM32F769NI", core="Cortex-M7", clock_mhz=216.0,
        ram_bytes=512 * KIB, flash_bytes=2048 * KIB, fpu=True, accelerator="", sensors=["Microphone"]),
    "STM32H747I-DISCO": dict(
        name="STM32H747I-DISCO", soc="STM32H747XI", core="Cortex-M7", clock_mhz=480.0,
        ram_bytes=1024 * KIB, flash_bytes=2048 * KIB, fpu=True, accelerator="", sensors=["Microphone"]),
    "STM32MP135F-DK": dict(
        name="STM32MP135F-DK", soc="STM32MP135F", core="Cortex-A7", clock_mhz=1000.0,
        ram_bytes=512 * KIB * KIB, flash_bytes=None, fpu=True, accelerator=""),
    "STM32MP157F-DK2": dict(
        name="STM32MP157F-DK2", soc="STM32MP157F", core="Cortex-A7", clock_mhz=800.0,
        ram_bytes=512 * KIB * KIB, flash_bytes=None, fpu=True, accelerator="GPU (Vivante)"),
    "STM32MP257F-DK": dict(
        name="STM32MP257F-DK", soc="STM32MP257F", core="Cortex-A35", clock_mhz=1500.0,
        ram_bytes=4 * KIB ** 3, flash_bytes=None, fpu=True, accelerator="NPU (1.35 TOPS) + GPU"),
    "STM32MP257F-EV1": dict(
        name="STM32MP257F-EV1", soc="STM32MP257F", core="Cortex-A35", clock_mhz=1500.0,
        ram_bytes=4 * KIB ** 3, flash_bytes=None, fpu=True, accelerator="NPU (1.35 TOPS) + GPU"),
    "STM32N6570-DK": dict(
        name="STM32N6570-DK", soc="STM32N657X0", core="Cortex-M55", clock_mhz=800.0,
        ram_bytes=4200 * KIB, flash_bytes=128 * KIB * KIB, fpu=True, accelerator="Neural-ART NPU",
        sensors=["Camera"]),
}
