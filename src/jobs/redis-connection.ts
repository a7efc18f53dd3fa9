/**
 * ioredis options for QUEUE_URL, shared by the start check and the BullMQ connections so both reach
 * the same server the same way.
 */
import { isIP } from 'node:net';
import type { RedisOptions } from 'ioredis';
import type { QueueTarget } from './queue-url.js';

export function redisOptions(target: QueueTarget): RedisOptions {
  return {
    host: target.host,
    port: target.port,
    db: target.db,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    // servername (SNI) for a host name, so the certificate is checked against it; TLS forbids SNI
    // with an IP address, where Node checks the certificate against the IP itself.
    ...(target.tls ? { tls: isIP(target.host) ? {} : { servername: target.host } } : {}),
    // BullMQ requires it: a worker's blocking commands must wait out a Redis restart, not fail
    // after ioredis' default 20 retries and drop the worker's loop.
    maxRetriesPerRequest: null,
  };
}

/**
 * The same options as BullMQ's connection type: BullMQ declares its own RedisOptions, whose
 * retryStrategy (left at ioredis' default here) does not accept ioredis' `null`.
 */
export function bullConnection(target: QueueTarget): Omit<RedisOptions, 'retryStrategy'> {
  const { retryStrategy: _default, ...options } = redisOptions(target);
  return options;
}
