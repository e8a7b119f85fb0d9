// revokd admin page. A client of the admin API (openapi/revokd.yaml) only.
//
// Security: the admin key lives in this closure's memory, never in a cookie
// or in storage, and goes out as `Authorization: Bearer` on fetch() to this
// origin. Everything the API returns is rendered with textContent (never
// as HTML). The page is served with a CSP that forbids inline script, so
// all behaviour is attached here.
"use strict";

(function () {
  let key = null;
  let auditCursor = null; // `next` of the last page read
  let auditShown = 0;
  let pendingAction = null;

  const $ = (id) => document.getElementById(id);

  // --- rendering ------------------------------------------------------------
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  // A table row of text cells (or nodes). Each cell carries its column's
  // header as data-label, which the phone layout shows beside the value.
  function row(table, cells) {
    const headers = Array.from(table.tHead.rows[0].cells, (th) => th.textContent);
    const tr = document.createElement("tr");
    cells.forEach((cell, i) => {
      let td;
      if (cell instanceof Node) {
        td = document.createElement("td");
        td.appendChild(cell);
      } else {
        td = el("td", cell === undefined || cell === null ? "-" : cell);
      }
      td.dataset.label = headers[i] || "";
      tr.appendChild(td);
    });
    table.tBodies[0].appendChild(tr);
  }

  function emptyRow(tbody, columns, text) {
    const td = el("td", text);
    td.colSpan = columns;
    const tr = document.createElement("tr");
    tr.appendChild(td);
    tbody.appendChild(tr);
  }

  function time(seconds) {
    if (typeof seconds !== "number") return "-";
    return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
  }

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = false;
    $("notice").hidden = true;
  }

  function showNotice(text) {
    const box = $("notice");
    box.textContent = text;
    box.hidden = false;
    $("error").hidden = true;
  }

  function clearMessages() {
    $("error").hidden = true;
    $("notice").hidden = true;
  }

  // --- the API ----------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, description) {
      super(status + ": " + code + ": " + description);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (key !== null) headers.Authorization = "Bearer " + key;
    const init = { method, headers, credentials: "omit", cache: "no-store", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok && !(path === "/readyz" && response.status === 503)) {
      const code = data && data.error ? data.error : "unexpected";
      const description = data && data.error_description ? data.error_description : response.statusText;
      throw new ApiError(response.status, code, description);
    }
    return data;
  }

  // --- sign in ------------------------------------------------------------------
  async function signIn(event) {
    event.preventDefault();
    clearMessages();
    const input = $("key");
    const candidate = input.value.trim();
    input.value = "";
    if (candidate === "") return;
    key = candidate;
    try {
      // An admin-only read proves the key before anything is shown.
      const records = await api("GET", "/v1/admin/logout-tokens");
      $("sign-in-panel").hidden = true;
      $("console").hidden = false;
      $("sign-out").hidden = false;
      renderLogouts(records);
      await Promise.all([loadHealth(), loadMirror(), loadAudit(true)]);
    } catch (err) {
      key = null;
      showError(err.status === 401 ? "Sign-in failed: the key was not accepted (" + err.message + ")" : "Sign-in failed: " + err.message);
    }
  }

  function signOut() {
    key = null;
    $("console").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in-panel").hidden = false;
    for (const id of ["health", "mirror", "logouts", "audit"]) $(id).tBodies[0].replaceChildren();
    $("subject-status").hidden = true;
    $("subject-actions").hidden = true;
    $("subject-sessions").hidden = true;
    showNotice("Signed out; the key is forgotten.");
  }

  // --- health -------------------------------------------------------------------
  async function loadHealth() {
    const tbody = $("health").tBodies[0];
    tbody.replaceChildren();
    let ready;
    try {
      ready = await api("GET", "/readyz");
    } catch (err) {
      $("ready-state").textContent = err.status === 404
        ? "/readyz is served on the operations listener (ops_listen), not here."
        : "readyz: " + err.message;
      return;
    }
    const state = $("ready-state");
    state.replaceChildren(el("span", "Instance: "), el("span", ready.status, ready.status));
    const names = Object.keys(ready.checks || {}).sort();
    for (const name of names) {
      const check = ready.checks[name];
      const latency = typeof check.latency_ms === "number" ? check.latency_ms.toFixed(1) : "-";
      const extra = Object.keys(check)
        .filter((k) => !["status", "kind", "latency_ms"].includes(k))
        .map((k) => k + ": " + (typeof check[k] === "object" ? JSON.stringify(check[k]) : check[k]))
        .join("; ");
      row($("health"), [name, el("span", check.status, check.status), check.kind, latency, extra || "-"]);
    }
    if (names.length === 0) emptyRow(tbody, 5, "No dependencies reported.");
  }

  // --- mirror and feed ----------------------------------------------------------
  // The few gauges of /metrics (Prometheus text) that say how current this
  // instance's mirror is; /metrics needs no key.
  const MIRROR_METRICS = [
    ["revokd_mirror_feed_lag_seconds", "Feed lag (s since the change feed last answered; 0 = current)"],
    ["revokd_store_up", "Store answered its last probe (1 = yes)"],
    ["revokd_mirror_entries", "Mirror entries"],
    ["revokd_mirror_bytes", "Mirror bytes (approx.)"],
    ["revokd_mirror_resyncs_total", "Full mirror loads (start-up included)"],
    ["revokd_events_subscribers", "Open /v1/events streams"],
    ["revokd_events_sent_total", "Events sent to streams"],
  ];

  async function loadMirror() {
    const tbody = $("mirror").tBodies[0];
    tbody.replaceChildren();
    let text;
    try {
      const response = await fetch("/metrics", { credentials: "omit", cache: "no-store", redirect: "error" });
      if (response.status === 404) {
        $("mirror-note").textContent = "/metrics is served on the operations listener (ops_listen), not here.";
        return;
      }
      if (!response.ok) throw new Error(response.status + " " + response.statusText);
      text = await response.text();
    } catch (err) {
      $("mirror-note").textContent = "metrics: " + err.message;
      return;
    }
    const samples = [];
    for (const line of text.split("\n")) {
      if (line.startsWith("#")) continue;
      const space = line.lastIndexOf(" ");
      if (space < 0) continue;
      const series = line.slice(0, space);
      const name = series.split("{")[0];
      samples.push({ name, series, value: line.slice(space + 1) });
    }
    for (const [name, label] of MIRROR_METRICS) {
      for (const sample of samples.filter((s) => s.name === name)) {
        const labels = sample.series.slice(name.length);
        row($("mirror"), [label + (labels ? " " + labels : ""), sample.value]);
      }
    }
    if (tbody.rows.length === 0) emptyRow(tbody, 2, "No mirror metrics (checks read the store directly).");
  }

  // --- logout tokens ------------------------------------------------------------
  function renderLogouts(records) {
    const tbody = $("logouts").tBodies[0];
    tbody.replaceChildren();
    for (const r of records || []) {
      const who = [r.sub ? "sub=" + r.sub : null, r.sid ? "sid=" + r.sid : null].filter(Boolean).join(" ");
      row($("logouts"), [time(r.at), r.provider, el("span", r.outcome, r.outcome), r.rule, who || "-", r.description]);
    }
    if (!records || records.length === 0) emptyRow(tbody, 6, "No logout token received since this instance started.");
  }

  async function loadLogouts() {
    renderLogouts(await api("GET", "/v1/admin/logout-tokens"));
  }

  // --- subject ------------------------------------------------------------------
  function subjectInput() {
    return { iss: $("subject-iss").value.trim(), sub: $("subject-sub").value.trim() };
  }

  async function lookUp(event) {
    // From the form: a new look-up clears old messages; after an action,
    // its notice stays.
    if (event) {
      event.preventDefault();
      clearMessages();
    }
    const { iss, sub } = subjectInput();
    try {
      const query = new URLSearchParams({ iss, sub });
      const [status, sessions] = await Promise.all([
        api("GET", "/v1/admin/subjects/status?" + query.toString()),
        api("GET", "/v1/admin/subjects/sessions?" + query.toString() + "&limit=" + SESSIONS_SHOWN),
      ]);
      renderSessions(sessions);
      $("status-subject").textContent = status.iss + " / " + status.sub;
      $("status-disabled").textContent = status.disabled ? "yes" : "no";
      $("status-disabled").className = status.disabled ? "down" : "up";
      $("status-revoked-before").textContent = status.revoked_before ? time(status.revoked_before) : "-";
      $("subject-status").hidden = false;
      $("subject-actions").hidden = false;
      $("action-disable").disabled = status.disabled;
      $("action-enable").disabled = !status.disabled;
    } catch (err) {
      showError("Look-up failed: " + err.message);
    }
  }

  // The subject's session registry: what apps registered for its logins.
  const SESSIONS_SHOWN = 50;

  function renderSessions(list) {
    const table = $("sessions");
    table.tBodies[0].replaceChildren();
    const rows = list.registrations || [];
    for (const r of rows) {
      row(table, [r.jti, r.sid, r.owner, time(r.registered_at), time(r.expires_at)]);
    }
    if (rows.length === 0) emptyRow(table.tBodies[0], 5, "No live registered session.");
    $("sessions-note").textContent = list.truncated
      ? "The " + rows.length + " registered token ids that expire last; more exist (revokd admin sessions --limit 500 lists more)."
      : rows.length + " registered token id" + (rows.length === 1 ? "" : "s") + " (apps register them at login), latest expiry first.";
    $("subject-sessions").hidden = false;
  }

  const ACTIONS = {
    "action-disable": {
      path: "/v1/admin/subjects/disable",
      verb: "Disable",
      explain: "Every token of this subject will be refused until it is enabled again.",
    },
    "action-enable": {
      path: "/v1/admin/subjects/enable",
      verb: "Enable",
      explain: "New logins work again; tokens issued before the disable stay dead.",
    },
    "action-revoke": {
      path: "/v1/admin/subjects/revoke-tokens",
      verb: "Sign out everywhere",
      explain: "Every token this subject holds now will be refused; a new login works.",
    },
  };

  function askToConfirm(event) {
    const action = ACTIONS[event.currentTarget.id];
    const { iss, sub } = subjectInput();
    pendingAction = { action, iss, sub, reason: $("subject-reason").value.trim() };
    $("confirm-text").textContent = action.verb + " " + sub + " at " + iss + "? " + action.explain;
    $("confirm-ok").textContent = action.verb;
    $("confirm").showModal();
  }

  async function confirmed(event) {
    event.preventDefault();
    $("confirm").close();
    const pending = pendingAction;
    pendingAction = null;
    if (!pending) return;
    const body = { iss: pending.iss, sub: pending.sub };
    if (pending.reason) body.reason = pending.reason;
    try {
      const recorded = await api("POST", pending.action.path, body);
      showNotice(pending.action.verb + ": recorded as audit event " + recorded.id + " (" + recorded.kind + ").");
      await Promise.all([lookUp(), loadAudit(true), loadMirror()]);
    } catch (err) {
      showError(pending.action.verb + " failed: " + err.message);
    }
  }

  function cancelled() {
    pendingAction = null;
    $("confirm").close();
  }

  // --- audit log ----------------------------------------------------------------
  function target(e) {
    if (e.jti) return "jti=" + e.jti;
    if (Array.isArray(e.jtis)) return e.jtis.length + " token ids";
    return ["iss", "sub", "sid"].filter((k) => e[k]).map((k) => k + "=" + e[k]).join(" ");
  }

  // The datetime-local value as UTC seconds, or null.
  function utcSeconds(id) {
    const value = $(id).value;
    if (!value) return null;
    const ms = Date.parse(value + "Z");
    return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
  }

  function filters() {
    return {
      kind: $("filter-kind").value,
      actor: $("filter-actor").value.trim(),
      subject: $("filter-subject").value.trim(),
      since: utcSeconds("filter-since"),
      until: utcSeconds("filter-until"),
    };
  }

  function matches(e, f) {
    if (f.kind && e.kind !== f.kind) return false;
    if (f.actor && !String(e.actor).includes(f.actor)) return false;
    if (f.subject && e.sub !== f.subject) return false;
    if (f.until !== null && e.at > f.until) return false;
    if (f.since !== null && e.at < f.since) return false;
    return true;
  }

  const WANTED = 50; // rows per "page" of the filtered view
  const MAX_READS = 20; // pages of 500 read per click, at most

  // The API pages the log newest first; the filters apply to what it
  // returns, reading older pages until enough rows match, the `since`
  // bound is passed, or the log ends.
  async function loadAudit(fresh) {
    const tbody = $("audit").tBodies[0];
    if (fresh) {
      tbody.replaceChildren();
      auditCursor = null;
      auditShown = 0;
    }
    const f = filters();
    let found = 0;
    let reads = 0;
    let ended = false;
    try {
      while (found < WANTED && reads < MAX_READS) {
        const query = new URLSearchParams({ limit: "500" });
        if (auditCursor) query.set("before", auditCursor);
        const page = await api("GET", "/v1/admin/events?" + query.toString());
        reads += 1;
        let older = false;
        for (const e of page.events) {
          if (f.since !== null && e.at < f.since) older = true;
          if (!matches(e, f)) continue;
          row($("audit"), [e.id, time(e.at), e.kind, target(e), e.actor, e.reason]);
          found += 1;
        }
        auditCursor = page.next || null;
        if (!auditCursor || older) {
          ended = true;
          break;
        }
      }
    } catch (err) {
      showError("Audit log: " + err.message);
      return;
    }
    auditShown += found;
    if (auditShown === 0) emptyRow(tbody, 6, "No event matches.");
    $("audit-more").hidden = ended;
  }

  // --- wiring -------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    $("refresh-health").addEventListener("click", () => {
      loadHealth();
      loadMirror();
      loadLogouts().catch((err) => showError("Logout tokens: " + err.message));
    });
    $("subject-form").addEventListener("submit", lookUp);
    for (const id of Object.keys(ACTIONS)) $(id).addEventListener("click", askToConfirm);
    $("confirm-form").addEventListener("submit", confirmed);
    $("confirm-cancel").addEventListener("click", cancelled);
    $("confirm").addEventListener("cancel", () => { pendingAction = null; });
    $("audit-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      clearMessages();
      loadAudit(true);
    });
    $("audit-more").addEventListener("click", () => loadAudit(false));
  });
})();
