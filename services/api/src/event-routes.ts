import {
  BatchPathParams,
  ErrorBody,
  finishedCount,
  isTerminal,
  JobPathParams,
  LiveEventData,
  LiveEventHeaders,
  NoMoreEvents,
  type BatchJobEvent,
} from '@harombe/core';
import {
  allCounts,
  type BatchStore,
  type BatchViews,
  type JobEventStream,
  type JobService,
  type JobStore,
  type StoredEvent,
  type StreamNotifier,
} from '@harombe/queue';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Authenticate } from './request-authenticator.js';
import { secured } from './route-schemas.js';
import { SseConnection } from './sse-connection.js';

/** What the API's options set of the event routes: their streams and settings. */
export interface EventStreamOptions {
  stream: JobEventStream;
  notifier: StreamNotifier;
  /** Milliseconds without an event before a heartbeat comment. Default 15 000. */
  heartbeatMs?: number;
  /** Milliseconds a client may take nothing while events wait for it; then it is disconnected. Default 30 000. */
  stallMs?: number;
  /** Events read from Redis at a time: all a connection holds at once (and a job's result). Default 32. */
  pageSize?: number;
}

export interface EventRoutesOptions extends EventStreamOptions {
  service: JobService;
  store: JobStore;
  batches: BatchStore;
  /** The tenant's batches. */
  views: BatchViews;
  /** Who asks: as every other route authenticates. */
  auth: Authenticate;
  /** Where the open streams are counted (harombe_api_event_streams, ..._closed_total). */
  metrics: Registry;
}

/** Why a stream ended: all sent, the client left, it took nothing for too long, the server is shutting down. */
export type CloseReason = 'ended' | 'left' | 'stalled' | 'shutdown';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

const JOB_EVENTS_DESCRIPTION = `Server-Sent Events (text/event-stream) of one job, oldest first, each with an id:
\`status\` (data: JobStatusEvent: every status change, from \`queued\` or \`awaiting_approval\` with the approval, through decisions and \`running\`, to the end with the result), \`stdout\` and \`stderr\` (data: {"text": ...}: a running program's output as it writes it; a stream's chunks joined are the result's stdout or stderr, marker included).
The stream closes after the end event; a job that has ended replays its events and closes. \`Last-Event-ID\` resumes just after that event, on any API instance, with nothing lost or repeated.
A comment (\`: heartbeat\`) comes after api.events.heartbeat_seconds (15 s) without events. A client that takes nothing for api.events.stall_timeout_seconds (30 s) is disconnected; it resumes with Last-Event-ID.`;

const BATCH_EVENTS_DESCRIPTION = `Server-Sent Events (text/event-stream) of a batch: \`job\` (with an id; data: BatchJobEvent) when one of its jobs ends, with the batch's counts right after; \`counts\` (no id; data: BatchCountsEvent) whenever the counts changed otherwise (approvals, jobs starting), once the stream has caught up. The stream closes once every job has ended. \`Last-Event-ID\` resumes after that job event.`;

/** The answer in the OpenAPI document: the schemas events' data follow. */
const eventStream = {
  description: 'text/event-stream; each event’s data is one of these, as JSON (see the description)',
  content: { 'text/event-stream': { schema: LiveEventData } },
};

/**
 * GET /v1/jobs/{job_id}/events and GET /v1/batches/{batch_id}/events: live events read from
 * the Redis streams the job store and the workers write, so any API instance serves them and
 * resumes them. A connection reads one page of events at a time, and the next only once the
 * socket has taken it: a slow client costs a page, a stalled one is disconnected.
 */
export const eventRoutes: FastifyPluginAsyncZod<EventRoutesOptions> = async (app, options) => {
  const streams = new Gauge({
    name: 'harombe_api_event_streams',
    help: 'Live event streams (SSE) open now',
    registers: [options.metrics],
  });
  const closed = new Counter({
    name: 'harombe_api_event_streams_closed_total',
    help: 'Live event streams closed, by why: ended (all sent), left (the client), stalled (took nothing for too long), shutdown',
    labelNames: ['reason'],
    registers: [options.metrics],
  });
  const onClosed = (reason: CloseReason): void => {
    streams.dec();
    closed.inc({ reason });
  };
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const stallMs = options.stallMs ?? 30_000;
  const pageSize = options.pageSize ?? 32;
  const { stream, notifier } = options;
  // Open streams end when the server closes: their clients resume on another instance.
  const open = new Set<SseConnection>();
  app.addHook('preClose', async () => {
    for (const connection of open) connection.shutdown();
  });

  app.get(
    '/v1/jobs/:job_id/events',
    {
      schema: {
        summary: 'Live events of a job: status changes and output (Server-Sent Events)',
        description: JOB_EVENTS_DESCRIPTION,
        security: secured,
        params: JobPathParams,
        headers: LiveEventHeaders,
        response: { 200: eventStream, 204: NoMoreEvents, ...errors },
      },
    },
    async (request, reply) => {
      const principal = options.auth(request);
      const job = await options.service.get(principal, request.params.job_id);
      const jobId = job.job_id;
      let last = request.headers['last-event-id'];
      // Nothing after the client's last event of an ended job: 204 tells an EventSource not to reconnect.
      if (isTerminal(job.status) && last && (await stream.readJob(jobId, last, 1)).length === 0)
        return reply.code(204).send(null);
      const watch = await notifier.watch(stream.keys.jobEventStream(jobId));
      const connection = new SseConnection(reply.raw, { heartbeatMs, stallMs });
      reply.hijack();
      open.add(connection);
      streams.inc();
      let endSeen = false;
      try {
        if (!(await connection.open())) return;
        for (;;) {
          const page = await stream.readJob(jobId, last, pageSize);
          if (page.length > 0) {
            if (!(await connection.send(page.map(toSse)))) return;
            last = (page.at(-1) as StoredEvent).id;
            if (page.some((event) => event.ended)) return;
            continue;
          }
          // Caught up. The end event is written in the step that ends the job: once the job is
          // seen ended, one more read has it (or there is none: the stream expired first).
          const status = await options.store.status(jobId);
          if (!status || isTerminal(status)) {
            if (endSeen) return;
            endSeen = true;
            continue;
          }
          if (!(await watch.next(heartbeatMs, connection.signal)) && !(await connection.heartbeat())) return;
        }
      } finally {
        watch.close();
        open.delete(connection);
        onClosed(closeReason(connection));
        connection.end();
      }
    },
  );

  app.get(
    '/v1/batches/:batch_id/events',
    {
      schema: {
        summary: 'Live events of a batch: each job’s end, and the counts (Server-Sent Events)',
        description: BATCH_EVENTS_DESCRIPTION,
        security: secured,
        params: BatchPathParams,
        headers: LiveEventHeaders,
        response: { 200: eventStream, 204: NoMoreEvents, ...errors },
      },
    },
    async (request, reply) => {
      const batch = await options.views.owned(options.auth(request).tenant, request.params.batch_id);
      const { batch_id: batchId, total } = batch;
      let last = request.headers['last-event-id'];
      if (
        last &&
        finishedCount(await options.batches.counts(batchId)) >= total &&
        (await stream.readBatch(batchId, total, last, 1)).length === 0
      )
        return reply.code(204).send(null);
      const watch = await notifier.watch(stream.keys.batchEventStream(batchId));
      const connection = new SseConnection(reply.raw, { heartbeatMs, stallMs });
      reply.hijack();
      open.add(connection);
      streams.inc();
      let sentCounts = '';
      let endSeen = false;
      try {
        if (!(await connection.open())) return;
        for (;;) {
          const page = await stream.readBatch(batchId, total, last, pageSize);
          if (page.length > 0) {
            if (!(await connection.send(page.map(toSse)))) return;
            last = (page.at(-1) as StoredEvent).id;
            sentCounts = JSON.stringify((JSON.parse((page.at(-1) as StoredEvent).data) as BatchJobEvent).counts);
            continue;
          }
          const counts = allCounts(await options.batches.counts(batchId));
          // A job's end event is written in the step that counts it: once all are counted, one
          // more read has every end, and the last of them the final counts. A counts event saying
          // all had ended could come before an end not read yet.
          if (finishedCount(counts) >= total) {
            if (endSeen) return;
            endSeen = true;
            continue;
          }
          if (JSON.stringify(counts) !== sentCounts) {
            sentCounts = JSON.stringify(counts);
            const data = JSON.stringify({ batch_id: batchId, total, counts });
            if (!(await connection.send([{ event: 'counts', data }]))) return;
          }
          if (!(await watch.next(heartbeatMs, connection.signal)) && !(await connection.heartbeat())) return;
        }
      } finally {
        watch.close();
        open.delete(connection);
        onClosed(closeReason(connection));
        connection.end();
      }
    },
  );
};

const toSse = (event: StoredEvent) => ({ id: event.id, event: event.type, data: event.data });

function closeReason(connection: SseConnection): CloseReason {
  if (connection.cut) return connection.cut;
  return connection.signal.aborted ? 'left' : 'ended';
}
