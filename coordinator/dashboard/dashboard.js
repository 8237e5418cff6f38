// The graft dashboard: the fleet from GET /v1/nodes, kept live by its watch (server-sent events), and one node's
// details, timeline and journal excerpts on demand. Plain DOM, no framework and no build step. Every text from
// the coordinator goes into the page as textContent, never as HTML: reasons and journal lines come from nodes.
"use strict";

const phases = ["flashed", "booted", "enrolled", "pending_approval", "configuring", "rebooting", "configured",
                "joining", "joined", "ready", "failed", "deleted", "denied"];
const nodes = new Map();
let sortKey = "name", sortDescending = false, source = null, shown = null;

const $ = (id) => document.getElementById(id);
function element(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

function ago(when) {
  if (!when) return "-";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(when)) / 1000));
  if (seconds < 120) return seconds + "s ago";
  if (seconds < 7200) return Math.round(seconds / 60) + "m ago";
  if (seconds < 172800) return Math.round(seconds / 3600) + "h ago";
  return Math.round(seconds / 86400) + "d ago";
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method, credentials: "same-origin", cache: "no-store",
    headers: body ? {"Content-Type": "application/json"} : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((answer.error && answer.error.message) || ("HTTP " + response.status));
    error.status = response.status;
    throw error;
  }
  return answer;
}

function showSignIn(message) {
  $("fleet").hidden = true;
  $("node").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("live").textContent = "signed out";
  $("live").className = "live off";
}

// The link `graft-coordinator dashboard` prints carries a one-time token in its fragment.
async function signInFromLink() {
  const match = /^#login=([0-9a-f]{64})$/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, "", location.pathname);  // out of the address bar and the history
  try {
    await call("POST", "/v1/dashboard/login", {token: match[1]});
  } catch (e) {
    showSignIn("That sign-in link did not work: " + e.message);
    throw e;
  }
}

function matchesFilter(n) {
  const phase = $("phase").value, text = $("filter").value.trim().toLowerCase();
  if (phase && n.phase !== phase) return false;
  if (!text) return true;
  return [n.name, n.address, n.model, n.reason, n.phase].some((v) => (v || "").toLowerCase().includes(text));
}

function renderCounts() {
  const counts = new Map();
  for (const n of nodes.values()) counts.set(n.phase, (counts.get(n.phase) || 0) + 1);
  const box = $("counts");
  box.replaceChildren();
  const all = element("div", null, "count all");
  all.append(element("b", nodes.size), "nodes");
  all.dataset.phase = "";
  box.append(all);
  for (const phase of phases) {
    if (!counts.get(phase)) continue;
    const card = element("div", null, "count " + phase);
    card.append(element("b", counts.get(phase)), phase.replace("_", " "));
    card.dataset.phase = phase;
    box.append(card);
  }
}

function renderTable(changed) {
  const rows = [...nodes.values()].filter(matchesFilter);
  rows.sort((a, b) => {
    const x = String(a[sortKey] || ""), y = String(b[sortKey] || "");
    const order = x.localeCompare(y, undefined, {numeric: true});
    return sortDescending ? -order : order;
  });
  const body = $("nodes").tBodies[0];
  body.replaceChildren();
  for (const n of rows) {
    const tr = element("tr");
    tr.dataset.name = n.name;
    if (changed && changed.has(n.name)) tr.className = "changed";
    const cluster = !n.readiness_tracked ? "-" : (n.readiness || "?");
    tr.append(element("td", n.name), element("td", n.phase, "phase phase-" + n.phase), element("td", cluster),
              element("td", n.address || "-"), element("td", n.model || "-"), element("td", ago(n.last_seen)),
              element("td", n.phase === "ready" ? "" : (n.conflict ? "CONFLICT: " + n.conflict + " " : "") + n.reason,
                      "reason"));
    body.append(tr);
  }
  for (const th of $("nodes").tHead.rows[0].cells) {
    th.classList.toggle("sorted", th.dataset.key === sortKey);
    th.classList.toggle("desc", th.dataset.key === sortKey && sortDescending);
  }
  $("empty").hidden = nodes.size !== 0;
}

function render(changed) {
  renderCounts();
  renderTable(changed);
  document.body.dataset.nodes = String(nodes.size);
}

async function loadFleet() {
  const nodesPage = await call("GET", "/v1/nodes?limit=10000");
  nodes.clear();
  for (const n of nodesPage.nodes) nodes.set(n.name, n);
  if (nodesPage.cluster) {
    const c = nodesPage.cluster;
    $("cluster").textContent = "cluster: " + c.state + (c.version ? ", Kubernetes " + c.version : "") +
      (c.last_error ? "; last error at " + c.last_error_at + ": " + c.last_error : "");
  }
  $("signin").hidden = true;
  $("fleet").hidden = shown !== null;
  render();
  watch(nodesPage.metadata.resourceVersion);
}

// Every change after the listing, as it happens; a broken stream lists afresh after a pause.
function watch(version) {
  if (source) source.close();
  source = new EventSource("/v1/nodes?watch=true&resourceVersion=" + encodeURIComponent(version));
  const live = $("live");
  source.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  const apply = (kind) => (event) => {
    const n = JSON.parse(event.data);
    if (kind === "DELETED") nodes.delete(n.name);
    else nodes.set(n.name, n);
    render(new Set([n.name]));
    document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
    if (shown === n.name) showNode(n.name);
  };
  source.addEventListener("ADDED", apply("ADDED"));
  source.addEventListener("MODIFIED", apply("MODIFIED"));
  source.addEventListener("DELETED", apply("DELETED"));
  source.addEventListener("ERROR", () => { source.close(); setTimeout(start, 1000); });
  source.onerror = () => {
    live.textContent = "reconnecting";
    live.className = "live off";
    source.close();
    setTimeout(start, 3000);
  };
}

async function showNode(name) {
  shown = name;
  let d;
  try {
    d = await call("GET", "/v1/nodes/" + encodeURIComponent(name) + "/details");
  } catch (e) {
    if (e.status === 401) return showSignIn("Your session ended; sign in again.");
    $("node-reason").textContent = e.message;
    return;
  }
  if (shown !== name) return;
  $("fleet").hidden = true;
  $("node").hidden = false;
  const s = d.status;
  $("node-name").textContent = s.name;
  const phase = $("node-phase");
  phase.replaceChildren(element("span", s.phase, "phase-" + s.phase),
    " \u00b7 cluster: " + (!s.readiness_tracked ? "not tracked" : (s.readiness || "nothing yet")) +
    " \u00b7 " + (s.address || "no address") + " \u00b7 last seen " + ago(s.last_seen));
  $("node-reason").textContent = s.reason;

  const timeline = $("timeline");
  timeline.replaceChildren();
  for (const h of d.history) {
    const li = element("li", null, "phase-" + h.phase);
    li.append(element("time", h.at), element("b", h.phase), h.reason ? " \u2014 " + h.reason : "");
    timeline.append(li);
  }
  const steps = $("steps").tBodies[0];
  steps.replaceChildren();
  for (const step of d.steps) {
    const tr = element("tr");
    tr.append(element("td", step.step), element("td", step.outcome, "outcome-" + step.outcome), element("td", step.detail));
    steps.append(tr);
  }
  if (!d.steps.length) {
    const tr = element("tr");
    const td = element("td", "no step outcomes reported yet");
    td.colSpan = 3;
    tr.append(td);
    steps.append(tr);
  }

  const facts = $("facts");
  facts.replaceChildren();
  const fact = (label, value) => { if (value) facts.append(element("dt", label), element("dd", value)); };
  fact("model", d.facts.model);
  fact("architecture", d.facts.arch);
  fact("serial", d.facts.serial);
  fact("machine-id", d.facts.machine_id);
  fact("OS", d.facts.os);
  fact("kernel", d.facts.kernel);
  fact("kubelet", d.facts.kubelet_version);
  if (d.join && d.join.issued_at) {
    fact("join command", d.join.command);
    fact("join credential", d.join.revoked ? "revoked (the node is Ready)" :
         (d.join.credential ? d.join.credential + ", expires " + d.join.expires_at : "the static backend's shared token"));
  }
  await showJournal(name);
}

async function showJournal(name) {
  const box = $("journal");
  const answer = await call("GET", "/v1/nodes/" + encodeURIComponent(name) + "/journal");
  if (shown !== name) return;
  box.replaceChildren();
  if (!answer.excerpts.length)
    box.append(element("p", "No journal excerpts yet: a node sends them after a failed step or join, or when asked."));
  for (const x of answer.excerpts.slice().reverse()) {
    box.append(element("h4", x.unit + ", captured " + x.captured_at + " (" + x.cause + ")" +
                              (x.truncated ? ", earlier lines left out" : "")));
    box.append(element("pre", x.lines.join("\n"), "journal-lines"));
  }
}

async function askJournal() {
  const name = shown, state = $("journal-state");
  try {
    const asked = await call("POST", "/v1/nodes/" + encodeURIComponent(name) + "/journal-requests", {});
    state.textContent = "asked; the node answers with its next heartbeat (within 30 s)";
    for (let i = 0; i < 45 && shown === name; ++i) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const progress = await call("GET", "/v1/nodes/" + encodeURIComponent(name) + "/journal-requests/" + asked.id);
      if (progress.state === "answered") {
        state.textContent = "";
        return showJournal(name);
      }
    }
    state.textContent = "no answer yet: is the node's agent running? (last seen shows when it checked in)";
  } catch (e) {
    state.textContent = e.message;
  }
}

async function start() {
  try {
    await loadFleet();
  } catch (e) {
    if (e.status === 401 || e.status === 403) showSignIn();
    else {
      $("live").textContent = "unreachable";
      setTimeout(start, 5000);
    }
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("coordinator").textContent = location.host;
  const select = $("phase");
  for (const p of phases) select.append(new Option(p.replace("_", " "), p));
  select.addEventListener("change", () => renderTable());
  $("filter").addEventListener("input", () => renderTable());
  $("counts").addEventListener("click", (e) => {
    const card = e.target.closest(".count");
    if (card) { select.value = card.dataset.phase; renderTable(); }
  });
  $("nodes").tHead.addEventListener("click", (e) => {
    const key = e.target.dataset.key;
    if (!key) return;
    sortDescending = key === sortKey ? !sortDescending : false;
    sortKey = key;
    renderTable();
  });
  $("nodes").tBodies[0].addEventListener("click", (e) => {
    const row = e.target.closest("tr");
    if (row && row.dataset.name) showNode(row.dataset.name);
  });
  $("close").addEventListener("click", () => { shown = null; $("node").hidden = true; $("fleet").hidden = false; });
  $("ask-journal").addEventListener("click", askJournal);
  setInterval(() => renderTable(), 15000);  // "last seen" ages
  try {
    await signInFromLink();
  } catch (e) {
    return;
  }
  start();
});
