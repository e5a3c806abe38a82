import { expect } from 'chai';
import { DeadlineExceededError, withDeadline, type RequestContext } from '../../../plugin/deadline.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('plugin/deadline', () => {
  it('passes through a result that comes in time, with the context not expired', async () => {
    let seen: boolean | undefined;
    const result = await withDeadline(
      async (ctx) => {
        await sleep(5);
        seen = ctx.expired();
        return 7;
      },
      200,
      'x',
      () => undefined,
    );
    expect(result).to.equal(7);
    expect(seen).to.equal(false);
  });

  it('passes through a failure that comes in time, without reporting it as late', async () => {
    const late: unknown[] = [];
    const err = await withDeadline(() => Promise.reject(new Error('boom')), 100, 'x', (e) => late.push(e)).catch((e: unknown) => e);
    expect((err as Error).message).to.equal('boom');
    await sleep(20);
    expect(late).to.deep.equal([]);
  });

  it('rejects at the deadline with a 500, tells the work, and hands a later failure to onLateError', async () => {
    let fail!: (e: Error) => void;
    let ctx!: RequestContext;
    const late: unknown[] = [];
    const started = Date.now();
    const err = await withDeadline(
      (c) => {
        ctx = c;
        return new Promise<never>((_, reject) => (fail = reject));
      },
      50,
      'Join',
      (e) => late.push(e),
    ).catch((e: unknown) => e);
    expect(Date.now() - started).to.be.within(40, 500);
    expect(err).to.be.instanceOf(DeadlineExceededError);
    expect((err as DeadlineExceededError).status).to.equal(500);
    expect((err as Error).message).to.match(/^Join did not finish within 0\.1 s/);
    expect(ctx.expired()).to.equal(true);
    fail(new Error('too late'));
    await sleep(10);
    expect(late.map((e) => (e as Error).message)).to.deep.equal(['too late']);
  });
});
