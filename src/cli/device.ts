import { DEVICES, type Device } from '../engine/runtime.js';
import { UsageError } from './errors.js';

/** --device, else $CLIPAG_DEVICE, else auto (CUDA when its provider loads, CPU otherwise). */
export function deviceOf(s: string | undefined): Device {
  const d = s ?? process.env.CLIPAG_DEVICE ?? 'auto';
  if (!(DEVICES as readonly string[]).includes(d)) throw new UsageError(`--device ${d}: expected one of ${DEVICES.join(', ')}`);
  return d as Device;
}
