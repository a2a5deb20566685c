/**
 * The order workflow featured in the README: charge the card, wait for an approval signal (or
 * time out), then ship and email in parallel. Activities live in ./activities.ts.
 */
import { assign, emit, setup } from 'xstate';
import { activity, defineWorkflow } from '../../shared/engine/index.js';
import type { Charge, ChargeInput, EmailInput, EmailReceipt, ShipInput, Shipment } from './activities.js';

/** Input of a run of `order`. */
export interface OrderInput {
  orderId: string;
  amount: number;
  /** How long to wait for `approve` before giving up. @default 30000 */
  approvalTimeoutMs?: number;
}

/** How an order ended. */
export type OrderStatus = 'fulfilled' | 'rejected' | 'timedOut' | 'paymentFailed' | 'fulfillmentFailed';

/** Output of a finished run of `order`. */
export interface OrderOutput {
  orderId: string;
  charged: boolean;
  shipped: boolean;
  emailed: boolean;
  status: OrderStatus;
}

/** Context of an order run. */
export interface OrderContext {
  orderId: string;
  amount: number;
  approvalTimeoutMs: number;
  charged: boolean;
  shipped: boolean;
  emailed: boolean;
  status: OrderStatus | 'pending';
}

/** Signals an order accepts. */
export type OrderSignal = { type: 'approve' } | { type: 'reject'; reason?: string };

/** The statechart; `chargeCard`, `shipOrder` and `sendEmail` are activities run by executors. */
export const orderMachine = setup({
  types: {
    input: {} as OrderInput,
    context: {} as OrderContext,
    events: {} as OrderSignal,
    output: {} as OrderOutput,
    emitted: {} as { type: 'orderCharged'; orderId: string },
  },
  actors: {
    chargeCard: activity<ChargeInput, Charge>(),
    shipOrder: activity<ShipInput, Shipment>(),
    sendEmail: activity<EmailInput, EmailReceipt>(),
  },
  delays: {
    approvalTimeout: ({ context }) => context.approvalTimeoutMs,
  },
}).createMachine({
  id: 'order',
  context: ({ input }) => ({
    orderId: input.orderId,
    amount: input.amount,
    approvalTimeoutMs: input.approvalTimeoutMs ?? 30_000,
    charged: false,
    shipped: false,
    emailed: false,
    status: 'pending',
  }),
  initial: 'charging',
  states: {
    charging: {
      invoke: {
        id: 'charge',
        src: 'chargeCard',
        input: ({ context }) => ({ orderId: context.orderId, amount: context.amount }),
        onDone: {
          target: 'awaitingApproval',
          actions: [
            assign({ charged: true }),
            emit(({ context }) => ({ type: 'orderCharged' as const, orderId: context.orderId })),
          ],
        },
        onError: { target: 'done', actions: assign({ status: 'paymentFailed' as const }) },
      },
    },
    awaitingApproval: {
      on: {
        approve: 'fulfilling',
        reject: { target: 'done', actions: assign({ status: 'rejected' as const }) },
      },
      after: {
        approvalTimeout: { target: 'done', actions: assign({ status: 'timedOut' as const }) },
      },
    },
    fulfilling: {
      type: 'parallel',
      states: {
        shipping: {
          initial: 'running',
          states: {
            running: {
              invoke: {
                id: 'ship',
                src: 'shipOrder',
                input: ({ context }) => ({ orderId: context.orderId }),
                onDone: { target: 'finished', actions: assign({ shipped: true }) },
                // Either activity failing ends fulfilment; leaving the state cancels the other one.
                onError: { target: '#order.done', actions: assign({ status: 'fulfillmentFailed' as const }) },
              },
            },
            finished: { type: 'final' },
          },
        },
        emailing: {
          initial: 'running',
          states: {
            running: {
              invoke: {
                id: 'email',
                src: 'sendEmail',
                input: ({ context }) => ({ orderId: context.orderId, template: 'order-shipped' }),
                onDone: { target: 'finished', actions: assign({ emailed: true }) },
                onError: { target: '#order.done', actions: assign({ status: 'fulfillmentFailed' as const }) },
              },
            },
            finished: { type: 'final' },
          },
        },
      },
      onDone: { target: 'done', actions: assign({ status: 'fulfilled' as const }) },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({
    orderId: context.orderId,
    charged: context.charged,
    shipped: context.shipped,
    emailed: context.emailed,
    status: context.status === 'pending' ? 'fulfillmentFailed' : context.status,
  }),
});

/**
 * The `order` workflow, version 1. A charge is tried at most 5 times (1 s, 2 s, 4 s, 8 s apart);
 * shipping and email are retried under the default policy until they succeed.
 */
export const orderWorkflow = defineWorkflow({
  name: 'order',
  version: 1,
  machine: orderMachine,
  activities: { chargeCard: { retry: { maximumAttempts: 5 } } },
});
