export type {
  Connector,
  ConnectorClass,
  ConnectorConfig,
  ConnectorKey,
  DeferrableConnector,
  WaitOptions,
} from './connector.js';
export { isDeferrable } from './connector.js';
export { connectorClassFor, connectorFromConfig, registerConnector } from './connector-registry.js';
export { requireDeferrable } from './deferrable.js';
export { type ErrorData, errorFromData, errorToData } from './error-data.js';
export {
  ConnectorError,
  ConnectorNotFoundError,
  FutureTimeoutError,
  formatKey,
  InvalidKeyError,
  MutableBorrowError,
  NonDeferrableConnectorError,
  NonProxiableTypeError,
  ProxyResolveError,
  ProxyResolveMissingKeyError,
  ProxyResolveTimeoutError,
  ProxyStoreError,
  ReferenceInvalidError,
  ReferenceNotOwnedError,
  SerializationError,
  StoreExistsError,
} from './errors.js';
export type { Factory, FactoryData } from './factory.js';
export {
  factoryFromData,
  factoryToData,
  LambdaFactory,
  registerFactoryType,
  SimpleFactory,
} from './factory.js';
export { assertStringKey, isUuid, keyId } from './keys.js';
export {
  type CloseOptions,
  ContextLifetime,
  LeaseLifetime,
  type LeaseLifetimeOptions,
  type Lifetime,
  type LifetimeOptions,
  registerLifetimeAtExit,
  StaticLifetime,
} from './lifetimes.js';
export { LocalConnector, type LocalConnectorOptions, type LocalKey } from './local-connector.js';
export { LRUCache } from './lru-cache.js';
export { mapLimit } from './map-limit.js';
export { type Metrics, StoreMetrics, type TimeStats } from './metrics.js';
export type { CreateProxyOptions, Proxied, ProxyState, Shape } from './proxy.js';
export {
  createProxy,
  extract,
  getFactory,
  invalidateProxy,
  isProxy,
  isResolved,
  ProxyLocker,
  proxyState,
  resolve,
  resolveAsync,
  resolveSync,
} from './proxy.js';
export {
  type AnyRef,
  type BorrowOptions,
  borrow,
  clone,
  dispose,
  intoOwned,
  mutBorrow,
  type OwnedProxy,
  type OwnedProxyOptions,
  type ReferenceInfo,
  type RefMutProxy,
  type RefProxy,
  referenceInfo,
  update,
  waitForEvictions,
} from './ref.js';
export { markRefsOutOfScope, type SubmitOptions, submit } from './scopes.js';
export type {
  Deserializer,
  ProxyEncodeHook,
  ProxyReviver,
  SerializableType,
  Serializer,
} from './serialize.js';
export {
  deserialize,
  registerProxyKind,
  registerSerializable,
  serialize,
  serializeParts,
} from './serialize.js';
export type {
  GetOptions,
  LifetimeLike,
  ProxyFromKeyOptions,
  ProxyOptions,
  PutOptions,
  StoreConfig,
  StoreOptions,
} from './store.js';
export { Store } from './store.js';
export { StoreFactory, type StoreFactoryOptions } from './store-factory.js';
export {
  closeRegisteredStores,
  getOrCreateStore,
  getStore,
  registeredStores,
  registerStore,
  unregisterStore,
} from './store-registry.js';
export { type FetchSyncOptions, fetchSync, stopSyncBridge } from './sync-bridge.js';
export { checkWaitTimeout, type LongTimer, longTimeout } from './wait-timeout.js';
