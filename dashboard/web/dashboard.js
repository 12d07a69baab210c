// ecowarn's risk map: the active alerts from /api/state, then every event as it is written
// (/api/events, Server-Sent Events resumed by Last-Event-ID). Everything shown is set as text
// (textContent, attributes): enterprise names and messages are input, never markup.
"use strict";

const RANK = { critical: 4, major: 3, minor: 2, warning: 2, info: 1 };
const COLOUR = { 4: "red", 3: "orange", 2: "yellow", 1: "blue", 0: "green" };
const FEED_MAX = 200;
const ROWS_MAX = 300; // active alerts listed, the worst first (a bad day has thousands)

const state = {
  sites: new Map(),   // mn -> site
  active: new Map(),  // fingerprint -> its latest event
  feed: [],
  ack: false,
  source: null,
  pending: false,
  circles: new Map(),  // mn -> its circle on the map
  radius: 7,           // of a site with an alert (a quiet one: half), smaller for many sites
  coloured: new Map(), // mn -> the rank it is painted with, for those not quiet
};

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function rank(ev) {
  return RANK[ev && ev.severity] || 1;
}

function colour(r) {
  return COLOUR[r] || "blue";
}

function siteName(mn, enterpriseId) {
  const s = state.sites.get(mn);
  return (s && (s.enterprise_name || s.enterprise_id)) || enterpriseId || "";
}

function shortTime(iso) {
  return typeof iso === "string" ? iso.replace("T", " ").slice(0, 19) : "";
}

// ---- what arrives ----

function apply(ev) {
  if (!ev || typeof ev.fingerprint !== "string") return;
  if (ev.event === "resolved") state.active.delete(ev.fingerprint);
  else state.active.set(ev.fingerprint, ev);
  state.feed.unshift(ev);
  if (state.feed.length > FEED_MAX) state.feed.length = FEED_MAX;
  schedule();
}

function schedule() {
  if (state.pending) return;
  state.pending = true;
  requestAnimationFrame(() => {
    state.pending = false;
    render();
  });
}

function setStatus(s, text) {
  const e = $("status");
  e.dataset.state = s;
  e.textContent = text;
}

async function load() {
  let body;
  try {
    const r = await fetch("api/state", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    body = await r.json();
  } catch (e) {
    setStatus("down", "无法加载 cannot load: " + e.message);
    setTimeout(load, 3000);
    return;
  }
  state.sites.clear();
  for (const s of body.sites || []) if (s && typeof s.mn === "string") state.sites.set(s.mn, s);
  state.active.clear();
  for (const text of body.active || []) {
    try {
      const ev = JSON.parse(text);
      if (ev && typeof ev.fingerprint === "string") state.active.set(ev.fingerprint, ev);
    } catch (e) {
      /* one bad entry of the hash alone */
    }
  }
  state.ack = !!body.ack;
  $("ackform").hidden = !state.ack;
  drawSites();
  render();
  follow(body.last_id || "0-0");
}

function follow(since) {
  if (state.source) state.source.close();
  // the first connection starts after the state's id; a reconnection sends Last-Event-ID
  const es = new EventSource("api/events?since=" + encodeURIComponent(since));
  state.source = es;
  es.onopen = () => setStatus("live", "实时 live");
  es.onerror = () => setStatus("reconnecting", "重连中 reconnecting");
  es.addEventListener("alert", (m) => {
    try {
      apply(JSON.parse(m.data));
    } catch (e) {
      /* not an event: ignored */
    }
  });
}

// ---- acknowledging ----

async function acknowledge(ev, button) {
  const token = $("token").value;
  const by = $("by").value.trim() || "dashboard";
  if (!token) {
    button.textContent = "需要令牌 token?";
    $("token").focus();
    return;
  }
  button.disabled = true;
  let r;
  try {
    r = await fetch("api/ack", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify({ alert_id: ev.id, by: by, note: "from the dashboard" }),
    });
  } catch (e) {
    r = { status: 0 };
  }
  const said = { 202: "已提交 sent", 401: "令牌错误 wrong token", 403: "只读 read-only" };
  button.textContent = said[r.status] || "失败 failed (" + r.status + ")";
  button.dataset.result = String(r.status);
  if (r.status !== 202) button.disabled = false;
}

// ---- drawing ----

function worstBySite() {
  const worst = new Map();
  for (const ev of state.active.values()) {
    const r = rank(ev);
    if (!worst.has(ev.mn) || worst.get(ev.mn) < r) worst.set(ev.mn, r);
  }
  return worst;
}

// The sites are drawn once per load (a province has 20,000); an update recolours only the
// circles whose worst alert changed, and raises them so that the worst are on top.
function drawSites() {
  const svg = $("map");
  const NS = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  state.circles = new Map();
  state.coloured = new Map();
  const placed = [...state.sites.values()].filter(
    (s) => Number.isFinite(s.lon) && Number.isFinite(s.lat));
  if (!placed.length) {
    const t = document.createElementNS(NS, "text");
    t.setAttribute("x", "20");
    t.setAttribute("y", "40");
    t.textContent = "no site has lon/lat (outlet.upsert)";
    svg.appendChild(t);
    return;
  }
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const s of placed) {
    x0 = Math.min(x0, s.lon); x1 = Math.max(x1, s.lon);
    y0 = Math.min(y0, s.lat); y1 = Math.max(y1, s.lat);
  }
  // equirectangular, shrunk in longitude by the latitude's cosine; a margin of 20 units
  const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
  const w = Math.max((x1 - x0) * k, 1e-6), h = Math.max(y1 - y0, 1e-6);
  const scale = Math.min(960 / w, 600 / h);
  state.radius = Math.max(1.5, Math.min(7, 500 / Math.sqrt(placed.length)));
  for (const s of placed) {
    const c = document.createElementNS(NS, "circle");
    c.setAttribute("cx", (20 + (s.lon - x0) * k * scale).toFixed(1));
    c.setAttribute("cy", (620 - (s.lat - y0) * scale).toFixed(1));
    c.dataset.mn = s.mn;
    paint(c, 0);
    const title = document.createElementNS(NS, "title");
    title.textContent = (s.enterprise_name || s.enterprise_id || "") + " · " + s.mn +
      (s.region ? " · " + s.region : "");
    c.appendChild(title);
    svg.appendChild(c);
    state.circles.set(s.mn, c);
  }
}

function paint(c, r) {
  c.setAttribute("r", (r ? state.radius : state.radius / 2).toFixed(1));
  c.setAttribute("class", "site " + colour(r));
  c.dataset.colour = colour(r);
}

function renderMap(worst) {
  const svg = $("map");
  const changed = [];
  for (const mn of new Set([...state.coloured.keys(), ...worst.keys()])) {
    const r = worst.get(mn) || 0, c = state.circles.get(mn);
    if (!c || (state.coloured.get(mn) || 0) === r) continue;
    paint(c, r);
    if (r) state.coloured.set(mn, r);
    else state.coloured.delete(mn);
    changed.push([r, c]);
  }
  changed.sort((a, b) => a[0] - b[0]);
  for (const [r, c] of changed) if (r) svg.appendChild(c); // the worst last: on top
}

function renderRegions() {
  const rows = new Map(); // region -> [sites, red, orange, yellow, blue]
  for (const s of state.sites.values()) {
    const key = s.region || "—";
    if (!rows.has(key)) rows.set(key, [0, 0, 0, 0, 0]);
    rows.get(key)[0]++;
  }
  for (const ev of state.active.values()) {
    const s = state.sites.get(ev.mn);
    const key = (s && s.region) || "—";
    if (!rows.has(key)) rows.set(key, [0, 0, 0, 0, 0]);
    rows.get(key)[5 - rank(ev)]++;
  }
  const score = (v) => v[1] * 1e6 + v[2] * 1e4 + v[3] * 1e2 + v[4];
  const body = $("regions").tBodies[0];
  body.replaceChildren();
  for (const [region, v] of [...rows].sort((a, b) => score(b[1]) - score(a[1]))) {
    const tr = el("tr");
    tr.dataset.region = region;
    tr.appendChild(el("td", region));
    for (let i = 1; i <= 4; i++) tr.appendChild(el("td", v[i] || "", v[i] ? "n " + colour(5 - i) : ""));
    tr.appendChild(el("td", v[0]));
    body.appendChild(tr);
  }
}

function details(ev) {
  const box = el("div", null, "details");
  const ev2 = Object.assign({}, ev.evidence || {});
  const loop = ev2.loop;
  delete ev2.loop;
  box.appendChild(el("h4", "证据 evidence"));
  box.appendChild(el("pre", JSON.stringify(ev2, null, 2)));
  if (loop && Array.isArray(loop.trail)) {
    box.appendChild(el("h4", "处置轨迹 trail" + (loop.policy ? " (" + loop.policy + ")" : "")));
    const ol = el("ol", null, "trail");
    for (const t of loop.trail)
      ol.appendChild(el("li", shortTime(t.at) + "  " + t.type + " → " + t.audience +
        (t.step ? " (step " + t.step + ")" : "")));
    box.appendChild(ol);
    if (loop.next_step)
      box.appendChild(el("p", "下一步 next: " + loop.next_step.to + " at " + shortTime(loop.next_step.at)));
  }
  return box;
}

function renderAlerts() {
  const body = $("alerts").tBodies[0];
  const open = new Set([...body.querySelectorAll("tr.open")].map((tr) => tr.dataset.fingerprint));
  body.replaceChildren();
  const list = [...state.active.values()].sort(
    (a, b) => rank(b) - rank(a) || String(b.event_time).localeCompare(String(a.event_time)));
  for (const ev of list.slice(0, ROWS_MAX)) {
    const tr = el("tr", null, "alert");
    tr.dataset.fingerprint = ev.fingerprint;
    tr.dataset.event = ev.event;
    tr.appendChild(el("td", "", "chip " + colour(rank(ev))));
    tr.appendChild(el("td", shortTime(ev.event_time)));
    tr.appendChild(el("td", siteName(ev.mn, ev.enterprise_id)));
    tr.appendChild(el("td", ev.mn));
    tr.appendChild(el("td", ev.rule));
    tr.appendChild(el("td", ev.event));
    tr.appendChild(el("td", ev.message, "message"));
    const cell = el("td");
    if (state.ack && ev.event !== "acknowledged") {
      const b = el("button", "确认 ack", "ack");
      b.type = "button";
      b.addEventListener("click", (e) => {
        e.stopPropagation();
        acknowledge(ev, b);
      });
      cell.appendChild(b);
    }
    tr.appendChild(cell);
    body.appendChild(tr);
    let more = null; // its evidence and trail, made when first opened
    const toggle = (show) => {
      if (show && !more) {
        more = el("tr", null, "more");
        const td = el("td");
        td.colSpan = 8;
        td.appendChild(details(ev));
        more.appendChild(td);
        tr.after(more);
      }
      if (more) more.hidden = !show;
      tr.classList.toggle("open", show);
    };
    if (open.has(ev.fingerprint)) toggle(true);
    tr.addEventListener("click", () => toggle(!tr.classList.contains("open")));
  }
  if (list.length > ROWS_MAX) {
    const tr = el("tr", null, "rest");
    const td = el("td", "还有 " + (list.length - ROWS_MAX) + " 条 · " +
      (list.length - ROWS_MAX) + " more, less severe or older");
    td.colSpan = 8;
    tr.appendChild(td);
    body.appendChild(tr);
  }
  $("nactive").textContent = String(list.length);
}

function renderFeed() {
  const ol = $("feed");
  ol.replaceChildren();
  for (const ev of state.feed) {
    const li = el("li");
    li.dataset.id = ev.id || "";
    li.appendChild(el("span", "", "chip " + colour(rank(ev))));
    li.appendChild(el("time", shortTime(ev.detected_at || ev.event_time)));
    li.appendChild(el("b", " " + siteName(ev.mn, ev.enterprise_id) + " "));
    li.appendChild(el("span", ev.rule + " · " + ev.event + " · "));
    li.appendChild(el("span", ev.message, "message"));
    ol.appendChild(li);
  }
}

function render() {
  const worst = worstBySite();
  renderMap(worst);
  renderRegions();
  renderAlerts();
  renderFeed();
  const n = [0, 0, 0, 0, 0];
  for (const ev of state.active.values()) n[rank(ev)]++;
  $("counts").textContent = "红 " + n[4] + " · 橙 " + n[3] + " · 黄 " + n[2] + " · 蓝 " + n[1] +
    " · 站点 sites " + state.sites.size;
}

document.addEventListener("DOMContentLoaded", load);
