// Preloaded (node --require) into the Heroku CLI by tests/integration/test_heroku_cli.py: every name
// lookup and TCP connect for a host other than 127.0.0.1 is refused and written to $LOOPBACK_GUARD_LOG,
// so nothing leaves the machine and the tests can assert the CLI talked to nothing but the local server.
// (The CLI ignores HTTP(S)_PROXY for its own requests, so a dead proxy alone would not stop them.)
// The CLI itself is not changed.
'use strict';
const fs = require('node:fs');
const dns = require('node:dns');
const net = require('node:net');

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

function refused(what) {
  fs.appendFileSync(process.env.LOOPBACK_GUARD_LOG, `${what}\n`);
  return Object.assign(new Error(`loopback guard: ${what} refused`), { code: 'ENOTFOUND' });
}

const lookup = dns.lookup;
dns.lookup = function guardedLookup(host, ...rest) {
  if (LOOPBACK.has(host)) return lookup.call(this, host, ...rest);
  const callback = rest[rest.length - 1];
  const error = refused(`lookup ${host}`);
  process.nextTick(() => callback(error));
  return {};
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  const target = typeof options === 'object' && options !== null ? options : { port: args[0], host: args[1] };
  if (target.path || !target.host || LOOPBACK.has(target.host)) return connect.apply(this, args);
  const error = refused(`connect ${target.host}:${target.port}`);
  process.nextTick(() => this.destroy(error));
  return this;
};
