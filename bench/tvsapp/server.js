// tvsapp, rebuilt as the benchmark's baseline from what the course's app
// is documented to do (../../../shared/DESIGN.md, "What tvsapp does"): no
// code of the course's is in here. Per GET /, it increments one shared
// document with a scripted _update (retry_on_conflict=8, upsert on first
// use), runs fortune as a process, and renders HOST, PORT and COUNT.
"use strict";
const express = require("express");
const http = require("http");
const os = require("os");
const path = require("path");
const { execFile } = require("child_process");

const port = process.env.NODE_PORT;
if (!port) {
  console.error("tvsapp: NODE_PORT is required");
  process.exit(2);
}
const elastic = new URL(process.env.ELASTIC_URL || "http://localhost:9200");

// The course's update, as increment.json spells it (tests/contract sends
// the same request to storage): a scripted increment with an upsert.
const update = require("./increment.json");
const updateBody = JSON.stringify(update.body);
const updatePath = `/${update.index}/_update/${update.id}?${update.query}`;

// increment sends the course's update and resolves to the stored counter,
// or rejects (version conflict after 8 retries, storage down, ...).
function increment() {
  const body = updateBody;
  return new Promise((resolve, reject) => {
    const req = http.request({
      hostname: elastic.hostname, port: elastic.port || 9200, method: update.method,
      path: updatePath,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
      timeout: 5000,
    }, (res) => {
      let data = "";
      res.on("data", (c) => { data += c; });
      res.on("end", () => {
        try {
          const r = JSON.parse(data);
          if (res.statusCode >= 300) return reject(new Error(res.statusCode + " " + data.slice(0, 200)));
          resolve(r.get._source.counter);
        } catch (e) { reject(e); }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

// fortune runs as a process for every page, as in the course.
function fortune() {
  return new Promise((resolve) => {
    execFile("/usr/games/fortune", ["-s"], { timeout: 5000 }, (err, out) => resolve(err ? "" : out));
  });
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

const app = express();
app.use("/files", express.static(path.join(__dirname, "files")));
app.get("/", async (req, res) => {
  const [count, quote] = await Promise.all([increment().catch(() => null), fortune()]);
  const shown = count === null ? "----" : String(count).padStart(4, "0");
  res.type("html").send(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>tvsapp</title><link rel="stylesheet" href="/files/tvs.css"></head>
<body>
<p>HOST: <b>${escape(os.hostname())}</b> PORT: <b>${escape(port)}</b></p>
<p>COUNT: <b>${shown}</b>${count === null ? " <em>(database unavailable)</em>" : ""}</p>
<pre>${escape(quote)}</pre>
</body></html>`);
});
app.listen(Number(port), () => console.log(`tvsapp listening on ${port}`));
