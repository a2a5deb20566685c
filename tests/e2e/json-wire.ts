/** Raw NATS in JSON, the way a user with the `nats` CLI drives Squall (header `content-type: application/json`). */
import { headers as natsHeaders } from '@nats-io/transport-node';
import { CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE } from '../../shared/bus/codec.js';

/** Fresh headers marking a body as JSON. */
export function jsonHeaders(): ReturnType<typeof natsHeaders> {
  const h = natsHeaders();
  h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
  return h;
}

/** A JSON reply body as an object. */
export function parseJson(data: Uint8Array): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
}
