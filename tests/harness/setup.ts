/**
 * Runs before every integration test file: exposes the shared URLs as environment variables for
 * child processes, and closes whatever the harness opened for the file once it is done.
 */
import { afterAll, inject } from 'vitest';
import { MONGO_URL_ENV, NATS_URL_ENV } from './context.js';
import { closeFileResources } from './resources.js';

process.env[NATS_URL_ENV] = inject('squallNatsUrl');
process.env[MONGO_URL_ENV] = inject('squallMongoUrl');

afterAll(closeFileResources);
