import { expect } from 'chai';
import { DeadlineExceededError, withDeadline } from '../../../plugin/deadline.ts';

describe('plugin/deadline', () => {
  it('passes through a result that comes in time', async () => {
    expect(await withDeadline(Promise.resolve(7), 100, 'x', () => undefined)).to.equal(7);
  });

  it('passes through a failure that comes in time, without reporting it as late', async () => {
    const late: unknown[] = [];
    const err = await withDeadline(Promise.reject(new Error('boom')), 100, 'x', (e) => late.push(e)).catch((e: unknown) => e);
    expect((err as Error).message).to.equal('boom');
    await new Promise((r) => setTimeout(r, 20));
    expect(late).to.deep.equal([]);
  });

  it('rejects at the deadline with a 500 and hands a later failure to onLateError', async () => {
    let fail!: (e: Error) => void;
    const work = new Promise<never>((_, reject) => (fail = reject));
    const late: unknown[] = [];
    const started = Date.now();
    const err = await withDeadline(work, 50, 'Join', (e) => late.push(e)).catch((e: unknown) => e);
    expect(Date.now() - started).to.be.within(40, 500);
    expect(err).to.be.instanceOf(DeadlineExceededError);
    expect((err as DeadlineExceededError).status).to.equal(500);
    expect((err as Error).message).to.match(/^Join did not finish within 0\.1 s/);
    fail(new Error('too late'));
    await new Promise((r) => setTimeout(r, 10));
    expect(late.map((e) => (e as Error).message)).to.deep.equal(['too late']);
  });
});
