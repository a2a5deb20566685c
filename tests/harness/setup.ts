/**
 * Runs before every integration test file: exposes the shared URLs as environment variables for
 * child processes, and closes whatever the harness opened for the file once it is done.
 */
import { afterAll, inject } from 'vitest';
import { MONGO_URL_ENV, NATS_URL_ENV } from './context.js';
import { closeFileResources } from './resources.js';

// Assigning undefined to process.env would store the string "undefined".
const natsUrl = inject('squallNatsUrl');
const mongoUrl = inject('squallMongoUrl');
if (natsUrl) process.env[NATS_URL_ENV] = natsUrl;
if (mongoUrl) process.env[MONGO_URL_ENV] = mongoUrl;

afterAll(closeFileResources);
