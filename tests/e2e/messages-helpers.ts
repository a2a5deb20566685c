/**
 * Checks shared by the end-to-end tests of messages between runs (messages.test.ts,
 * machine-children.test.ts): every message sent was taken once, in the order sent, and a
 * ping-pong of the fixtures' pinger and ponger ends as the same machines do under plain XState.
 */
import { expect } from 'vitest';
import { createActor } from 'xstate';
import type { SquallClient } from '../../shared/client/index.js';
import type { HistoryEvent, MessageSentEvent, SignalReceivedEvent } from '../../shared/history/events.js';
import { type PingerOutput, pingerMachine, pongerMachine } from '../fixtures/messages/workflows.js';
import { eventsOf, ofType } from './activities-helpers.js';

/** The messages a run took, in history order (held ones where they were finally delivered). */
export function taken(events: HistoryEvent[]): SignalReceivedEvent[] {
  return ofType(events, 'SignalReceived').filter((e) => e.from !== undefined && !e.held && !e.ignored);
}

/** Checks one direction of a conversation: every message sent is taken once, in msgSeq order. */
export function expectOnceInOrder(sent: MessageSentEvent[], receiver: HistoryEvent[], fromRunId: string): void {
  const got = taken(receiver).filter((e) => e.from?.runId === fromRunId);
  expect(got.map((e) => e.from?.msgSeq)).toEqual(sent.map((e) => e.msgSeq));
  expect(got.map((e) => e.signal)).toEqual(sent.map((e) => e.event));
  expect(sent.map((e) => e.msgSeq)).toEqual(sent.map((_, i) => i + 1));
}

/** Both histories of a finished ping-pong, and the child's workflowId. */
export interface PingPong {
  parent: HistoryEvent[];
  child: HistoryEvent[];
  childId: string;
}

/**
 * Checks a finished ping-pong of `rounds` rounds run as `workflowId`: its output is plain XState's,
 * and `rounds` pings and a stop one way, ready and `rounds` pongs the other (2 × rounds + 2
 * messages), were each taken once, in order. Returns both histories for further checks.
 */
export async function expectPingPong(
  client: SquallClient,
  workflowId: string,
  output: PingerOutput,
  rounds: number,
): Promise<PingPong> {
  const plain = createActor(pingerMachine(pongerMachine), { input: { rounds } }).start();
  expect(plain.getSnapshot().status).toBe('done');
  expect(output).toEqual(plain.getSnapshot().output);
  const numbers = Array.from({ length: rounds }, (_, i) => i + 1);
  expect(output).toEqual({ pongs: numbers, child: { pings: numbers } });

  const parent = await eventsOf(client, workflowId);
  const childId = ofType(parent, 'ChildStarted')[0]?.childWorkflowId as string;
  const child = await eventsOf(client, childId);
  const pings = ofType(parent, 'MessageSent');
  const pongs = ofType(child, 'MessageSent');
  expect(pings).toHaveLength(rounds + 1);
  expect(pongs).toHaveLength(rounds + 1);
  expect(pings.every((e) => e.target.kind === 'child' && e.target.workflowId === childId)).toBe(true);
  expect(pongs.every((e) => e.target.kind === 'parent' && e.target.workflowId === workflowId)).toBe(true);
  expectOnceInOrder(pings, child, (await client.describe(workflowId)).runId);
  expectOnceInOrder(pongs, parent, (await client.describe(childId)).runId);
  return { parent, child, childId };
}
