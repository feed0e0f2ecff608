// The twin viewer: reads the STAC catalog served by `smartmine twin serve` at /stac/ and
// shows the chosen run's orthophoto, class map and contamination heat map on a map
// (OpenLayers; COGs streamed by HTTP range requests), its 3D model (the 3D Tiles tileset
// through 3d-tiles-renderer, its ECEF root transform taken back to a local east-north-up
// frame; else the `mesh` GLB; else the COPC point cloud's coarse levels), a legend of the classes with their areas and a run picker.
// Everything is bundled at build time (scripts/build_viewer.sh): no CDN, no tokens.
//
// For the tests, the page lists every asset of the run as <li data-asset="KEY">, and
// sets body[data-state] to "ready" (with body[data-run] = the run id) once the map has
// drawn the run's rasters and the model is drawn, or "error" on failure.

import Map from 'ol/Map.js';
import View from 'ol/View.js';
import WebGLTileLayer from 'ol/layer/WebGLTile.js';
import GeoTIFF from 'ol/source/GeoTIFF.js';
import { register } from 'ol/proj/proj4.js';
import { get as getProjection } from 'ol/proj.js';
import Projection from 'ol/proj/Projection.js';
import proj4 from 'proj4';
import * as THREE from 'three';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import { TilesRenderer } from '3d-tiles-renderer';
import { ReorientationPlugin } from '3d-tiles-renderer/plugins';
import { Copc } from 'copc';
import { createLazPerf } from 'laz-perf';

const CATALOG_URL = new URL('/stac/catalog.json', window.location.href).href;
const MAP_LAYERS = ['orthophoto', 'class_map', 'heat_map']; // bottom to top
const COG_TYPE = 'profile=cloud-optimized';

async function fetchJson(url) {
  const response = await fetch(url, { cache: 'no-cache' });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function linksOf(doc, rel, base) {
  return (doc.links || []).filter((l) => l.rel === rel).map((l) => new URL(l.href, base).href);
}

function itemTime(item) {
  const p = item.properties || {};
  return p.datetime || p.start_datetime || '';
}

// All items of every collection, newest first, each with its own URL and site.
async function loadRuns() {
  const catalog = await fetchJson(CATALOG_URL);
  const runs = [];
  for (const childUrl of linksOf(catalog, 'child', CATALOG_URL)) {
    const collection = await fetchJson(childUrl);
    const urls = linksOf(collection, 'item', childUrl);
    const items = await Promise.all(urls.map(fetchJson));
    items.forEach((item, i) => runs.push({ site: collection.id, url: urls[i], item }));
  }
  runs.sort((a, b) => itemTime(b.item).localeCompare(itemTime(a.item)));
  return runs;
}

// Registers UTM zones from their EPSG code (326zz north, 327zz south): no lookup service.
function projectionFor(item) {
  const code = item.properties['proj:code'];
  const match = /^EPSG:(32[67])(\d\d)$/.exec(code || '');
  if (match) {
    if (!getProjection(code)) {
      const south = match[1] === '327' ? ' +south' : '';
      proj4.defs(code, `+proj=utm +zone=${Number(match[2])}${south} +datum=WGS84 +units=m +no_defs`);
      register(proj4);
    }
    return getProjection(code);
  }
  if (code && getProjection(code)) return getProjection(code);
  // A mine grid (proj:code null) or another CRS: a local metric frame over proj:bbox.
  return new Projection({ code: code || 'mine-grid', units: 'm', extent: flatBbox(item) });
}

// proj:bbox as [minx, miny, maxx, maxy] (a 3D bbox loses its heights), or undefined.
function flatBbox(item) {
  const b = item.properties['proj:bbox'];
  if (!Array.isArray(b)) return undefined;
  if (b.length === 6) return [b[0], b[1], b[3], b[4]];
  return b.length === 4 ? b : undefined;
}

function hexToRgba(hex, alpha) {
  const v = parseInt(hex.replace('#', ''), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255, alpha];
}

function layerFor(key, href, classes, projection) {
  if (key === 'orthophoto') {
    // nodata 0 (what GDAL and our orthophotos write where no image saw the ground) is
    // transparent, not a black frame around the pit
    return new WebGLTileLayer({ source: new GeoTIFF({ sources: [{ url: href, nodata: 0 }], projection, interpolate: false }) });
  }
  if (key === 'heat_map') {
    // Heat in 0..1; nodata (band 2, the alpha the source adds) and no heat (~0, also what
    // geotiff.js gives for the sparse tiles GDAL leaves out) are transparent.
    const source = new GeoTIFF({ sources: [{ url: href, min: 0, max: 1 }], projection, interpolate: false });
    const color = [
      'case', ['any', ['==', ['band', 2], 0], ['<=', ['band', 1], 0.02]], [0, 0, 0, 0],
      ['interpolate', ['linear'], ['band', 1],
        0, [255, 255, 178, 0.35], 0.33, [254, 204, 92, 0.7], 0.66, [253, 141, 60, 0.85], 1, [189, 0, 38, 0.95]],
    ];
    return new WebGLTileLayer({ source, style: { color } });
  }
  // class_map: raw class values, coloured as the legend; 0 and clean classes transparent.
  const source = new GeoTIFF({ sources: [{ url: href }], projection, normalize: false, interpolate: false });
  const match = ['match', ['band', 1]];
  for (const c of classes) {
    match.push(c.value, hexToRgba(c.colour || '#ff00ff', c.contamination === false ? 0 : 0.55));
  }
  match.push([0, 0, 0, 0]);
  return new WebGLTileLayer({ source, style: { color: match }, visible: false });
}

// The heat ramp of the map layer, for 0..1 (sRGB 0..255 stops), grey below 0.02.
const HEAT_STOPS = [
  [0, [255, 255, 178]], [0.33, [254, 204, 92]], [0.66, [253, 141, 60]], [1, [189, 0, 38]],
];

function heatRgb(value) {
  if (!(value > 0.02)) return [150, 150, 150];
  const v = Math.min(value, 1);
  for (let i = 1; i < HEAT_STOPS.length; i++) {
    const [v1, c1] = HEAT_STOPS[i];
    const [v0, c0] = HEAT_STOPS[i - 1];
    if (v <= v1) {
      const t = (v - v0) / (v1 - v0);
      return c0.map((c, k) => c + t * (c1[k] - c));
    }
  }
  return HEAT_STOPS[HEAT_STOPS.length - 1][1];
}

function heatColours(heat) {
  const colours = new Float32Array(heat.count * 3);
  const colour = new THREE.Color();
  for (let i = 0; i < heat.count; i++) {
    const [r, g, b] = heatRgb(heat.getX(i));
    colour.setRGB(r / 255, g / 255, b / 255, THREE.SRGBColorSpace);
    colours.set([colour.r, colour.g, colour.b], i * 3);
  }
  return new THREE.BufferAttribute(colours, 3);
}

// laz-perf's WebAssembly, shipped beside the bundle (scripts/build_viewer.sh copies it).
let lazPerfPromise = null;
function lazPerf() {
  if (!lazPerfPromise) lazPerfPromise = createLazPerf({ locateFile: (name) => `/static/${name}` });
  return lazPerfPromise;
}

// Byte ranges of a URL, as copc.js asks for them (end exclusive).
function rangeGetter(url) {
  return async (begin, end) => {
    const response = await fetch(url, { headers: { Range: `bytes=${begin}-${end - 1}` } });
    if (response.status !== 206 && response.status !== 200) {
      throw new Error(`${url}: HTTP ${response.status} for bytes ${begin}-${end - 1}`);
    }
    return new Uint8Array(await response.arrayBuffer());
  };
}

const CLOUD_POINT_BUDGET = 400000;

// The COPC octree's coarsest nodes up to the point budget, read by range requests:
// positions in a local frame (x east, y up, z south: as a glTF), heat or height colours.
async function loadCopc(url) {
  const getter = rangeGetter(url);
  const copc = await Copc.create(getter);
  const { nodes } = await Copc.loadHierarchyPage(getter, copc.info.rootHierarchyPage);
  const keys = Object.keys(nodes).sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0]));
  const chosen = [];
  let total = 0;
  for (const key of keys) {
    const node = nodes[key];
    if (!node || node.pointCount === 0) continue;
    if (total > 0 && total + node.pointCount > CLOUD_POINT_BUDGET) break;
    chosen.push(node);
    total += node.pointCount;
  }
  const lp = await lazPerf();
  const views = [];
  for (const node of chosen) views.push(await Copc.loadPointDataView(getter, copc, node, { lazPerf: lp }));
  // Centre and height range from the points themselves (float64 here): float32 positions
  // must be small numbers, and a header's bounds may be unset.
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (const view of views) {
    const get = ['X', 'Y', 'Z'].map((d) => view.getter(d));
    for (let i = 0; i < view.pointCount; i++) {
      for (let k = 0; k < 3; k++) {
        const v = get[k](i);
        if (v < lo[k]) lo[k] = v;
        if (v > hi[k]) hi[k] = v;
      }
    }
  }
  const centre = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]];
  const heightM = Math.max(hi[2] - lo[2], 1e-6);
  const positions = new Float32Array(total * 3);
  const colours = new Float32Array(total * 3);
  const colour = new THREE.Color();
  let at = 0;
  for (const view of views) {
    const [gx, gy, gz] = ['X', 'Y', 'Z'].map((d) => view.getter(d));
    const heat = view.dimensions.heat ? view.getter('heat') : null;
    for (let i = 0; i < view.pointCount; i++, at++) {
      const x = gx(i) - centre[0];
      const y = gy(i) - centre[1];
      const z = gz(i) - centre[2];
      positions.set([x, z, -y], at * 3);
      const rgb = heat ? heatRgb(heat(i)) : heightRgb(z / heightM);
      colour.setRGB(rgb[0] / 255, rgb[1] / 255, rgb[2] / 255, THREE.SRGBColorSpace);
      colours.set([colour.r, colour.g, colour.b], at * 3);
    }
  }
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute('position', new THREE.BufferAttribute(positions, 3));
  geometry.setAttribute('color', new THREE.BufferAttribute(colours, 3));
  geometry.computeBoundingSphere();
  const material = new THREE.PointsMaterial({ size: 2, sizeAttenuation: false, vertexColors: true });
  return new THREE.Points(geometry, material);
}

// Grey-blue (low) to sand (high) for a cloud without heat.
function heightRgb(t) {
  const v = Math.min(Math.max(t, 0), 1);
  return [90 + 130 * v, 110 + 90 * v, 140 - 20 * v];
}

class MapView {
  constructor(target) {
    this.map = new Map({ target, layers: [], controls: [] });
    this.layers = {};
  }

  // Resolves when the map has drawn the new run's layers once.
  show(run, assetUrls) {
    const item = run.item;
    const classes = item.properties['smartmine:classes'] || [];
    for (const layer of Object.values(this.layers)) this.map.removeLayer(layer);
    this.layers = {};
    const projection = projectionFor(item);
    for (const key of MAP_LAYERS) {
      const asset = item.assets[key];
      if (!asset || !(asset.type || '').includes(COG_TYPE)) continue;
      const layer = layerFor(key, assetUrls[key], classes, projection);
      this.layers[key] = layer;
      this.map.addLayer(layer);
    }
    const extent = flatBbox(item);
    const view = new View({ projection });
    this.map.setView(view);
    const size = this.map.getSize() || [400, 400];
    if (extent) {
      view.fit(extent, { size, padding: [20, 20, 20, 20] });
    } else {
      view.setCenter([0, 0]);
      view.setResolution(1);
    }
    const empty = Object.keys(this.layers).length === 0;
    document.getElementById('map-note').textContent = empty
      ? `no map layers in this run (${item.properties['smartmine:kind'] || 'no rasters'})` : '';
    if (empty) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const sources = Object.values(this.layers).map((l) => l.getSource());
      for (const s of sources) {
        s.on('change', () => {
          if (s.getState() === 'error') reject(new Error(`map layer failed: ${s.getError()}`));
        });
      }
      // rendercomplete fires trivially while sources are still opening their COG
      // headers; the first one after all are ready starts the tile loads, the next one
      // comes when every visible tile is drawn.
      let armed = false;
      const onRender = () => {
        const ready = sources.every((s) => s.getState() === 'ready');
        if (ready && armed) {
          this.map.un('rendercomplete', onRender);
          resolve();
          return;
        }
        armed = ready;
        this.map.render();
      };
      this.map.on('rendercomplete', onRender);
      this.map.render();
    });
  }

  setVisible(key, visible) {
    if (this.layers[key]) this.layers[key].setVisible(visible);
  }
}

class ModelView {
  constructor(canvas) {
    this.canvas = canvas;
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(1);
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0x1d1f21);
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x404040, 2.0));
    const sun = new THREE.DirectionalLight(0xffffff, 1.5);
    sun.position.set(1, 2, 1);
    this.scene.add(sun);
    this.camera = new THREE.PerspectiveCamera(45, 1, 0.1, 100000);
    this.controls = new OrbitControls(this.camera, canvas);
    this.controls.addEventListener('change', () => this.draw());
    this.model = null;
    this.tiles = null;
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  resize() {
    const w = this.canvas.clientWidth || 400;
    const h = this.canvas.clientHeight || 400;
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.draw();
  }

  clear() {
    if (this.model) this.scene.remove(this.model);
    if (this.tiles) this.tiles.dispose();
    this.model = null;
    this.tiles = null;
    this.draw();
  }

  // Lit vertex colours: the draped heat (vertex attribute _HEAT) when the mesh has it,
  // on the same ramp as the map, else the recorded colours (COLOR_0).
  static recolour(object) {
    object.traverse((o) => {
      if (!o.isMesh) return;
      const heat = o.geometry.getAttribute('_heat');
      if (heat) o.geometry.setAttribute('color', heatColours(heat));
      if (o.geometry.getAttribute('color')) {
        o.material = new THREE.MeshLambertMaterial({ vertexColors: true, side: THREE.DoubleSide });
      }
    });
  }

  // Points the camera at a sphere (centre, radius) from the south, above, so that north
  // is up the screen as on the map; `north` and `up` are world directions.
  frame(centre, radius, north = new THREE.Vector3(0, 0, -1), up = new THREE.Vector3(0, 1, 0)) {
    radius = Math.max(radius, 1);
    const offset = north.clone().multiplyScalar(-0.75).add(up.clone().multiplyScalar(1.0));
    offset.normalize().multiplyScalar(radius * 3.0);
    this.camera.up.copy(up);
    this.camera.position.copy(centre).add(offset);
    this.camera.near = radius / 100;
    this.camera.far = radius * 100;
    this.camera.updateProjectionMatrix();
    this.controls.target.copy(centre);
    this.controls.update();
    this.draw();
  }

  // Loads a GLB and frames it: the model's own local frame (metres, Y up).
  async showGlb(glbUrl) {
    const gltf = await new GLTFLoader().loadAsync(glbUrl);
    this.clear();
    this.model = gltf.scene;
    ModelView.recolour(this.model);
    this.scene.add(this.model);
    const box = new THREE.Box3().setFromObject(this.model);
    this.frame(box.getCenter(new THREE.Vector3()), box.getSize(new THREE.Vector3()).length() / 2);
    this.canvas.dataset.source = 'mesh';
  }

  // Streams the coarse levels of a COPC point cloud and frames them.
  async showCloud(copcUrl) {
    const points = await loadCopc(copcUrl);
    this.clear();
    this.model = points;
    this.scene.add(points);
    const sphere = points.geometry.boundingSphere;
    this.frame(sphere.center, sphere.radius);
    this.canvas.dataset.source = 'copc';
  }

  // Streams a 3D Tiles tileset; resolves once its visible tiles are loaded and drawn.
  showTileset(tilesetUrl) {
    this.clear();
    const tiles = new TilesRenderer(tilesetUrl);
    tiles.registerPlugin(new ReorientationPlugin({ recenter: true }));
    tiles.setCamera(this.camera);
    tiles.setResolutionFromRenderer(this.camera, this.renderer);
    tiles.addEventListener('load-model', ({ scene }) => ModelView.recolour(scene));
    this.tiles = tiles;
    this.scene.add(tiles.group);
    return new Promise((resolve, reject) => {
      let framed = false;
      tiles.addEventListener('load-error', ({ error, url }) => reject(new Error(`${url}: ${error}`)));
      // The plugin (registered first) has moved tiles.group when this runs.
      tiles.addEventListener('load-root-tileset', () => {
        framed = true;
        const sphere = new THREE.Sphere();
        tiles.group.updateMatrixWorld(true);
        if (tiles.getBoundingSphere(sphere)) {
          // North and up at the tileset's centre (ECEF), turned into the world frame.
          const cart = {};
          const [east, north, up] = [new THREE.Vector3(), new THREE.Vector3(), new THREE.Vector3()];
          tiles.ellipsoid.getPositionToCartographic(sphere.center, cart);
          tiles.ellipsoid.getEastNorthUpAxes(cart.lat, cart.lon, east, north, up);
          north.transformDirection(tiles.group.matrixWorld);
          up.transformDirection(tiles.group.matrixWorld);
          sphere.applyMatrix4(tiles.group.matrixWorld);
          this.frame(sphere.center, sphere.radius, north, up);
        }
      });
      // Drawn when the root is framed, nothing is loading and some tile is visible.
      const started = performance.now();
      const tick = () => {
        if (this.tiles !== tiles) return;
        this.draw();
        if (performance.now() - started > 30000) {
          reject(new Error(`${tilesetUrl}: no tile visible after 30 s`));
          return;
        }
        const loading = tiles.stats.downloading + tiles.stats.parsing + tiles.stats.queued;
        if (framed && loading === 0 && tiles.visibleTiles.size > 0) {
          this.canvas.dataset.source = 'tileset';
          resolve();
        } else {
          requestAnimationFrame(tick);
        }
      };
      this.canvas.dataset.source = '';
      tick();
    });
  }

  // Renders; with a tileset, first lets it pick and load the tiles this view needs
  // (guarded: its events call back into draw()).
  draw() {
    if (this.tiles && !this.updating) {
      this.updating = true;
      this.camera.updateMatrixWorld(); // the tiles' frustum test uses it
      try {
        this.tiles.update();
      } finally {
        this.updating = false;
      }
    }
    this.renderer.render(this.scene, this.camera);
  }
}

function fillLayers(run, assetUrls, mapView) {
  const list = document.getElementById('layers');
  list.replaceChildren();
  for (const [key, asset] of Object.entries(run.item.assets)) {
    const li = document.createElement('li');
    li.dataset.asset = key;
    li.dataset.href = assetUrls[key];
    if (mapView.layers[key]) {
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = mapView.layers[key].getVisible();
      box.addEventListener('change', () => mapView.setVisible(key, box.checked));
      li.append(box, ' ');
    }
    const link = document.createElement('a');
    link.href = assetUrls[key];
    link.textContent = asset.title || key;
    link.title = asset.type || '';
    li.append(link);
    if (asset['file:size'] !== undefined) li.append(` (${(asset['file:size'] / 1024).toFixed(0)} KiB)`);
    list.append(li);
  }
}

function fillLegend(item) {
  const body = document.querySelector('#legend tbody');
  body.replaceChildren();
  const classes = item.properties['smartmine:classes'] || [];
  document.getElementById('legend').hidden = classes.length === 0;
  for (const c of classes) {
    const tr = document.createElement('tr');
    tr.dataset.class = c.name;
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = c.colour;
    const cells = [swatch, c.name + (c.contamination ? ' ⚠' : ''), (c.area_m2 ?? NaN).toFixed(1)];
    for (const content of cells) {
      const td = document.createElement('td');
      td.append(content);
      tr.append(td);
    }
    body.append(tr);
  }
}

function formatFigure(value) {
  if (typeof value !== 'number') return String(value);
  if (Number.isInteger(value)) return String(value);
  return Number(value.toPrecision(4)).toString();
}

// The figures each stage measured (item property smartmine:accuracy), one row each,
// names as the stage reports write them (units in the names).
function fillAccuracy(accuracy) {
  const body = document.querySelector('#accuracy tbody');
  body.replaceChildren();
  for (const [stage, figures] of Object.entries(accuracy)) {
    for (const [name, value] of Object.entries(figures || {})) {
      const tr = document.createElement('tr');
      for (const text of [stage, name.replaceAll('_', ' '), formatFigure(value)]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      body.append(tr);
    }
  }
}

let shown = 0; // which showRun call is the latest: an older one finishing late says nothing

async function showRun(run, mapView, modelView) {
  const call = ++shown;
  document.body.dataset.state = 'loading';
  const assetUrls = {};
  for (const [key, asset] of Object.entries(run.item.assets)) {
    assetUrls[key] = new URL(asset.href, run.url).href;
  }
  const p = run.item.properties;
  document.getElementById('run-status').textContent =
    `${run.site} · ${p['smartmine:kind'] || ''} · ${p['smartmine:status'] || ''} · ${p['proj:code'] || 'mine grid'}`;
  fillLegend(run.item);
  fillAccuracy(p['smartmine:accuracy'] || {});
  const mapDone = mapView.show(run, assetUrls);
  fillLayers(run, assetUrls, mapView);
  const note = document.getElementById('model-note');
  note.textContent = '';
  let modelDone;
  if (assetUrls.tileset) {
    modelDone = modelView.showTileset(assetUrls.tileset);
  } else if (assetUrls.mesh) {
    modelDone = modelView.showGlb(assetUrls.mesh);
  } else if (assetUrls.copc) {
    modelDone = modelView.showCloud(assetUrls.copc);
  } else {
    modelView.clear();
    note.textContent = 'no 3D model in this run';
    modelDone = Promise.resolve();
  }
  await Promise.all([mapDone, modelDone]);
  if (call !== shown) return;
  document.body.dataset.run = run.item.id;
  document.body.dataset.state = 'ready';
}

async function main() {
  const mapView = new MapView('map');
  const modelView = new ModelView(document.getElementById('model'));
  window.smartmineTwin = { mapView, modelView }; // for the console and the browser test
  const runs = await loadRuns();
  const picker = document.getElementById('run-picker');
  for (const [i, run] of runs.entries()) {
    const option = document.createElement('option');
    option.value = String(i);
    option.dataset.run = run.item.id;
    option.textContent = `${run.site} · ${itemTime(run.item).slice(0, 16).replace('T', ' ')} · ${run.item.id}`;
    picker.append(option);
  }
  if (runs.length === 0) {
    document.getElementById('model-note').textContent = 'the catalog holds no runs yet';
    document.body.dataset.state = 'ready';
    return;
  }
  const fail = (err) => {
    document.body.dataset.state = 'error';
    console.error(`viewer: ${err.message || err}`);
  };
  picker.addEventListener('change', () => showRun(runs[Number(picker.value)], mapView, modelView).catch(fail));
  await showRun(runs[0], mapView, modelView).catch(fail);
}

window.addEventListener('error', (e) => { document.body.dataset.state = 'error'; });
main().catch((err) => {
  document.body.dataset.state = 'error';
  console.error(`viewer: ${err.message || err}`);
});
