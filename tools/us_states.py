"""Regenerate the dashboard's map outline, ``gateway/static/us-states.json``, from ``us-atlas``.

    python tools/us_states.py                  # npm pack us-atlas@3.0.1, then convert
    python tools/us_states.py --package DIR    # an already extracted package/ folder

The source is the npm package ``us-atlas`` (ISC licence; the U.S. Census Bureau's 2017
cartographic boundary files, 1:10,000,000, which are public domain): its unprojected
``states-10m.json`` TopoJSON. The output keeps the 50 states and DC (what the Albers USA
projection of ``static/projection.js`` draws) as longitude/latitude rings, quantised to
0.01 degree (about 1 km: under a pixel on a full-screen map of the country) and
delta-encoded, so the page projects outlines and markers with one function:

    {"source": …, "licence": …, "quantum": 0.01,
     "states": [{"id": "06", "name": "California", "rings": [[x0, y0, dx1, dy1, …], …]}, …]}

where ``x0, y0`` are ``round(lon / quantum), round(lat / quantum)`` and each following pair
is the step from the previous point. The package's LICENSE is copied next to the output
(``us-states-LICENSE.txt``), and the state boxes of the package's own pre-projected
``states-albers-10m.json`` (d3.geoAlbersUsa, scale 1300, translate [487.5, 305]) are written
to ``tests/browser/us_albers_reference.json``: the browser tests hold ``projection.js`` to them.

Standard library only (and ``npm`` when no ``--package`` is given).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "us-atlas@3.0.1"
ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "gateway" / "static"
OUT = STATIC / "us-states.json"
LICENCE_OUT = STATIC / "us-states-LICENSE.txt"
REFERENCE_OUT = ROOT / "tests" / "browser" / "us_albers_reference.json"
QUANTUM = 0.01

Point = tuple[float, float]


def decode_arcs(topology: dict) -> list[list[Point]]:
    """The topology's arcs as absolute coordinates (TopoJSON arcs are quantised and delta-encoded)."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy, *_ in arc:
            if transform:
                x += dx
                y += dy
                sx, sy = transform["scale"]
                tx, ty = transform["translate"]
                points.append((x * sx + tx, y * sy + ty))
            else:
                points.append((dx, dy))
        arcs.append(points)
    return arcs


def ring_of(indices: list[int], arcs: list[list[Point]]) -> list[Point]:
    """One closed ring from arc indices (``~i`` is arc ``i`` reversed); shared end points once."""
    ring: list[Point] = []
    for index in indices:
        arc = arcs[~index][::-1] if index < 0 else arcs[index]
        ring.extend(arc[1:] if ring else arc)
    return ring


def polygons_of(geometry: dict) -> list[list[list[int]]]:
    """The polygons (lists of rings of arc indices) of a Polygon or MultiPolygon."""
    if geometry["type"] == "Polygon":
        return [geometry["arcs"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["arcs"]
    return []


def encode_ring(ring: list[Point]) -> list[int] | None:
    """A ring quantised and delta-encoded; None when it collapses to fewer than 4 points."""
    quantised: list[tuple[int, int]] = []
    for lon, lat in ring:
        q = (round(lon / QUANTUM), round(lat / QUANTUM))
        if not quantised or quantised[-1] != q:
            quantised.append(q)
    if len(quantised) < 4:
        return None
    out = [quantised[0][0], quantised[0][1]]
    for (x0, y0), (x1, y1) in itertools.pairwise(quantised):
        out += [x1 - x0, y1 - y0]
    return out


def convert(states_10m: dict, keep: set[str]) -> list[dict]:
    """Every kept state as {id, name, rings}, by id."""
    arcs = decode_arcs(states_10m)
    out = []
    for geometry in sorted(states_10m["objects"]["states"]["geometries"], key=lambda g: g["id"]):
        if geometry["id"] not in keep:
            continue
        rings = []
        for polygon in polygons_of(geometry):
            for indices in polygon:
                encoded = encode_ring(ring_of(indices, arcs))
                if encoded:
                    rings.append(encoded)
        out.append({"id": geometry["id"], "name": geometry["properties"]["name"], "rings": rings})
    return out


def reference_boxes(states_albers: dict) -> dict[str, list[float]]:
    """Each state's box [x0, y0, x1, y1] in the package's d3.geoAlbersUsa coordinates."""
    arcs = decode_arcs(states_albers)
    boxes = {}
    for geometry in states_albers["objects"]["states"]["geometries"]:
        points = [p for polygon in polygons_of(geometry) for indices in polygon for p in ring_of(indices, arcs)]
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        boxes[geometry["id"]] = [round(min(xs), 2), round(min(ys), 2), round(max(xs), 2), round(max(ys), 2)]
    return dict(sorted(boxes.items()))


def fetch_package(into: Path) -> Path:
    """``npm pack`` the package into a folder and extract it; returns its package/ folder."""
    if shutil.which("npm") is None:
        sys.exit("npm is needed to fetch " + PACKAGE + " (or pass --package DIR)")
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=into, check=True, stdout=subprocess.DEVNULL)
    archive = next(into.glob("us-atlas-*.tgz"))
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "package"


def build(package: Path) -> None:
    """Write the outline, its licence and the projection's reference boxes."""
    meta = json.loads((package / "package.json").read_text())
    states_10m = json.loads((package / "states-10m.json").read_text())
    states_albers = json.loads((package / "states-albers-10m.json").read_text())
    boxes = reference_boxes(states_albers)
    document = {
        "source": f"{meta['name']}@{meta['version']} states-10m.json (U.S. Census Bureau cartographic "
                  "boundaries 2017, 1:10,000,000); regenerate with tools/us_states.py",
        "licence": f"{meta['license']}, see us-states-LICENSE.txt",
        "quantum": QUANTUM,
        "states": convert(states_10m, set(boxes)),
    }
    OUT.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    LICENCE_OUT.write_text(
        f"us-states.json is derived from the npm package {meta['name']}@{meta['version']} "
        "(https://github.com/topojson/us-atlas),\nwhich redistributes the U.S. Census Bureau's cartographic "
        "boundary files (public domain). Its licence:\n\n" + (package / "LICENSE").read_text())
    REFERENCE_OUT.write_text(json.dumps({
        "source": f"{meta['name']}@{meta['version']} states-albers-10m.json: d3.geoAlbersUsa().scale(1300)"
                  ".translate([487.5, 305]); state boxes [x0, y0, x1, y1]",
        "scale": 1300, "translate": [487.5, 305], "boxes": boxes,
    }, indent=1) + "\n")
    points = sum(len(r) // 2 for s in document["states"] for r in s["rings"])
    print(f"wrote {OUT.relative_to(ROOT)} ({len(document['states'])} states, {points} points, "
          f"{OUT.stat().st_size} bytes), {LICENCE_OUT.relative_to(ROOT)}, {REFERENCE_OUT.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, help="an extracted us-atlas package/ folder (default: npm pack it)")
    args = parser.parse_args()
    if args.package:
        build(args.package)
        return 0
    with tempfile.TemporaryDirectory(prefix="us-atlas-") as tmp:
        build(fetch_package(Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
