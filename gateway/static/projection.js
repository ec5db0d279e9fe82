/* The map's projection: Albers USA, as d3.geoAlbersUsa draws it (the lower 48 on a conic
 * equal-area projection, Alaska and Hawaii as insets), so the vendored outline and the
 * trucks land on the same pixels. Pure functions, no DOM.
 *
 * The constants are d3-geo's (albers.js, albersUsa.js, conicEqualArea.js); the browser
 * tests compare the outline this gives with us-atlas's own pre-projected file.
 */

const RAD = Math.PI / 180;

/** A conic equal-area projection: parallels, rotation and centre in degrees; scale k, centre at (tx, ty). */
function conicEqualArea({ parallels: [p0, p1], rotate, center: [clon, clat] }) {
  const sy0 = Math.sin(p0 * RAD);
  const n = (sy0 + Math.sin(p1 * RAD)) / 2;
  const c = 1 + sy0 * (2 * n - sy0);
  const r0 = Math.sqrt(c) / n;
  const raw = (lambda, phi) => {
    const r = Math.sqrt(c - 2 * n * Math.sin(phi)) / n;
    const x = lambda * n;
    return [r * Math.sin(x), r0 - r * Math.cos(x)];
  };
  const [cx, cy] = raw(clon * RAD, clat * RAD);
  return (lon, lat, k, tx, ty) => {
    let lambda = (lon + rotate) * RAD;
    // d3 wraps the rotated longitude into [-π, π].
    if (lambda > Math.PI) lambda -= 2 * Math.PI;
    else if (lambda < -Math.PI) lambda += 2 * Math.PI;
    const [x, y] = raw(lambda, lat * RAD);
    return [tx + k * (x - cx), ty - k * (y - cy)];
  };
}

const LOWER48 = conicEqualArea({ parallels: [29.5, 45.5], rotate: 96, center: [-0.6, 38.7] });
const ALASKA = conicEqualArea({ parallels: [55, 65], rotate: 154, center: [-2, 58.5] });
const HAWAII = conicEqualArea({ parallels: [8, 18], rotate: 157, center: [-3, 19.9] });
const EPS = 1e-6;

/**
 * Albers USA at scale `k` centred on (x, y): a function (lon, lat) → [px, py], or null for a
 * point outside the three panels (d3.geoAlbersUsa's clip extents). scale 1300 and
 * translate [487.5, 305] fill a 975 × 610 box.
 */
export function albersUsa(k, x, y) {
  const panels = [
    { project: (lon, lat) => LOWER48(lon, lat, k, x, y),
      box: [x - 0.455 * k, y - 0.238 * k, x + 0.455 * k, y + 0.238 * k] },
    { project: (lon, lat) => ALASKA(lon, lat, k * 0.35, x - 0.307 * k, y + 0.201 * k),
      box: [x - 0.425 * k + EPS, y + 0.12 * k + EPS, x - 0.214 * k - EPS, y + 0.234 * k - EPS] },
    { project: (lon, lat) => HAWAII(lon, lat, k, x - 0.205 * k, y + 0.212 * k),
      box: [x - 0.214 * k + EPS, y + 0.166 * k + EPS, x - 0.115 * k - EPS, y + 0.234 * k - EPS] },
  ];
  const project = (lon, lat) => {
    if (!Number.isFinite(lon) || !Number.isFinite(lat)) return null;
    for (const { project: p, box } of panels) {
      const pt = p(lon, lat);
      if (pt[0] >= box[0] && pt[0] <= box[2] && pt[1] >= box[1] && pt[1] <= box[3]) return pt;
    }
    return null;
  };
  /** Which panel a point falls in (0 lower 48, 1 Alaska, 2 Hawaii), or -1: rings never cross panels. */
  project.panelOf = (lon, lat) => {
    for (let i = 0; i < panels.length; i++) {
      const pt = panels[i].project(lon, lat);
      const b = panels[i].box;
      if (pt[0] >= b[0] && pt[0] <= b[2] && pt[1] >= b[1] && pt[1] <= b[3]) return i;
    }
    return -1;
  };
  /** The projection of one panel, unclipped (for the rest of a ring that started in it). */
  project.inPanel = (i, lon, lat) => panels[i].project(lon, lat);
  /** Each panel's clip box [x0, y0, x1, y1]. */
  project.boxes = panels.map((p) => p.box);
  return project;
}

// The natural frame of Albers USA: scale 1300 fills 975 × 610 around (487.5, 305).
const FRAME = { k: 1300, w: 975, h: 610 };

/** Albers USA fitted into a width × height box (with `pad` pixels around), centred. */
export function fitAlbersUsa(width, height, pad = 8) {
  const f = Math.max(0.05, Math.min((width - 2 * pad) / FRAME.w, (height - 2 * pad) / FRAME.h));
  return albersUsa(FRAME.k * f, width / 2, height / 2);
}

/** The vendored outline (us-states.json) decoded: [{id, name, rings: [[[lon, lat], …], …]}]. */
export function decodeStates(doc) {
  const q = doc.quantum;
  return doc.states.map((s) => ({
    id: s.id,
    name: s.name,
    rings: s.rings.map((flat) => {
      const ring = [];
      let x = 0;
      let y = 0;
      for (let i = 0; i < flat.length; i += 2) {
        x += flat[i];
        y += flat[i + 1];
        ring.push([x * q, y * q]);
      }
      return ring;
    }),
  }));
}

/**
 * The rings projected: [{panel, points: Float32Array [x0, y0, x1, y1, …]}, …]. A ring is
 * projected in the panel of its first point; drawing clips each panel to its box, as d3 does.
 */
export function projectRings(states, project) {
  const out = [];
  for (const s of states) {
    for (const ring of s.rings) {
      const panel = project.panelOf(ring[0][0], ring[0][1]);
      if (panel < 0) continue;
      const flat = new Float32Array(ring.length * 2);
      ring.forEach(([lon, lat], i) => {
        const [px, py] = project.inPanel(panel, lon, lat);
        flat[2 * i] = px;
        flat[2 * i + 1] = py;
      });
      out.push({ panel, points: flat });
    }
  }
  return out;
}
