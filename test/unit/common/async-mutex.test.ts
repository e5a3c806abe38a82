import { expect } from 'chai';
import { AsyncMutex } from '../../../common/async-mutex.ts';

describe('AsyncMutex', () => {
  it('runs critical sections one at a time, in call order', async () => {
    const m = new AsyncMutex();
    const log: string[] = [];
    const section = (name: string, ms: number) =>
      m.run(async () => {
        log.push(`${name}+`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${name}-`);
        return name;
      });
    const results = await Promise.all([section('a', 30), section('b', 1), section('c', 10)]);
    expect(results).to.deep.equal(['a', 'b', 'c']);
    expect(log).to.deep.equal(['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  });

  it('keeps going after a failing section', async () => {
    const m = new AsyncMutex();
    const failed = m.run(async () => {
      throw new Error('boom');
    });
    const next = m.run(async () => 'ok');
    expect(await failed.catch((e: Error) => e.message)).to.equal('boom');
    expect(await next).to.equal('ok');
  });

  it('idle() waits for everything queued so far', async () => {
    const m = new AsyncMutex();
    let done = false;
    void m.run(async () => {
      await new Promise((r) => setTimeout(r, 20));
      done = true;
    });
    await m.idle();
    expect(done).to.equal(true);
  });
});
