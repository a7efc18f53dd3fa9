import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Semaphore } from './semaphore.js';

test('a semaphore lets `size` holders in, hands a freed slot to the longest waiter, and drops an aborted waiter', async () => {
  const s = new Semaphore(1);
  await s.acquire();
  const order: string[] = [];
  const controller = new AbortController();
  const a = s.acquire().then(() => order.push('a'));
  const b = s.acquire(controller.signal).then(() => order.push('b'), () => order.push('b aborted'));
  const c = s.acquire().then(() => order.push('c'));
  controller.abort(new Error('stop'));
  await b;
  assert.equal(s.inUse, 1);
  s.release();
  await a;
  s.release();
  await c;
  assert.deepEqual(order, ['b aborted', 'a', 'c']);
  s.release();
  assert.equal(s.inUse, 0);
  assert.throws(() => new Semaphore(0), /whole number ≥ 1/);
});
