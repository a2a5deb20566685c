/**
 * Activities of the sample order workflow: stand-ins for a payment provider, a warehouse and a
 * mail service. They are deterministic (every id is derived from the activity's idempotency key),
 * so a retried attempt returns what the first one did, as the real services would with an
 * idempotency key. Their retry policies and timeouts are declared by the workflow (workflows.ts).
 */
import { createHash } from 'node:crypto';
import type { ActivityContext } from '../../shared/engine/activity.js';
import { defineActivity } from '../../shared/engine/activity.js';
import { ActivityFailure } from '../../shared/errors.js';

/** Input of chargeCard. */
export interface ChargeInput {
  orderId: string;
  /** In minor units (cents). */
  amount: number;
  /** ISO 4217. @default 'USD' */
  currency?: string;
  customerId?: string;
}

/** A captured charge. */
export interface Charge {
  chargeId: string;
  orderId: string;
  amount: number;
  currency: string;
  status: 'captured';
}

/** Input of shipOrder. */
export interface ShipInput {
  orderId: string;
  items?: { sku: string; quantity: number }[];
  address?: string;
}

/** A shipment handed to the carrier. */
export interface Shipment {
  orderId: string;
  carrier: string;
  trackingNumber: string;
  parcels: number;
}

/** Input of sendEmail. */
export interface EmailInput {
  to?: string;
  orderId: string;
  template?: string;
}

/** An accepted email. */
export interface EmailReceipt {
  messageId: string;
  to: string;
  template: string;
}

const CARRIERS = ['UPS', 'DHL', 'FedEx'] as const;

/** Charges the customer's card; refuses a non-positive or fractional amount without retrying. */
export const chargeCard = defineActivity('chargeCard', (input: ChargeInput, ctx: ActivityContext): Charge => {
  const order = requireOrder(input, 'chargeCard');
  const amount = input.amount;
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) {
    throw new ActivityFailure(`chargeCard: amount must be a positive integer of minor units, got ${String(amount)}`, {
      retryable: false,
      details: { orderId: order },
    });
  }
  const currency = (input.currency ?? 'USD').toUpperCase();
  ctx.log.info('charging card', { orderId: order, amount, currency });
  return { chargeId: `ch_${digest(ctx.idempotencyKey)}`, orderId: order, amount, currency, status: 'captured' };
});

/** Books the parcel with a carrier chosen from the order id; the tracking number is stable per attempt. */
export const shipOrder = defineActivity('shipOrder', (input: ShipInput, ctx: ActivityContext): Shipment => {
  const order = requireOrder(input, 'shipOrder');
  const key = digest(ctx.idempotencyKey);
  const carrier = CARRIERS[Number.parseInt(digest(order).slice(0, 8), 16) % CARRIERS.length] ?? 'UPS';
  const parcels = Math.max(1, Math.ceil((input.items ?? []).reduce((n, i) => n + (Number(i.quantity) || 0), 0) / 5));
  ctx.log.info('shipping order', { orderId: order, carrier, parcels });
  return { orderId: order, carrier, trackingNumber: `1Z${key.slice(0, 16).toUpperCase()}`, parcels };
});

/** Sends the order confirmation; the message id is stable per scheduled email. */
export const sendEmail = defineActivity('sendEmail', (input: EmailInput, ctx: ActivityContext): EmailReceipt => {
  const order = requireOrder(input, 'sendEmail');
  const to = input.to ?? `customer+${order}@example.com`;
  const template = input.template ?? 'order-shipped';
  ctx.log.info('sending email', { orderId: order, to, template });
  return { messageId: `<${digest(ctx.idempotencyKey)}@mail.example.com>`, to, template };
});

function requireOrder(input: { orderId?: unknown } | undefined, activity: string): string {
  const id = input?.orderId;
  if (typeof id !== 'string' || id.length === 0) {
    throw new ActivityFailure(`${activity}: input.orderId must be a non-empty string`, { retryable: false });
  }
  return id;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 24);
}
