/** The router service: decides runs from their history and the inputs that reach them. */
export { type RouterHandle, type RouterOptions, startRouter } from './router.js';
