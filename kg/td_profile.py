"""The hardware profile of a device, read from its Thing Description.

Three sources, all optional:
1. Arachne's TD extension (docs/td-extension.md): `ar:processorCore`, `ar:clockMHz`,
   `ar:ramBytes`, `ar:flashBytes`, `ar:hasFPU`, `ar:accelerator`, `ar:supportsRuntime`,
   `ar:hasSensor`, `ar:board`. Values are brought to the canonical units and datatypes
   (bytes as xsd:integer, MHz as xsd:decimal); strings with a unit ("256 KB", "64 MHz") are
   converted (KB/MB are binary multiples, as in MCU datasheets); anything else is left as written
   so that SHACL (shapes/td.ttl) reports it.
2. Sensors implied by semantic annotations and affordances: a property or event named, titled or
   typed (sosa/saref/iotschema/WebThings classes) for acceleration, images, sound, temperature,
   ... becomes an `ar:hasSensor` node typed `ar:Accelerometer`, `ar:Camera`, `ar:Microphone`, ...
3. The known board it is built on: a title or `model` that names a board (a device description
   with a hardware profile in the registry, or one of kg.boards.KNOWN_BOARDS) links the Thing
   to it with `ar:board`.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote

from rdflib import Literal, URIRef
from rdflib.namespace import RDF, RDFS, XSD

from kg.boards import KNOWN_BOARDS
from kg.ids import AR, BASE, device_iri, runtime_iri, slug

RUNTIME_BASE = BASE + "runtime/"

BYTES_PROPS = (AR.ramBytes, AR.flashBytes)
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(b|bytes?|k|kb|kib|kbytes?|m|mb|mib|mbytes?|g|gb|gib)?\s*$", re.I)
_MULTIPLIER = {"": 1, "b": 1, "byte": 1, "bytes": 1, "k": 1024, "kb": 1024, "kib": 1024, "kbyte": 1024,
               "kbytes": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "mib": 1024 ** 2, "mbyte": 1024 ** 2,
               "mbytes": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3}
_CLOCK = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(hz|khz|mhz|ghz)?\s*$", re.I)
_CLOCK_FACTOR = {"": Decimal(1), "mhz": Decimal(1), "ghz": Decimal(1000), "khz": Decimal("0.001"), "hz": Decimal("0.000001")}
_NUMERIC = {XSD.integer, XSD.decimal, XSD.double, XSD.float, XSD.int, XSD.long, XSD.short,
            XSD.nonNegativeInteger, XSD.positiveInteger, XSD.unsignedInt, XSD.unsignedLong}


def _number(literal: Literal) -> Decimal | None:
    if not isinstance(literal, Literal) or literal.datatype not in _NUMERIC:
        return None
    try:
        return Decimal(str(literal))
    except InvalidOperation:
        try:
            return Decimal(repr(float(str(literal))))
        except ValueError:
            return None


def canonical_bytes(literal) -> Literal | None:
    """A byte count as xsd:integer, from an integral number or a string like '256 KB'; None if not one."""
    value = _number(literal)
    if value is None and isinstance(literal, Literal) and literal.datatype in (None, XSD.string):
        found = _SIZE.match(str(literal))
        if found:
            value = Decimal(found[1]) * _MULTIPLIER[(found[2] or "").lower()]
    if value is None or value != value.to_integral_value():
        return None
    return Literal(int(value), datatype=XSD.integer)


def canonical_mhz(literal) -> Literal | None:
    """A clock as xsd:decimal MHz, from a number or a string like '64 MHz' / '1.5 GHz'."""
    value = _number(literal)
    if value is None and isinstance(literal, Literal) and literal.datatype in (None, XSD.string):
        found = _CLOCK.match(str(literal))
        if found:
            value = Decimal(found[1]) * _CLOCK_FACTOR[(found[2] or "").lower()]
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return Literal(text if "." in text else text + ".0", datatype=XSD.decimal)


def canonical_runtime(term):
    """A runtime as the registry's runtime IRI (kg.ids.runtime_iri), from a name or an IRI."""
    if isinstance(term, Literal) and term.datatype in (None, XSD.string) and str(term).strip():
        return URIRef(runtime_iri(str(term)))
    if isinstance(term, URIRef) and str(term).startswith(RUNTIME_BASE):
        return URIRef(runtime_iri(unquote(str(term)[len(RUNTIME_BASE):])))
    return term


def normalise_hardware(triples: list, root) -> list:
    """Bring the root's hardware values to canonical units/datatypes (in place); return the list."""
    for i, (s, p, o) in enumerate(triples):
        if s != root:
            continue
        if p in BYTES_PROPS:
            fixed = canonical_bytes(o)
        elif p == AR.clockMHz:
            fixed = canonical_mhz(o)
        elif p == AR.supportsRuntime:
            fixed = canonical_runtime(o)
        else:
            continue
        if fixed is not None:
            triples[i] = (s, p, fixed)
    return triples


# -- sensors -----------------------------------------------------------------------------------

SENSOR_CLASSES = {
    "accelerometer": AR.Accelerometer, "gyroscope": AR.Gyroscope, "magnetometer": AR.Magnetometer,
    "camera": AR.Camera, "microphone": AR.Microphone, "thermometer": AR.Thermometer,
    "humidity": AR.HumiditySensor, "pressure": AR.PressureSensor, "light": AR.LightSensor,
}
# word -> sensor kinds it implies (words come from names, titles and @type local names)
_WORDS = {
    "accelerometer": ["accelerometer"], "acceleration": ["accelerometer"], "accel": ["accelerometer"],
    "imu": ["accelerometer", "gyroscope"],
    "gyroscope": ["gyroscope"], "gyro": ["gyroscope"], "orientation": ["gyroscope"],
    "angularvelocity": ["gyroscope"],
    "magnetometer": ["magnetometer"], "magnetic": ["magnetometer"], "magneticfield": ["magnetometer"],
    "compass": ["magnetometer"],
    "camera": ["camera"], "image": ["camera"], "video": ["camera"], "picture": ["camera"],
    "photo": ["camera"], "snapshot": ["camera"],
    "microphone": ["microphone"], "mic": ["microphone"], "sound": ["microphone"], "audio": ["microphone"],
    "noise": ["microphone"], "acoustic": ["microphone"], "voice": ["microphone"],
    "temperature": ["thermometer"], "thermometer": ["thermometer"],
    "humidity": ["humidity"], "hygrometer": ["humidity"],
    "pressure": ["pressure"], "barometer": ["pressure"], "barometric": ["pressure"],
    "illuminance": ["light"], "luminance": ["light"], "luminosity": ["light"], "lux": ["light"],
    "photometer": ["light"], "lightlevel": ["light"], "ambientlight": ["light"], "lightsensor": ["light"],
}
# Words that make an affordance an actuator setting, not a measurement (colorTemperature, targetTemperature).
_NOT_A_MEASUREMENT = {"color", "colour", "target", "set", "setpoint", "desired", "threshold", "alarm", "limit"}
_LIGHT_PAIRS = {"level", "sensor", "intensity", "ambient"}
_SPLIT = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def words(text: str) -> list[str]:
    """Lower-case words of a name: 'colorTemperature' -> ['color', 'temperature']; also joined pairs."""
    parts = [w.lower() for w in _SPLIT.findall(text.rsplit("#", 1)[-1].rsplit("/", 1)[-1].rsplit(":", 1)[-1])]
    return parts + [a + b for a, b in zip(parts, parts[1:])]


def sensor_kinds(texts: list[str]) -> set[str]:
    """Sensor kinds the names/types of one affordance (or of the Thing) imply."""
    ws = set()
    for text in texts:
        if isinstance(text, str):
            ws.update(words(text))
    if ws & _NOT_A_MEASUREMENT:
        return set()
    kinds = set()
    for w in ws:
        kinds.update(_WORDS.get(w, ()))
    if "light" in ws and ws & _LIGHT_PAIRS:
        kinds.add("light")
    return kinds


def _types(value) -> list[str]:
    return [t for t in (value if isinstance(value, list) else [value]) if isinstance(t, str)]


def detect_sensors(doc: dict) -> dict[str, list[str]]:
    """Sensor kind -> JSON paths of the evidence, from the Thing's @type and its readable
    properties and events (names, titles, @type); write-only properties and actions are
    commands, not measurements."""
    found: dict[str, list[str]] = {}
    for kind in sensor_kinds(_types(doc.get("@type"))):
        found.setdefault(kind, []).append("@type")
    for group in ("properties", "events"):
        affordances = doc.get(group)
        if not isinstance(affordances, dict):
            continue
        for name, affordance in affordances.items():
            if not isinstance(affordance, dict) or affordance.get("writeOnly") is True:
                continue
            texts = [name, affordance.get("title")] + _types(affordance.get("@type"))
            for kind in sensor_kinds(texts):
                found.setdefault(kind, []).append(f"{group}.{name}")
    return found


def sensor_triples(root, found: dict[str, list[str]], existing: set) -> list:
    """ar:hasSensor nodes for detected kinds the TD does not already declare (by class)."""
    out = []
    base = str(root)
    for kind, evidence in sorted(found.items()):
        cls = SENSOR_CLASSES[kind]
        if cls in existing:
            continue
        node = URIRef(f"{base}{'-' if '#' in base else '#'}sensor-{kind}")
        out += [(root, AR.hasSensor, node), (node, RDF.type, cls),
                (node, RDFS.label, Literal(kind)),
                (node, RDFS.comment, Literal("detected from " + ", ".join(evidence[:5])
                                             + (f" and {len(evidence) - 5} more" if len(evidence) > 5 else "")))]
    return out


# -- known boards --------------------------------------------------------------------------------

def _normal(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


class BoardCatalogue:
    """Known boards: (device IRI, names). `match(texts)` finds the board a text names; the longest
    name wins, so 'Arduino Nano 33 BLE Sense' beats 'Arduino Nano 33 BLE'."""

    def __init__(self, boards: dict[str, set[str]] | None = None):
        self.names: list[tuple[str, str]] = []  # (normalised name, device IRI), longest first
        for iri, names in (boards or {}).items():
            self.add(iri, names)

    def add(self, iri: str, names) -> None:
        for name in names:
            norm = _normal(str(name))
            if len(norm.strip()) >= 4:
                self.names.append((norm, iri))
        self.names.sort(key=lambda x: -len(x[0]))

    def match(self, texts: list[str]) -> str | None:
        for text in texts:
            if not isinstance(text, str):
                continue
            norm = _normal(text)
            for name, iri in self.names:
                if name in norm:
                    return iri
        return None

    def __len__(self) -> int:
        return len(self.names)


# A board is a device description with a hardware profile that is not itself built on a board:
# vendors' Things (a "Counter", a lamp) are devices too, but naming one must not make a board.
BOARDS_QUERY = """
PREFIX ar: <https://w3id.org/arachne#>
PREFIX td: <https://www.w3.org/2019/wot/td#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX schema: <https://schema.org/>
SELECT ?device ?name WHERE {
  ?device a ar:Device .
  FILTER(STRSTARTS(STR(?device), "%s"))
  FILTER EXISTS { ?device ar:ramBytes|ar:flashBytes|ar:processorCore ?spec }
  FILTER NOT EXISTS { ?device ar:board ?built_on }
  { ?device td:title ?name } UNION { ?device rdfs:label ?name } UNION { ?device schema:alternateName ?name }
}
""" % (BASE + "device/")


def board_catalogue(store=None) -> BoardCatalogue:
    """Boards the registry knows: the board descriptions under https://w3id.org/arachne/device/ in
    the store (their titles, labels, alternate names and slugs) and kg.boards.KNOWN_BOARDS."""
    boards: dict[str, set[str]] = {}
    for key, spec in KNOWN_BOARDS.items():
        boards.setdefault(device_iri(key), set()).update({key, spec["name"]})
    if store is not None:
        for device, name in store.select(BOARDS_QUERY).values():
            boards.setdefault(device, {device.rsplit("/", 1)[-1]}).add(str(name))
    return BoardCatalogue(boards)


def board_texts(doc: dict) -> list[str]:
    """The texts that may name the board: title(s) and model fields."""
    texts = [doc.get("title")]
    titles = doc.get("titles")
    if isinstance(titles, dict):
        texts += list(titles.values())
    for key in ("model", "schema:model", "schema:name", "ar:boardName"):
        value = doc.get(key)
        texts += value if isinstance(value, list) else [value]
    return [t for t in texts if isinstance(t, str)]


__all__ = ["BoardCatalogue", "board_catalogue", "board_texts", "canonical_bytes", "canonical_mhz",
           "canonical_runtime", "detect_sensors", "normalise_hardware", "sensor_triples", "slug"]
