// The processes a console test needs, started for real on loopback: the
// server binary (the "listening" line on its stdout says its ports), a
// redis-server when the test runs with Redis, and Debian's Chromium through
// playwright-core. Each is stopped by the test that started it; if the test
// process exits first (a failed assertion, an exception), what it started is
// killed on the way out.
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {createRequire} from 'node:module';

const require = createRequire(import.meta.url);

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
function started(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through ctest (tests/CMakeLists.txt sets it)`);
  return value;
}

export function freshDirectory(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const {port} = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function exited(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? 128);
    else child.once('exit', (code, signal) => resolve(code ?? 128 + (os.constants.signals[signal] || 0)));
  });
}

// posthog-plugin-server serve with `config`, in a folder of its own.
export async function startServer(config) {
  const dir = freshDirectory('console-server-');
  const configFile = path.join(dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const errors = fs.openSync(path.join(dir, 'stderr.log'), 'a');
  const child = started(spawn(required('POSTHOG_SERVER_BINARY'), ['serve', '--config', configFile],
    {cwd: dir, stdio: ['ignore', 'pipe', errors]}));
  fs.closeSync(errors);
  const stderr = () => fs.readFileSync(path.join(dir, 'stderr.log'), 'utf8');
  const listening = await new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      for (const line of buffered.split('\n')) {
        try {
          const parsed = JSON.parse(line);
          if (parsed.type === 'listening') resolve(parsed);
        } catch {
          // not a whole line yet
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`the server exited at start-up (${code}): ${stderr()}`)));
  });
  return {
    dir,
    url: listening.url,
    admin: listening.admin_url,
    stderr,
    sinkEvents: () => fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)),
    async stop() {
      child.kill('SIGTERM');
      const code = await exited(child);
      fs.rmSync(dir, {recursive: true, force: true});
      return code;
    },
  };
}

async function answersPing(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('error', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(String(data).startsWith('+PONG'));
    });
  });
}

export async function startRedis() {
  const port = await freePort();
  const dir = freshDirectory('console-redis-');
  const child = started(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], {stdio: 'ignore'}));
  for (let i = 0; i < 250 && !(await answersPing(port)); ++i) {
    if (child.exitCode !== null) throw new Error('redis-server exited at start-up (bash scripts/setup.sh installs it)');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
      fs.rmSync(dir, {recursive: true, force: true});
    },
  };
}

// Debian's Chromium, headless, in a profile of its own. The flags keep a
// machine without a network quiet: no QUIC, no background fetches, no updates.
export async function startBrowser() {
  const {chromium} = require('playwright-core');
  const profile = freshDirectory('console-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: {width: 1280, height: 860},
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    async stop() {
      await context.close();
      fs.rmSync(profile, {recursive: true, force: true});
    },
  };
}
