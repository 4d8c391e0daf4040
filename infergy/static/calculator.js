// The calculator: the form <-> the address bar's query <-> /api/estimate. The server checks every value (the
// command line's own parser), so a bad one comes back as its one-line message, shown in the page.
"use strict";

const FIELDS = ["model", "total_params_b", "active_params_b", "gpu", "gpus", "precision", "regime", "input_tokens",
  "output_tokens", "agent_steps", "boundary", "region", "per", "seed"];
const DEFAULT_MODEL = "Llama 3.1 70B";
const SVG = "http://www.w3.org/2000/svg";
let OPTIONS = null;

const $ = (id) => document.getElementById(id);

function fmt(x) {
  if (x === null || x === undefined || !isFinite(x)) return "n/a";
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(2);
  return Number(x.toPrecision(3)).toLocaleString("en", {maximumFractionDigits: 6});
}

function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text === undefined ? value : text;
  select.appendChild(o);
  return o;
}

function fillForm() {
  const model = $("model");
  for (const m of OPTIONS.models) option(model, m);
  option(model, "", "an unseen model: give its size");
  for (const g of OPTIONS.gpu_names) option($("gpu"), g);
  for (const p of OPTIONS.precisions) option($("precision"), p);
  for (const r of OPTIONS.regimes) option($("regime"), r);
  for (const [b, text] of Object.entries(OPTIONS.boundaries)) option($("boundary"), b, `${b}: ${text}`);
  const groups = {};
  for (const z of OPTIONS.zones) {
    if (!groups[z.continent]) {
      groups[z.continent] = document.createElement("optgroup");
      groups[z.continent].label = z.continent;
    }
    option(groups[z.continent], z.zone, `${z.zone}: ${z.name}`);
  }
  for (const name of Object.keys(groups).sort()) $("region").appendChild(groups[name]);
  setForm(new URLSearchParams());
  model.addEventListener("change", showSize);
  $("boundary").addEventListener("change", showBoundary);
}

function flagDefault(name) {
  const f = OPTIONS.flags[name];
  return f && f.default !== null && f.default !== false ? String(f.default) : "";
}

// The form's values as the API's (and the address bar's) query: empty fields and defaults left out.
function formParams() {
  const params = new URLSearchParams();
  for (const name of FIELDS) {
    const el = $(name);
    if (el.closest("[hidden]")) continue;
    const value = el.value.trim();
    if (value === "" || (name !== "model" && value === flagDefault(name))) continue;
    params.set(name, value);
  }
  if (!params.has("model") && !params.has("total_params_b")) params.set("model", "");
  return params;
}

function setForm(params) {
  for (const name of FIELDS) {
    const el = $(name);
    let value = params.has(name) ? params.get(name) : (name === "model" ? DEFAULT_MODEL : flagDefault(name));
    if (name === "model" && !params.has("model") && params.has("total_params_b")) value = "";
    if (el.tagName === "SELECT" && ![...el.options].some((o) => o.value === value)) option(el, value);
    el.value = value;
  }
  showSize();
  showBoundary();
}

function showSize() {
  $("size-fields").hidden = $("model").value !== "";
}

function showBoundary() {
  $("boundary-text").textContent = OPTIONS.boundaries[$("boundary").value] || "";
}

function setOutput(id, value) {
  const el = $(id);
  el.textContent = fmt(value);
  el.dataset.value = String(value);
}

function showError(message) {
  $("answer").hidden = true;
  $("references").hidden = true;
  $("error").hidden = false;
  $("error").textContent = `Could not answer: ${message}`;
  $("status").textContent = "";
}

async function run(params) {
  const query = params.toString();
  $("result").setAttribute("aria-busy", "true");
  $("status").textContent = "computing...";
  $("error").hidden = true;
  let response, body;
  try {
    response = await fetch(`/api/estimate?${query}`);
    const text = await response.text();
    try { body = JSON.parse(text); } catch (e) { body = {detail: text.trim() || response.statusText}; }
  } catch (e) {
    showError(`the server did not answer (${e.message})`);
    $("result").setAttribute("aria-busy", "false");
    return;
  }
  $("result").setAttribute("aria-busy", "false");
  if (!response.ok) {
    showError(body.detail || response.statusText);
    return;
  }
  render(body, query);
}

function paperFigure(inputs) {
  const regime = inputs.regime === "reasoning" ? "reasoning" : "traditional";
  const figs = OPTIONS.paper_mode.figures;
  return figs.find((f) => f.model === inputs.model && f.regime === regime)
    || figs.find((f) => f.model === null && f.regime === regime);
}

function references(est) {
  const refs = [];
  const p = paperFigure(est.inputs);
  if (p) {
    const who = p.model ? `${p.model}, ${p.regime}` : `>200B blend, ${p.regime}`;
    refs.push({label: "paper mode v2" + (est.inputs.agent_steps > 1 ? ", one call" : ""), value: p.median, low: p.p25, high: p.p75, boundary: "facility",
      text: `${OPTIONS.paper_mode.label}; ${who}: ${fmt(p.median)} Wh/query` +
        (p.p25 !== undefined ? ` (50% interval ${fmt(p.p25)} to ${fmt(p.p75)})` : "") + ` [${p.source}]`});
  }
  for (const d of OPTIONS.disclosures) {
    const system = d.system.split(" (")[0];
    const who = system.startsWith("Gemini") ? "Google" : system.startsWith("ChatGPT") ? "OpenAI" : "";
    refs.push({label: `${who ? who + ": " : ""}${system} ${d.statistic}`, value: d.wh_per_query, boundary: d.boundary,
      text: `${d.system}: ${d.statistic} ${fmt(d.wh_per_query)} Wh per prompt, boundary ${d.boundary}`,
      url: d.source_url, source: d.source});
  }
  return refs;
}

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// The answer's quantiles as a box (50%) and whiskers (90%) on a log axis, the references as marks below it.
function plot(est, refs) {
  const s = $("plot");
  while (s.firstChild) s.removeChild(s.firstChild);
  const v = est.value;
  const values = [v.p05, v.p95, ...refs.flatMap((r) => [r.value, r.low, r.high])].filter((x) => x > 0);
  const lo = Math.log10(Math.min(...values)) - 0.15, hi = Math.log10(Math.max(...values)) + 0.15;
  const left = 20, right = 500, axisY = 215;
  const x = (val) => left + (Math.log10(val) - lo) / (hi - lo) * (right - left);
  s.appendChild(svg("line", {x1: left, x2: right, y1: axisY, y2: axisY, class: "axis"}));
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of [1, 2, 5]) {
      const t = m * 10 ** e;
      if (Math.log10(t) < lo || Math.log10(t) > hi) continue;
      s.appendChild(svg("line", {x1: x(t), x2: x(t), y1: axisY, y2: axisY + 5, class: "axis"}));
      s.appendChild(svg("text", {x: x(t), y: axisY + 18, "text-anchor": "middle", class: "tick"}, fmt(t)));
    }
  }
  s.appendChild(svg("text", {x: (left + right) / 2, y: axisY + 38, "text-anchor": "middle", class: "tick"},
    `${est.unit} (log scale)`));
  const y0 = 22, h = 28;
  s.appendChild(svg("line", {x1: x(v.p05), x2: x(v.p95), y1: y0 + h / 2, y2: y0 + h / 2, class: "whisker"}));
  s.appendChild(svg("rect", {x: x(v.p25), y: y0, width: Math.max(x(v.p75) - x(v.p25), 1), height: h, class: "box"}));
  s.appendChild(svg("line", {x1: x(v.median), x2: x(v.median), y1: y0 - 4, y2: y0 + h + 4, class: "median"}));
  s.appendChild(svg("text", {x: right + 10, y: y0 + h / 2 + 4, class: "label"}, "infergy (this query)"));
  refs.forEach((r, i) => {
    const y = y0 + h + 26 + i * 22;
    if (r.low !== undefined) {
      s.appendChild(svg("line", {x1: x(r.low), x2: x(r.high), y1: y, y2: y, class: "ref-range"}));
    }
    s.appendChild(svg("circle", {cx: x(r.value), cy: y, r: 5, class: "ref"}));
    s.appendChild(svg("text", {x: right + 10, y: y + 4, class: "label"}, `${r.label} [${r.boundary}]`));
  });
  const summary = `${est.unit}: median ${fmt(v.median)}, 50% interval ${fmt(v.p25)} to ${fmt(v.p75)}, 90% interval ` +
    `${fmt(v.p05)} to ${fmt(v.p95)}` + refs.map((r) => `; ${r.label}: ${fmt(r.value)}`).join("");
  s.setAttribute("aria-label", summary);
  $("plot-caption").textContent = refs.length
    ? "Box: 50% interval; whiskers: 90%; the bar: the median. Dots: paper mode (its interquartile range as a " +
      "line) and the operators' own figures, each at its own boundary: compare like with like."
    : "Box: 50% interval; whiskers: 90%; the bar: the median.";
}

function render(est, query) {
  const v = est.value, i = est.inputs;
  $("answer").hidden = false;
  $("status").textContent = "";
  const model = i.model || `an unseen ${i.total_params_b}B-parameter model (${i.active_params_b}B active)`;
  $("headline").textContent = `${fmt(v.median)} ${est.unit} (median): ${model} on ${i.n_gpus} x ${i.gpu}`;
  for (const k of ["median", "p25", "p75", "p05", "p95", "mean"]) setOutput(k, v[k]);
  $("boundary-line").textContent = `Boundary: ${est.boundary}, ${i.boundary_description}.`;
  const perQuery = est.unit === "Wh/query";
  const refs = perQuery ? references(est) : [];
  plot(est, refs);
  const list = $("reference-list");
  list.textContent = "";
  for (const r of refs) {
    const li = document.createElement("li");
    li.textContent = r.text + (r.source ? `. Source: ${r.source}` : "");
    if (r.url) {
      const a = document.createElement("a");
      a.href = r.url;
      a.textContent = " (link)";
      li.appendChild(a);
    }
    list.appendChild(li);
  }
  $("references").hidden = refs.length === 0;
  renderImpacts(est.impacts);
  const dl = $("inputs");
  dl.textContent = "";
  const tokens = (fixed, median) => (fixed !== null ? `${fmt(fixed)} (fixed)` : `drawn, median ${fmt(median)}`);
  const rows = [
    ["model", `${model} (${i.model_effect})`],
    ["hardware", `${i.n_gpus} x ${i.gpu} (${i.gpu_effect}), ${i.precision}; ${i.replica}`],
    ["load", `${i.batch_size}; median ${fmt(i.batch_size_median)} concurrent queries`],
    ["input tokens", tokens(i.input_tokens, i.input_tokens_median)],
    ["output tokens", tokens(i.output_tokens, i.output_tokens_median)],
    ["workload", i.workload || "fixed lengths"],
    ["agent steps", `${i.agent_steps}` + (i.agent_steps > 1 ? `, prefix-cache hit rate ${i.cache_hit_rate}` : "")],
    ["PUE", `${i.pue}` + (i.pue_median ? `, median ${fmt(i.pue_median)}` : "")],
    ["samples", `${i.samples.toLocaleString("en")} (${i.posterior_draws} posterior draws x ` +
      `${i.queries_per_draw.toLocaleString("en")} queries), seed ${i.seed}`],
    ["posterior", `${i.posterior_file}, data ${i.data_version}`],
  ];
  for (const [k, text] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = text;
    dl.append(dt, dd);
  }
  const warnings = $("warnings");
  warnings.textContent = "";
  for (const w of i.warnings) {
    const li = document.createElement("li");
    li.textContent = `note: ${w}`;
    warnings.appendChild(li);
  }
  $("share").href = `/?${query}`;
  $("json").href = `/api/estimate?${query}`;
}

function renderImpacts(imp) {
  $("impacts").hidden = !imp;
  if (!imp) return;
  const body = $("impacts-rows");
  body.textContent = "";
  const labels = {energy_wh: "energy", carbon_g: "carbon", carbon_location_g: "carbon, location-based",
    embodied_g: "of which hardware manufacturing (a prior)", water_ml: "water"};
  for (const [key, label] of Object.entries(labels)) {
    if (!(key in imp.unit)) continue;
    const q = imp[key];
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = label;
    const td = document.createElement("td");
    td.id = `impact-${key}`;
    td.dataset.value = String(q.median);
    td.textContent = `${fmt(q.median)} ${imp.unit[key]} (90% interval ${fmt(q.p05)} to ${fmt(q.p95)})`;
    tr.append(th, td);
    body.appendChild(tr);
  }
  const w = imp.where;
  $("impacts-basis").textContent = `Served in ${w.label}, ${w.year} (grid: ${w.grid_intensity}, median ` +
    `${fmt(w.grid_intensity_g_per_kwh_median)} gCO2e/kWh), counted at the ${imp.boundary} boundary. Carbon: ` +
    `${imp.carbon_basis.scope}. Water: ${imp.water_basis.on_site}; ${imp.water_basis.off_site}.`;
}

function fromAddress() {
  const params = new URLSearchParams(window.location.search);
  setForm(params);
  if ([...params.keys()].length) run(params);
}

async function init() {
  try {
    OPTIONS = await (await fetch("/api/options")).json();
  } catch (e) {
    showError(`the server did not answer (${e.message})`);
    return;
  }
  fillForm();
  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    const params = formParams();
    history.pushState(null, "", `/?${params.toString()}`);
    run(params);
  });
  window.addEventListener("popstate", fromAddress);
  fromAddress();
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", init);
