import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@proxy/connector-test-suite';
import { parse } from 'smol-toml';
import { parseSize, readConfig } from './endpoint-config.js';
import { proxyHome } from './home.js';
import { isAlive, readPid } from './process-control.js';
import { cli, tempHome } from './test-endpoint.js';

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe('config home and sizes', () => {
  test('PROXY_HOME, else XDG_DATA_HOME/proxy, else ~/.local/share/proxy', () => {
    expect(proxyHome({ PROXY_HOME: '/a', XDG_DATA_HOME: '/b' })).toBe('/a');
    expect(proxyHome({ XDG_DATA_HOME: '/b' })).toBe('/b/proxy');
    expect(proxyHome({})).toBe(path.join(os.homedir(), '.local', 'share', 'proxy'));
  });

  test('sizes with units', () => {
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('100MB')).toBe(100_000_000);
    expect(parseSize('1.5 KiB')).toBe(1536);
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(() => parseSize('lots')).toThrow(/Cannot read size/);
  });
});

describe('proxy-endpoint CLI', () => {
  let home: string;
  beforeEach(() => {
    home = tempHome();
  });
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  test('configure writes config.toml; a second configure or a bad name fails', async () => {
    const dataDir = path.join(home, 'elsewhere');
    const r = await cli(
      home,
      'configure',
      'site-a',
      '--port',
      '12345',
      '--storage',
      'file',
      '--data-dir',
      dataDir,
      '--max-object-size',
      '10MiB',
      '--token',
      'tok',
    );
    expect(r.code).toBe(0);
    const toml = parse(fs.readFileSync(path.join(home, 'site-a', 'config.toml'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(toml).toMatchObject({
      name: 'site-a',
      host: '127.0.0.1',
      port: 12345,
      token: 'tok',
      storage: { kind: 'file', data_dir: dataDir, max_object_size: 10 * 1024 * 1024 },
    });
    expect(readConfig('site-a', home).uuid).toBe(toml.uuid);
    expect((fs.statSync(path.join(home, 'site-a', 'config.toml')).mode & 0o777).toString(8)).toBe(
      '600',
    );
    const again = await cli(home, 'configure', 'site-a', '--port', '12345');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('already exists');
    const bad = await cli(home, 'configure', 'bad/name');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('[A-Za-z0-9_-]+');
    const badStorage = await cli(home, 'configure', 'x', '--storage', 'cloud');
    expect(badStorage.code).not.toBe(0);
    const picked = await cli(home, 'configure', 'auto');
    const port = readConfig('auto', home).port;
    expect(picked.stdout).toContain(`127.0.0.1:${port}`);
    expect(port).toBeGreaterThanOrEqual(10240);
  });

  test('start --detach, list, test put/get/exists/evict, stop leaves no process, remove', async () => {
    const port = await freePort();
    expect(
      (await cli(home, 'configure', 'ep', '--port', String(port), '--storage', 'file')).code,
    ).toBe(0);
    const uuid = readConfig('ep', home).uuid;

    const started = await cli(home, 'start', 'ep', '--detach');
    expect(started.code).toBe(0);
    const lines = started.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`http://127.0.0.1:${port}`);
    const pid = readPid('ep', home)!;
    expect(isAlive(pid)).toBe(true);
    expect(lines[0]).toContain(`pid ${pid}`);
    try {
      const again = await cli(home, 'start', 'ep', '--detach');
      expect(again.code).not.toBe(0);
      expect(again.stderr).toContain('already running');

      const list = await cli(home, 'list');
      expect(list.stdout).toMatch(
        new RegExp(`^ep\\s+RUNNING\\s+${uuid}\\s+http://127\\.0\\.0\\.1:${port}$`, 'm'),
      );

      const put = await cli(home, 'test', 'ep', 'put', 'hello endpoint');
      expect(put.code).toBe(0);
      const key = put.stdout.trim();
      expect(fs.existsSync(path.join(home, 'ep', 'data', key))).toBe(true);
      expect((await cli(home, 'test', 'ep', 'get', key)).stdout.trim()).toBe('hello endpoint');
      expect((await cli(home, 'test', 'ep', 'exists', key)).stdout.trim()).toBe('true');
      expect((await cli(home, 'test', 'ep', 'evict', key)).code).toBe(0);
      expect((await cli(home, 'test', 'ep', 'exists', key)).stdout.trim()).toBe('false');
      const missing = await cli(home, 'test', 'ep', 'get', key);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('no object');

      const removeRunning = await cli(home, 'remove', 'ep');
      expect(removeRunning.code).not.toBe(0);
      expect(removeRunning.stderr).toContain('running');
    } finally {
      const stopped = await cli(home, 'stop', 'ep');
      expect(stopped.stdout).toContain(`pid ${pid}`);
    }
    expect(isAlive(pid)).toBe(false);
    expect(await refused(port)).toBe(true);
    expect(readPid('ep', home)).toBeNull();
    expect((await cli(home, 'list')).stdout).toMatch(/^ep\s+STOPPED/m);
    expect(fs.readFileSync(path.join(home, 'ep', 'endpoint.log'), 'utf8')).toContain('SIGTERM');
    expect((await cli(home, 'stop', 'ep')).stdout).toContain('not running');
    expect((await cli(home, 'remove', 'ep')).code).toBe(0);
    expect(fs.existsSync(path.join(home, 'ep'))).toBe(false);
  });

  test('start of a port already taken fails with the log, and leaves nothing running', async () => {
    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    try {
      await cli(home, 'configure', 'busy', '--port', String(port));
      const r = await cli(home, 'start', 'busy', '--detach');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('EADDRINUSE');
      expect(readPid('busy', home)).toBeNull();
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  test('a stale PID file whose pid now belongs to another process: that process is left alone', async () => {
    // What a server killed with SIGKILL leaves behind once the system has reused its pid.
    const innocent = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      stdio: 'ignore',
    });
    const gone = new Promise((r) => innocent.once('exit', r));
    try {
      const port = await freePort();
      await cli(home, 'configure', 'reused', '--port', String(port));
      fs.writeFileSync(path.join(home, 'reused', 'endpoint.pid'), `${innocent.pid}\n1\n`);
      expect((await cli(home, 'list')).stdout).toMatch(/^reused\s+HANGING/m);
      const stopped = await cli(home, 'stop', 'reused');
      expect(stopped.stdout).toContain('not running');
      expect(isAlive(innocent.pid!)).toBe(true);
      expect(readPid('reused', home)).toBeNull();
      // and it does not block a start either
      const started = await cli(home, 'start', 'reused', '--detach');
      expect(started.code).toBe(0);
      expect((await cli(home, 'list')).stdout).toMatch(/^reused\s+RUNNING/m);
      const pid = readPid('reused', home)!;
      expect((await cli(home, 'stop', 'reused')).stdout).toContain(`pid ${pid}`);
      expect(isAlive(pid)).toBe(false);
      expect(isAlive(innocent.pid!)).toBe(true);
    } finally {
      innocent.kill('SIGKILL');
      await gone;
    }
  });

  test('a stale PID file shows as HANGING; unknown names are errors', async () => {
    await cli(home, 'configure', 'stale', '--port', String(await freePort()));
    fs.writeFileSync(path.join(home, 'stale', 'endpoint.pid'), '999999999\n');
    expect((await cli(home, 'list')).stdout).toMatch(/^stale\s+HANGING/m);
    const unknown = await cli(home, 'start', 'ghost');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('No endpoint named "ghost"');
  });
});
