// graphflow live view: polls /api/stats twice a second, long-polls /api/frame for the newest frame, draws the
// topology from /api/topology with dagre (vendored) as SVG. Read-only: the only request that is not a GET asks
// for a trace of the next seconds. Frames are asked for one at a time, after the previous one is shown and the
// browser is about to paint (so never faster than this display; the server caps the rate too, --serve-fps);
// a hidden tab asks for nothing at all until it is shown again.
"use strict";

const STATS_PERIOD_MS = 500;
const RETRY_MS = 1000;
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const edgeLabels = new Map();   // edge id -> {text, stream, target, tag}
const nodeRects = new Map();    // node id -> rect
let topo = null;
let statsTick = 0;

function fmt(x, digits = 1) {
  return x === undefined || x === null || Number.isNaN(x) ? "-" : Number(x).toFixed(digits);
}

function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

function textWidth(s, px) { return Math.max(40, s.length * px * 0.6 + 16); }

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// resolves at once while the page is visible, else when it is shown again (a background tab costs nothing)
function visible() {
  if (!document.hidden) return Promise.resolve();
  return new Promise((ok) => document.addEventListener("visibilitychange", function shown() {
    if (!document.hidden) { document.removeEventListener("visibilitychange", shown); ok(); }
  }));
}

// the next paint of this display (or 100 ms, should a browser not paint at all)
const nextPaint = () => Promise.race([new Promise((ok) => requestAnimationFrame(() => ok())), sleep(100)]);

// ---- topology ------------------------------------------------------------------------------------------------
function drawTopology(t) {
  const g = new dagre.graphlib.Graph({ compound: true, multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 18, ranksep: 34, edgesep: 8, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const grp of t.groups) g.setNode("group:" + grp.id, { label: grp.label, clusterLabelPos: "top" });
  for (const grp of t.groups) if (grp.parent) g.setParent("group:" + grp.id, "group:" + grp.parent);
  for (const n of t.nodes) {
    const w = Math.max(textWidth(n.label, 11), textWidth(n.calculator || "", 10));
    g.setNode(n.id, { width: w, height: n.kind === "node" ? 36 : 22, data: n });
    if (n.group) g.setParent(n.id, "group:" + n.group);
  }
  for (const e of t.edges) {
    g.setEdge(e.source, e.target, { width: 46, height: 14, labelpos: "c", data: e }, e.id);
  }
  dagre.layout(g);
  const box = $("topology");
  box.textContent = "";
  const size = g.graph();
  // fit the box's width; tall graphs scroll vertically
  const root = svg("svg", { viewBox: `0 0 ${size.width} ${size.height}`, id: "topology-svg",
                            style: `width: 100%; max-width: ${size.width}px; height: auto` }, box);
  svg("defs", {}, root).innerHTML =
    '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">' +
    '<path d="M0,0 L10,5 L0,10 z" fill="#8b95a7"/></marker>';
  // clusters, outermost first so inner ones draw on top
  const depth = (id) => { let d = 0; for (let p = g.parent(id); p; p = g.parent(p)) d++; return d; };
  const groups = t.groups.map((grp) => "group:" + grp.id).sort((a, b) => depth(a) - depth(b));
  for (const id of groups) {
    const c = g.node(id);
    const el = svg("g", { class: "cluster", "data-group": id.slice(6) }, root);
    svg("rect", { x: c.x - c.width / 2, y: c.y - c.height / 2, width: c.width, height: c.height, rx: 6 }, el);
    svg("text", { x: c.x - c.width / 2 + 6, y: c.y - c.height / 2 + 12 }, el).textContent = c.label;
  }
  for (const e of g.edges()) {
    const d = g.edge(e);
    const data = d.data;
    const el = svg("g", { class: "edge" + (data.back_edge ? " back" : ""), "data-stream": data.stream }, root);
    const pts = d.points.map((p) => `${p.x},${p.y}`).join(" L");
    svg("path", { d: "M" + pts, "marker-end": "url(#arrow)" }, el);
    const label = svg("text", { x: d.x, y: d.y + 3, "text-anchor": "middle" }, el);
    label.textContent = "0";
    edgeLabels.set(data.id, { text: label, group: el, stream: data.stream, target: data.target, tag: data.tag });
  }
  for (const id of g.nodes()) {
    if (id.startsWith("group:")) continue;
    const n = g.node(id);
    const data = n.data;
    const el = svg("g", { class: "gnode" + (data.kind === "node" ? "" : " io"), "data-node": id }, root);
    const rect = svg("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height,
                               fill: "#e8f0fe" }, el);
    const title = svg("title", {}, el);
    title.textContent = data.kind === "node" ? `${id} (${data.calculator}, input policy ${data.policy})` : id;
    if (data.kind === "node") {
      svg("text", { x: n.x, y: n.y - 3, "text-anchor": "middle" }, el).textContent = data.label;
      svg("text", { x: n.x, y: n.y + 11, "text-anchor": "middle", class: "calc" }, el).textContent = data.calculator;
      nodeRects.set(id, rect);
    } else {
      svg("text", { x: n.x, y: n.y + 4, "text-anchor": "middle" }, el).textContent =
        (data.kind === "input" ? "in: " : "out: ") + data.label;
    }
  }
}

function busyColour(busy) {  // 0 -> pale blue, 1 -> orange
  const b = Math.max(0, Math.min(1, busy || 0));
  const mix = (a, c) => Math.round(a + (c - a) * b);
  return `rgb(${mix(232, 253)},${mix(240, 186)},${mix(254, 116)})`;
}

// ---- stats ---------------------------------------------------------------------------------------------------
function updateStats(s) {
  statsTick += 1;
  $("stats-tick").textContent = statsTick;
  const app = s.app || {};
  const states = Object.values(s.nodes).map((n) => n.state);
  const running = states.some((x) => x === "running" || x === "open");
  $("state").textContent = running ? "running" : (states.length ? "finished" : "-");
  $("state").className = "badge " + (running ? "running" : "done");
  $("uptime").textContent = fmt(s.uptime_s !== undefined ? s.uptime_s : s.server_uptime_s, 0) + " s";
  $("frames").textContent = app.frames !== undefined ? app.frames : "-";
  const streamRates = (s.rates && s.rates.streams) || {};
  const recent = app.frames_stream ? streamRates[app.frames_stream] : undefined;
  $("fps").textContent = fmt(recent !== undefined ? recent : app.fps);
  const lat = app.latency_ms;
  $("latency").textContent = lat ? `${fmt(lat.p50, 0)} / ${fmt(lat.p95, 0)} ms` : "-";
  $("drops").textContent = s.drops_total;
  $("clients").textContent = s.clients;
  const rates = (s.rates && s.rates.nodes) || {};
  const rows = [];
  for (const [name, n] of Object.entries(s.nodes)) {
    const r = rates[name] || {};
    const inputs = Object.values(n.inputs);
    const depth = inputs.map((i) => `${i.depth}/${i.queue_size}`).join(" ");
    const hwm = inputs.length ? Math.max(...inputs.map((i) => i.high_water)) : 0;
    const drops = inputs.reduce((a, i) => a + i.drops, 0) +
      Object.entries(n.counters).filter(([k]) => k.startsWith("dropped")).reduce((a, [, v]) => a + v, 0);
    const l = n.latency_us;
    rows.push(`<tr data-node="${name}"><td>${name}</td><td>${n.calculator}</td><td>${n.state}</td>` +
      `<td>${n.process_calls}</td><td>${fmt(r.calls_per_s)}</td><td>${fmt(100 * (r.busy || 0), 0)}%</td>` +
      `<td>${fmt(l.p50 / 1000, 2)}</td><td>${fmt(l.p95 / 1000, 2)}</td><td>${fmt(l.max / 1000, 2)}</td>` +
      `<td>${depth}</td><td>${hwm}</td><td class="${drops ? "drops" : ""}">${drops}</td></tr>`);
    const rect = nodeRects.get(name);
    if (rect) rect.setAttribute("fill", busyColour(r.busy));
  }
  document.querySelector("#stats tbody").innerHTML = rows.join("");
  for (const [, e] of edgeLabels) {
    const st = s.streams[e.stream];
    let label = st ? String(st.packets) : "";
    const node = s.nodes[e.target];
    let drops = 0;
    if (node) for (const i of Object.values(node.inputs)) if (i.stream === e.stream) drops += i.drops;
    if (drops) label += ` (-${drops})`;
    e.text.textContent = label;
    e.group.classList.toggle("dropping", drops > 0);
  }
}

async function statsLoop() {
  for (;;) {
    await visible();
    try {
      const r = await fetch("/api/stats", { cache: "no-store" });
      if (r.ok) updateStats(await r.json());
    } catch (err) {
      $("state").textContent = "disconnected";
      $("state").className = "badge lost";
    }
    await sleep(STATS_PERIOD_MS);
  }
}

// ---- frames: ask for one newer than the one shown; the server answers with the newest ----------------------
async function frameLoop() {
  const img = $("frame");
  let seq = -1;
  let shownUrl = null;
  for (;;) {
    await visible();
    await nextPaint();
    try {
      const r = await fetch(`/api/frame?after=${seq}`, { cache: "no-store" });
      if (r.status === 404) { $("no-frame").textContent = "this run has no image stream to show"; return; }
      if (r.status === 200) {
        seq = Number(r.headers.get("X-Frame-Seq"));
        const ts = Number(r.headers.get("X-Frame-Timestamp"));
        const url = URL.createObjectURL(await r.blob());
        await new Promise((ok) => { img.onload = ok; img.onerror = ok; img.src = url; });
        if (shownUrl) URL.revokeObjectURL(shownUrl);
        shownUrl = url;
        img.dataset.seq = String(seq);
        $("no-frame").style.display = "none";
        $("frame-info").textContent = `frame ${seq}, t = ${(ts / 1e6).toFixed(3)} s`;
      } else if (r.status !== 204) {
        await sleep(RETRY_MS);  // a server error: ask again later, do not spin
      }
    } catch (err) {
      await sleep(RETRY_MS);
    }
  }
}

// ---- trace button --------------------------------------------------------------------------------------------
async function recordTrace() {
  const button = $("trace");
  const seconds = Number($("trace-seconds").value);
  button.disabled = true;
  $("trace-status").textContent = `recording ${seconds} s...`;
  try {
    const r = await fetch(`/api/trace?seconds=${seconds}`, { method: "POST", headers: { "X-Requested-By": "graphflow" } });
    if (!r.ok) {
      const err = await r.json().catch(() => ({ error: r.statusText }));
      $("trace-status").textContent = err.error;
      return;
    }
    const blob = await r.blob();
    const name = (r.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name ? name[1] : "graphflow-trace.json";
    document.body.appendChild(a);
    a.click();
    a.remove();
    $("trace-status").textContent = `saved ${a.download} (open it in ui.perfetto.dev)`;
  } catch (err) {
    $("trace-status").textContent = "trace failed: " + err;
  } finally {
    button.disabled = false;
  }
}

async function main() {
  $("trace").addEventListener("click", recordTrace);
  for (;;) {
    try {
      const r = await fetch("/api/topology");
      topo = await r.json();
      break;
    } catch (err) {
      await new Promise((ok) => setTimeout(ok, RETRY_MS));
    }
  }
  $("title").textContent = topo.title || topo.name;
  document.title = `${topo.title || topo.name} - graphflow live view`;
  $("stream-name").textContent = topo.stream ? `(${topo.stream})` : "";
  drawTopology(topo);
  statsLoop();
  frameLoop();
}

main();
