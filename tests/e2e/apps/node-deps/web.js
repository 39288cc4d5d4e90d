// Answers with values computed by its runtime dependencies, so a missing or broken install shows.
const http = require("http");
const ms = require("ms");
const debug = require("debug");

const port = process.env.PORT || 5000;
const log = debug("node-deps");

http
  .createServer((req, res) => {
    log("request %s", req.url);
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`two days are ${ms("2 days")} ms; debug is a ${typeof debug.enable}\n`);
  })
  .listen(port);
