import { LocalConnector } from './local-connector.js';
import { Store } from './store.js';
import {
  closeRegisteredStores,
  getOrCreateStore,
  getStore,
  registeredStores,
  registerStore,
} from './store-registry.js';

/**
 * A LocalConnector that counts its `close` calls and can be told to fail them; its config names
 * it, so a store rebuilt from that config (the store registers the class) gets one too.
 */
class ClosingConnector extends LocalConnector {
  static override fromConfig(options: Record<string, unknown>): ClosingConnector {
    return new ClosingConnector(options);
  }
  override config() {
    return { ...super.config(), type: 'ClosingConnector' };
  }
  closeCalls = 0;
  failClose: Error | undefined;
  override async close(): Promise<void> {
    this.closeCalls++;
    if (this.failClose) throw this.failClose;
  }
}

function unique(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2)}`;
}

afterEach(() => {
  expect(registeredStores()).toEqual([]);
});

describe('closeRegisteredStores', () => {
  test('closes and unregisters every registered store, however it was registered', async () => {
    const byOption = new Store(unique('own'), new ClosingConnector(), { register: true });
    const byHand = new Store(unique('hand'), new ClosingConnector());
    registerStore(byHand);
    // the way a receiving process gets one: rebuilt from a proxy's or a future's config
    const template = new Store(unique('rebuilt'), new ClosingConnector());
    const rebuilt = getOrCreateStore(template.config());
    const unregistered = new Store(unique('free'), new ClosingConnector());
    expect(registeredStores().sort()).toEqual([byOption.name, byHand.name, rebuilt.name].sort());

    await closeRegisteredStores();

    expect(registeredStores()).toEqual([]);
    for (const store of [byOption, byHand, rebuilt]) {
      expect((store.connector as ClosingConnector).closeCalls).toBe(1);
      expect(getStore(store.name)).toBeUndefined();
    }
    expect((unregistered.connector as ClosingConnector).closeCalls).toBe(0);
    expect((template.connector as ClosingConnector).closeCalls).toBe(0);
    // closing again (by hand or by another call) is harmless
    await byOption.close();
    await closeRegisteredStores();
    expect((byOption.connector as ClosingConnector).closeCalls).toBe(1);
    await unregistered.close();
    await template.close();
  });

  test('closes every store even when some fail, then throws', async () => {
    const one = new ClosingConnector();
    one.failClose = new Error('one failed');
    const ok = new ClosingConnector();
    new Store(unique('fail-one'), one, { register: true });
    new Store(unique('ok'), ok, { register: true });
    await expect(closeRegisteredStores()).rejects.toThrow('one failed');
    expect(ok.closeCalls).toBe(1);
    expect(registeredStores()).toEqual([]);

    const two = new ClosingConnector();
    two.failClose = new Error('two failed');
    const three = new ClosingConnector();
    three.failClose = new Error('three failed');
    new Store(unique('fail-two'), two, { register: true });
    new Store(unique('fail-three'), three, { register: true });
    const error = await closeRegisteredStores().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors.map((e: Error) => e.message).sort()).toEqual([
      'three failed',
      'two failed',
    ]);
  });

  test('with nothing registered it does nothing', async () => {
    await expect(closeRegisteredStores()).resolves.toBeUndefined();
  });
});
