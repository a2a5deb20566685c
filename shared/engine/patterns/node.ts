/**
 * What every pattern helper (mapState, parallelState, waitForCondition, waitForCallback) shares:
 * the check of its id and the typing of the state node it builds outside the machine's setup().
 */
import type {
  EventObject,
  MachineContext,
  MetaObject,
  ParameterizedObject,
  ProvidedActor,
  StateNodeConfig,
} from 'xstate';
import { InvalidInputError } from '../../errors.js';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The helper's id (`id`, else `resultKey`): a token that names its invokes and timers.
 * InvalidInputError, naming the helper, for anything else.
 */
export function helperId(helper: string, id: unknown, resultKey: unknown): string {
  const chosen = id ?? resultKey;
  if (typeof chosen !== 'string' || !ID_PATTERN.test(chosen)) {
    throw new InvalidInputError(
      `${helper}: id ${JSON.stringify(chosen)} must be letters, digits, '_' or '-' (set id when resultKey is not)`,
    );
  }
  return chosen;
}

/**
 * A helper's node as the machine's state config: XState cannot type a node built outside the
 * machine's setup(), so the helper types its actions itself and its callers' types come from
 * where the node is used.
 */
export function asStateNode<
  TContext extends MachineContext,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
  TAction extends ParameterizedObject,
  TGuard extends ParameterizedObject,
  TDelay extends string,
  TTag extends string,
  TEmitted extends EventObject,
  TMeta extends MetaObject,
>(node: object): StateNodeConfig<TContext, TEvent, TActor, TAction, TGuard, TDelay, TTag, unknown, TEmitted, TMeta> {
  return node as StateNodeConfig<TContext, TEvent, TActor, TAction, TGuard, TDelay, TTag, unknown, TEmitted, TMeta>;
}
