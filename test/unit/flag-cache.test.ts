// The flag cache: one read however many callers wait, a change made while a
// read is in flight never leaves the older read cached, and while
// notifications cannot be trusted every evaluation reads the store.
import { FlagCache } from "../../server/flags/flag-cache";
import type { Flag } from "../../server/flags/flag-model";

const flag = (key: string, enabled: boolean) => ({ key, enabled }) as Flag;

function store() {
  const state = { flags: [flag("a", true)], reads: 0, release: undefined as undefined | (() => void), hold: false };
  const load = async () => {
    state.reads += 1;
    const seen = [...state.flags];
    if (state.hold) await new Promise<void>((r) => (state.release = r));
    return seen;
  };
  return { state, load };
}

describe("flag cache", () => {
  it("reads once for concurrent callers, then answers from memory until invalidated", async () => {
    const { state, load } = store();
    const cache = new FlagCache(load, { trusted: true });
    const [x, y] = await Promise.all([cache.snapshot("shop"), cache.snapshot("shop")]);
    expect(x).toBe(y);
    expect(state.reads).toBe(1);
    expect(cache.snapshot("shop")).toBe(x); // synchronous: no I/O
    state.flags = [flag("a", false)];
    cache.invalidate("shop");
    expect((await cache.snapshot("shop")).flags.get("a")!.enabled).toBe(false);
    expect(state.reads).toBe(2);
  });

  it("never keeps a read that a change overtook", async () => {
    const { state, load } = store();
    const cache = new FlagCache(load, { trusted: true });
    state.hold = true;
    const stale = cache.snapshot("shop");
    await new Promise((r) => setImmediate(r));
    state.flags = [flag("a", false)];
    cache.invalidate("shop");
    state.hold = false;
    state.release!();
    expect((await stale).flags.get("a")!.enabled).toBe(true); // the caller that asked before the change
    expect((await cache.snapshot("shop")).flags.get("a")!.enabled).toBe(false);
  });

  it("reads the store on every call while untrusted, and caches again once trusted", async () => {
    const { state, load } = store();
    const cache = new FlagCache(load, { trusted: false });
    await cache.snapshot("shop");
    await cache.snapshot("shop");
    expect(state.reads).toBe(2);
    cache.setTrusted(true);
    await cache.snapshot("shop");
    await cache.snapshot("shop");
    expect(state.reads).toBe(3);
    cache.setTrusted(false);
    await cache.snapshot("shop");
    expect(state.reads).toBe(4);
  });
});
