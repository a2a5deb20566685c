/** A run status as a coloured badge. */
import { html } from 'htm/preact';
import type { VNode } from 'preact';

export function Status(props: { status: string }): VNode {
  return html`<span class=${`status status-${props.status}`} data-status=${props.status}>${props.status}</span>`;
}
