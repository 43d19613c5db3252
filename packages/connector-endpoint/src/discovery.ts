import { ConnectorError, isUuid } from '@proxy/core';
import { type Dispatcher, request } from 'undici';
import { listConfigs, readConfig } from './endpoint-config.js';
import { proxyHome } from './home.js';
import { clientAddress } from './process-control.js';

/** An entry of `endpoints` turned into somewhere to knock. */
export interface Candidate {
  address: string;
  /** Set when the entry named a uuid or a configured endpoint: the server must report it. */
  expectedUuid?: string;
  /** The token from the endpoint's config, used when the connector was given none. */
  token?: string;
}

/** The endpoint a connector talks to. */
export interface HomeEndpoint {
  address: string;
  uuid: string;
  maxObjectSize: number;
  token?: string;
}

/** Addresses pass through; names and uuids are looked up in the endpoint config folder. */
export function candidatesFor(
  entries: readonly string[],
  home = proxyHome(),
): { candidates: Candidate[]; problems: string[] } {
  const candidates: Candidate[] = [];
  const problems: string[] = [];
  let configs: ReturnType<typeof listConfigs> | undefined;
  for (const entry of entries) {
    if (/^https?:\/\//i.test(entry)) {
      candidates.push({ address: entry.replace(/\/+$/, '') });
      continue;
    }
    if (isUuid(entry)) {
      configs ??= listConfigs(home);
      const found = configs.find(
        (c) => c.config?.uuid.toLowerCase() === entry.toLowerCase(),
      )?.config;
      if (found) candidates.push(fromConfig(found));
      else problems.push(`${entry}: no endpoint with this uuid is configured in ${home}`);
      continue;
    }
    try {
      candidates.push(fromConfig(readConfig(entry, home)));
    } catch (error) {
      problems.push(`${entry}: ${(error as Error).message}`);
    }
  }
  return { candidates, problems };
}

function fromConfig(config: ReturnType<typeof readConfig>): Candidate {
  return {
    address: clientAddress(config.host, config.port),
    expectedUuid: config.uuid,
    ...(config.token !== undefined && { token: config.token }),
  };
}

/**
 * The first candidate that answers `GET /endpoint` with the expected uuid, in list order
 * (ProxyStore's rule). Every failure is kept for the error message.
 */
export async function findHome(
  entries: readonly string[],
  options: { token?: string; timeoutMs: number; home?: string; dispatcher: Dispatcher },
): Promise<HomeEndpoint> {
  const { candidates, problems } = candidatesFor(entries, options.home);
  for (const candidate of candidates) {
    const token = options.token ?? candidate.token;
    try {
      const res = await request(`${candidate.address}/endpoint`, {
        dispatcher: options.dispatcher,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) {
        problems.push(`${candidate.address}: HTTP ${res.statusCode} ${text}`);
        continue;
      }
      const info = JSON.parse(text) as { uuid?: unknown; maxObjectSize?: unknown };
      if (!isUuid(info.uuid)) {
        problems.push(
          `${candidate.address}: not an endpoint (GET /endpoint gave ${text.slice(0, 100)})`,
        );
        continue;
      }
      if (
        candidate.expectedUuid &&
        info.uuid.toLowerCase() !== candidate.expectedUuid.toLowerCase()
      ) {
        problems.push(
          `${candidate.address}: answers as endpoint ${info.uuid}, expected ${candidate.expectedUuid}`,
        );
        continue;
      }
      return {
        address: candidate.address,
        uuid: info.uuid,
        maxObjectSize:
          typeof info.maxObjectSize === 'number' ? info.maxObjectSize : Number.POSITIVE_INFINITY,
        ...(token !== undefined && { token }),
      };
    } catch (error) {
      const e = error as Error & { code?: string };
      problems.push(`${candidate.address}: ${e.code ? `${e.code} ` : ''}${e.message}`);
    }
  }
  throw new ConnectorError(
    `EndpointConnector: no reachable endpoint among ${JSON.stringify(entries)}:\n  ${problems.join('\n  ')}\n` +
      'Start one with `proxy-endpoint start NAME`, or check the addresses and the token.',
  );
}
