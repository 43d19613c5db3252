import { type Connector, type DeferrableConnector, isDeferrable } from './connector.js';
import { NonDeferrableConnectorError } from './errors.js';

/** The store's connector as a `DeferrableConnector`, or `NonDeferrableConnectorError`. */
export function requireDeferrable(
  store: { name: string; connector: Connector },
  operation: string,
): DeferrableConnector {
  if (!isDeferrable(store.connector)) {
    throw new NonDeferrableConnectorError(
      `Store "${store.name}": ${operation} needs a connector with newKey() and set(); ${store.connector.constructor.name} has neither. Use a deferrable connector (Local, File, Redis, Endpoint, S3).`,
    );
  }
  return store.connector;
}
