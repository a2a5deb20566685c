/** The router's flow control: the start gate (debounce, singleton, workflow concurrency keys). */
import { backoffDelay } from '../../../shared/bus/backoff.js';
import { InvalidInputError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/log.js';
import type { InputMessage } from '../input-message.js';
import type { StartInput } from '../inputs.js';
import type { GateStep, StartGate } from './start-gate.js';

export { type GatedStart, type GateStep, StartGate, type StartGateDeps } from './start-gate.js';

/**
 * Runs a start through the gate and carries out a hold (nak with its delay). A key function that
 * throws refuses the start; trouble reaching NATS or the store holds it for a backoff delay.
 */
export async function gateStart(
  gate: StartGate,
  input: StartInput,
  m: InputMessage,
  inboxEpoch: string,
  log: Logger,
): Promise<GateStep> {
  let step: GateStep;
  try {
    step = await gate.check(input, {
      seq: m.info.streamSequence,
      at: Math.floor(m.info.timestampNanos / 1e6),
      startKey: `${inboxEpoch}/${m.info.streamSequence}`,
      deliveryCount: m.info.deliveryCount,
    });
  } catch (err) {
    if (err instanceof InvalidInputError) return { kind: 'refuse', error: err };
    const delayMs = backoffDelay(m.info.deliveryCount);
    log.warn('start gate failed; the start is held', { workflowId: input.workflowId, err, delayMs });
    step = { kind: 'hold', delayMs };
  }
  if (step.kind === 'hold') {
    log.debug('start held', { workflowId: input.workflowId, delayMs: step.delayMs });
    m.nak(step.delayMs);
  }
  return step;
}
