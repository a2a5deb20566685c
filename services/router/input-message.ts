/** The shape of one input the router decides, whichever way it came. */
import type { DeliveryInfo } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';

/**
 * What the handler reads and settles of an input: a message consumed from a stream, or a result
 * offered directly (direct-results.ts), whose ack, nak and term answer the executor instead.
 */
export interface InputMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs | undefined;
  readonly info: Pick<DeliveryInfo, 'streamSequence' | 'deliveryCount' | 'timestampNanos'>;
  /**
   * Someone waits for the settlement (a direct result's executor, its task unacked until then):
   * it goes out at once, not with the connection's next write.
   */
  readonly awaited?: boolean;
  working(): void;
  ack(): void;
  nak(delayMs?: number): void;
  term(): void;
}
