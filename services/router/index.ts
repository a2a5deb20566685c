/** The router service: decides runs from their history and the inputs that reach them. */
export {
  type CompiledRouterOptions,
  compileRouterOptions,
  defaultRouterOptions,
  type RouterOptions,
  type RouterOptionsInput,
} from './options.js';
export { type RouterHandle, startRouter } from './router.js';
