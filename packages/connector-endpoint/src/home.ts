import os from 'node:os';
import path from 'node:path';

/**
 * The folder holding one sub-folder per configured endpoint: `$PROXY_HOME`, else
 * `$XDG_DATA_HOME/proxy`, else `~/.local/share/proxy` (ProxyStore's rule with our name).
 */
export function proxyHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PROXY_HOME) return path.resolve(env.PROXY_HOME);
  if (env.XDG_DATA_HOME) return path.resolve(env.XDG_DATA_HOME, 'proxy');
  return path.join(os.homedir(), '.local', 'share', 'proxy');
}

/** The files of one endpoint inside the home folder. */
export function endpointPaths(name: string, home = proxyHome()) {
  const dir = path.join(home, name);
  return {
    dir,
    config: path.join(dir, 'config.toml'),
    pid: path.join(dir, 'endpoint.pid'),
    log: path.join(dir, 'endpoint.log'),
    data: path.join(dir, 'data'),
  };
}
