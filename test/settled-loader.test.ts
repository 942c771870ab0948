import { SettledLoader } from '../src/http/settled-loader';

/**
 * The contract resolvers rely on (issue 13): `settled(key)` is the very value `load(key)`
 * resolves to once the loader holds it, and nothing before that or after `clear`.
 * A unit test of the class: its batch function is a plain function, no database involved.
 */
describe('SettledLoader', () => {
  const batches: string[][] = [];
  const loader = () =>
    new SettledLoader<string, { id: string } | null>(async (keys) => {
      batches.push([...keys]);
      return keys.map((key) => (key === 'boom' ? new Error('no such key') : key === 'none' ? null : { id: key }));
    });
  beforeEach(() => batches.splice(0));

  it('holds nothing for a key not yet loaded, and the loaded object itself once its batch resolved', async () => {
    const users = loader();
    expect(users.settled('a')).toBeUndefined();
    const pending = users.load('a');
    expect(users.settled('a')).toBeUndefined();
    const value = await pending;
    expect(users.settled('a')).toBe(value);
    expect(users.settled('b')).toBeUndefined();
    expect(batches).toEqual([['a']]);
  });

  it('holds null for a key whose value is null, and nothing for a key whose batch result is an error', async () => {
    const users = loader();
    await expect(users.load('boom')).rejects.toThrow('no such key');
    expect(await users.load('none')).toBeNull();
    expect(users.settled('boom')).toBeUndefined();
    expect(users.settled('none')).toBeNull();
  });

  it('holds a primed value, unless the key was cached already (DataLoader keeps the first)', async () => {
    const users = loader();
    const primed = { id: 'p' };
    users.prime('p', primed);
    expect(users.settled('p')).toBe(primed);
    expect(await users.load('p')).toBe(primed);
    const loaded = await users.load('q');
    users.prime('q', { id: 'other' });
    expect(users.settled('q')).toBe(loaded);
    expect(await users.load('q')).toBe(loaded);
    const pending = users.load('r');
    users.prime('r', { id: 'too late' });
    expect(await pending).toEqual({ id: 'r' });
    expect(users.settled('r')).toBe(await pending);
    expect(batches).toEqual([['q'], ['r']]);
  });

  it('forgets with clear and clearAll', async () => {
    const users = loader();
    await users.loadMany(['a', 'b']);
    users.clear('a');
    expect(users.settled('a')).toBeUndefined();
    expect(users.settled('b')).toEqual({ id: 'b' });
    users.clearAll();
    expect(users.settled('b')).toBeUndefined();
  });

  it('uses cacheKeyFn for its keys', async () => {
    const pages = new SettledLoader<{ org: string; first: number }, string, string>(async (keys) => keys.map((k) => `${k.org}:${k.first}`), {
      cacheKeyFn: (k) => `${k.org}|${k.first}`,
    });
    await pages.load({ org: 'o', first: 2 });
    expect(pages.settled({ org: 'o', first: 2 })).toBe('o:2');
    expect(pages.settled({ org: 'o', first: 3 })).toBeUndefined();
  });
});

describe('SettledLoader, keys dropped or failed while a batch is in flight', () => {
  it('holds nothing for a key cleared while its batch ran, and the new value once loaded again', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let round = 0;
    const loader = new SettledLoader<string, { round: number }>(async (keys) => {
      round += 1;
      const mine = round;
      if (mine === 1) await gate;
      return keys.map(() => ({ round: mine }));
    });
    const first = loader.load('k');
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is dispatched and waits
    loader.clear('k');
    const second = loader.load('k');
    expect(await second).toEqual({ round: 2 });
    release();
    expect(await first).toEqual({ round: 1 });
    expect(loader.settled('k')).toBe(await second);
  });

  it('a batch that rejects records nothing; a key primed with an error rejects load with it, without a batch', async () => {
    let batches = 0;
    const loader = new SettledLoader<string, string>(async () => {
      batches += 1;
      throw new Error('statement failed');
    });
    await expect(loader.load('a')).rejects.toThrow('statement failed');
    expect(loader.settled('a')).toBeUndefined();
    const failure = new Error('the first failure');
    loader.prime('b', failure);
    expect(loader.settled('b')).toBeUndefined();
    await expect(loader.load('b')).rejects.toBe(failure);
    expect(batches).toBe(1);
  });
});
