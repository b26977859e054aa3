"""How quantities read for people. The graph stores bytes (ontology: ar:unit); every face shows
them with the one formatter here, in binary units (1 KiB = 1024 bytes), so the CLI and the
explorer print the same figure for the same model."""
from __future__ import annotations


def byte_size(n) -> str:
    """'512 B', '12.6 KiB', '2.0 MiB' ('' when unknown)."""
    if n is None or n == "":
        return ""
    n = float(n)
    for unit, size in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"
