// Starts what the browser tests need: a real alert-server (temp SQLite, random loopback port),
// the DingTalk mock robot of alert-testkit, a tiny mock Flink JobManager, and headless Chromium.
//
// Binaries: $ALERT_SERVER_BIN and $MOCK_ROBOT_BIN, else target/debug/ of the workspace
// ($CARGO_TARGET_DIR when set). Build them first:
//   cargo build -p alert-server --bin alert-server && cargo build -p alert-testkit --bin mock-robot
// Chromium: $CHROMIUM, else /usr/bin/chromium (Debian's `chromium` package).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const consoleDir = resolve(here, '..');
const repo = resolve(consoleDir, '../../..');
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, 'target');
export const artifacts = join(consoleDir, 'test-artifacts');
mkdirSync(artifacts, { recursive: true });

function bin(envName, name) {
  const path = process.env[envName] ?? join(targetDir, 'debug', name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build it first (cargo build -p alert-server --bin alert-server; cargo build -p alert-testkit --bin mock-robot) or set ${envName}`);
  }
  return path;
}

/** A free loopback port (bound then released). */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function waitFor(what, check, timeoutMs = 20000) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

function child(cmd, args, env) {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { text: '' };
  proc.stdout.on('data', (d) => (out.text += d));
  proc.stderr.on('data', (d) => (out.text += d));
  return { proc, out };
}

function stop(proc) {
  return new Promise((ok) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return ok();
    proc.once('exit', () => ok());
    proc.kill('SIGTERM');
    setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
  });
}

/** The DingTalk mock robot: checks token, signature (and keyword) like DingTalk. */
export async function startRobot({ secret = 'SECconsole-test', token = 'console' } = {}) {
  const port = await freePort();
  const { proc, out } = child(bin('MOCK_ROBOT_BIN', 'mock-robot'), ['--port', String(port), '--secret', secret, '--token', token]);
  await waitFor('the mock robot', () => out.text.includes('listening'));
  return {
    webhook: `http://127.0.0.1:${port}/robot/send?access_token=${token}`,
    secret,
    /** What it printed (one block per message received). */
    output: () => out.text,
    received: () => (out.text.match(/--- received/g) ?? []).length,
    stop: () => stop(proc),
  };
}

/** A real alert-server on a temp database; `token` protects its API; `provision` is the text of
 * a provisioning file applied at start (`serve --provision`). */
export async function startServer({ token, provision } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'flink-alert-console-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    FLINK_ALERT_LOG: 'warn',
    FLINK_ALERT_DELIVERY__BACKOFF_MIN_MS: '50',
    FLINK_ALERT_DELIVERY__BACKOFF_MAX_MS: '200',
    FLINK_ALERT_DELIVERY__POLL_INTERVAL_MS: '100',
    FLINK_ALERT_DELIVERY__SHUTDOWN_GRACE_SECS: '1',
  };
  if (token) env.FLINK_ALERT_TOKEN = token;
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--database-url', `sqlite://${join(dir, 'alerts.db')}`];
  if (provision) {
    writeFileSync(join(dir, 'provision.toml'), provision);
    args.push('--provision', join(dir, 'provision.toml'));
  }
  const { proc, out } = child(bin('ALERT_SERVER_BIN', 'alert-server'), args, env);
  proc.once('exit', (code) => {
    if (code) process.stderr.write(`alert-server exited with ${code}:\n${out.text}\n`);
  });
  await waitFor('alert-server', async () => (await fetch(`${base}/healthz`)).ok);
  return {
    base,
    output: () => out.text,
    /** A JSON API call (with the token). */
    async api(method, path, body) {
      const headers = { 'Content-Type': 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      const res = await fetch(`${base}/api/v1/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      await stop(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A JobManager REST API that lists `jobs` (mutable) in /jobs/overview; `routes` (mutable) maps
 * further paths (`/jobs/<id>/checkpoints`, `/taskmanagers`, ...) to their JSON answers.
 */
export async function startFlink(jobs, routes = {}) {
  const server = createServer((req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/jobs/overview') return send(200, { jobs });
    if (Object.hasOwn(routes, req.url)) return send(200, routes[req.url]);
    if (req.url === '/config') return send(200, { 'refresh-interval': 3000, 'timezone-name': 'UTC', 'flink-version': '1.20.0' });
    if (req.url === '/overview') return send(200, { taskmanagers: 1, 'slots-total': 4, 'slots-available': 2, 'jobs-running': jobs.length, 'flink-version': '1.20.0' });
    return send(404, { errors: ['Not found: ' + req.url] });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Stops answering (idempotent); open keep-alive connections are cut. */
    stop: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** A Flink job overview entry. */
export function flinkJob(jid, name, state = 'RUNNING') {
  const now = Date.now();
  return {
    jid,
    name,
    state,
    'start-time': now - 60000,
    'end-time': -1,
    duration: 60000,
    'last-modification': now - 60000,
    tasks: { total: 2, created: 0, scheduled: 0, deploying: 0, running: 2, finished: 0, canceling: 0, canceled: 0, failed: 0, reconciling: 0, initializing: 0 },
  };
}

/** Headless Chromium from the distribution. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };

/** Saves a full-page screenshot as test-artifacts/<name>.png. */
export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** Fails the test on any page error or console error (CSP violations included). */
export function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // 401s while signed out and the 409/422/502s the tests provoke on purpose are expected.
    if (m.type() === 'error' && !/status of (401|409|422|502)/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/** The longest wait for anything in a page, ms. */
export const T = 15000;

/** Polls `check` (every 200 ms) until it holds; throws after `timeoutMs`. */
export async function waitUntil(check, timeoutMs = T) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('condition not met in time');
}
