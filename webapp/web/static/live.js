// tvs live: polls /api/stats (through entry, so any replica may answer) once
// a second and shows, per replica, its stored visits and its requests per
// second over the last seconds. No library, nothing from elsewhere.
"use strict";
(function () {
  const windowMs = 5000; // requests/s over this window
  const goneMs = 15000;  // no new visit for this long: listed as gone
  const started = Date.now();
  const history = new Map(); // host -> [{t, visits}], oldest first
  const changed = new Map(); // host -> when its visits last grew
  const $ = (id) => document.getElementById(id);

  function rate(host, now) {
    const h = history.get(host) || [];
    if (h.length < 2) return 0;
    let from = h[0];
    for (const p of h) { if (now - p.t <= windowMs) { from = p; break; } }
    const to = h[h.length - 1];
    const dt = (to.t - from.t) / 1000;
    return dt > 0 ? (to.visits - from.visits) / dt : 0;
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function render(stats, from) {
    const now = Date.now();
    $("data-from").textContent = from || "?";
    $("total").textContent = String(stats.count).padStart(4, "0");
    $("status").textContent = "";
    const rows = [], gone = [];
    for (const h of stats.hosts) {
      const list = history.get(h.host) || [];
      const last = list[list.length - 1];
      if (!last || h.visits > last.visits) changed.set(h.host, now);
      list.push({ t: now, visits: h.visits });
      while (list.length > 2 && now - list[1].t > windowMs) list.shift();
      history.set(h.host, list);
      const active = now - (changed.get(h.host) || started) < goneMs || now - started < goneMs;
      (active ? rows : gone).push({ host: h.host, visits: h.visits, rps: rate(h.host, now) });
    }
    rows.sort((a, b) => a.host.localeCompare(b.host));
    const max = Math.max(1, ...rows.map((r) => r.rps));
    const body = $("replicas").tBodies[0];
    body.replaceChildren();
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.className = "replica" + (r.host === $("served-by").textContent ? " self" : "");
      tr.dataset.host = r.host;
      cell(tr, r.host);
      cell(tr, String(r.visits), "visits");
      cell(tr, r.rps.toFixed(1), "rps");
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = (100 * r.rps / max).toFixed(0) + "%";
      cell(tr, "").appendChild(bar);
      body.appendChild(tr);
    }
    $("gone").textContent = gone.length ? "gone or idle: " + gone.map((g) => g.host + " (" + g.visits + ")").join(", ") : "";
  }

  async function poll() {
    try {
      const res = await fetch("/api/stats", { cache: "no-store" });
      if (!res.ok) throw new Error(res.status + " " + res.statusText);
      render(await res.json(), res.headers.get("X-Tvs-Host"));
    } catch (e) {
      $("status").textContent = "(database unavailable: " + e.message + ")";
    }
  }
  poll();
  setInterval(poll, 1000);
})();
