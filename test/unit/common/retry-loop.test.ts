import { expect } from 'chai';
import { RetryLoop } from '../../../common/retry-loop.ts';

describe('RetryLoop', () => {
  it('tries at once, backs off while asked to retry, and stops when done', async () => {
    const at: number[] = [];
    const t0 = Date.now();
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const loop = new RetryLoop(
      () => {
        at.push(Date.now() - t0);
        if (at.length < 4) return Promise.resolve('retry');
        resolveDone();
        return Promise.resolve('done');
      },
      { firstDelayMs: 10, maxDelayMs: 25 },
    );
    loop.start();
    await done;
    await new Promise((r) => setTimeout(r, 60));
    expect(at).to.have.length(4);
    expect(at[0]).to.be.lessThan(10);
    // delays 10, 20, 25 (capped)
    expect(at[1]! - at[0]!).to.be.at.least(9);
    expect(at[2]! - at[1]!).to.be.at.least(19);
    expect(at[3]! - at[2]!).to.be.at.least(24);
    expect(loop.stopped).to.equal(true);
  });

  it('retries after a rejected attempt and never runs after stop()', async () => {
    let calls = 0;
    const loop = new RetryLoop(() => {
      calls++;
      return Promise.reject(new Error('boom'));
    }, { firstDelayMs: 5 });
    loop.start();
    await new Promise((r) => setTimeout(r, 30));
    loop.stop();
    const seen = calls;
    expect(seen).to.be.at.least(2);
    await new Promise((r) => setTimeout(r, 40));
    expect(calls).to.equal(seen);
  });

  it('resetBackoff makes the next retry wait the first delay again', async () => {
    const delays: number[] = [];
    const loop: RetryLoop = new RetryLoop(() => {
      delays.push(loop.nextDelayMs);
      if (delays.length === 3) loop.resetBackoff();
      return Promise.resolve(delays.length < 5 ? 'retry' : 'done');
    }, { firstDelayMs: 5, maxDelayMs: 1_000 });
    loop.start();
    await new Promise((r) => setTimeout(r, 150));
    // nextDelayMs seen by each attempt: 5, 10, 20; the reset makes the next wait 5, so the
    // fourth attempt sees it doubled from 5 (10), not from 20 (40)
    expect(delays).to.deep.equal([5, 10, 20, 10, 20]);
  });
});
