import {
  CreateWebhookRequest,
  ErrorBody,
  WebhookDeliveriesQuery,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookDeliveryPathParams,
  WebhookSecretView,
  WebhookSubscription,
  WebhookSubscriptionList,
  WebhookSubscriptionPathParams,
} from '@harombe/core';
import type { Principal } from '@harombe/queue';
import { toDeliveryView, type Webhooks } from '@harombe/webhooks';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireScope } from './api-keyring.js';
import type { Authenticate } from './request-authenticator.js';
import { secured } from './route-schemas.js';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 429: ErrorBody };

export interface WebhookRoutesOptions {
  webhooks: Webhooks;
  auth: Authenticate;
}

/**
 * /v1/webhooks: a tenant's subscriptions, its signing secret and its deliveries (dead ones
 * included), all with scope admin. Another tenant's subscription or delivery is NotFound.
 */
export const webhookRoutes: FastifyPluginAsyncZod<WebhookRoutesOptions> = async (app, { webhooks, auth }) => {
  const admin = (request: FastifyRequest): Principal => {
    const principal = auth(request);
    requireScope(principal, 'admin');
    return principal;
  };

  app.post(
    '/v1/webhooks',
    {
      schema: {
        summary:
          'Subscribe the tenant to webhook events (its URL must be reachable: no loopback, private or link-local)',
        security: secured,
        body: CreateWebhookRequest,
        response: { 201: WebhookSubscription, ...errors },
      },
    },
    async (request, reply) => {
      const principal = admin(request);
      await webhooks.guard.check(request.body.url, 'url');
      return reply.code(201).send(await webhooks.subscriptions.create(principal.tenant, request.body));
    },
  );

  app.get(
    '/v1/webhooks',
    {
      schema: {
        summary: 'The tenant’s webhook subscriptions (those in the configuration first)',
        security: secured,
        response: { 200: WebhookSubscriptionList, ...errors },
      },
    },
    async (request) => ({ subscriptions: await webhooks.subscriptions.list(admin(request).tenant) }),
  );

  app.get(
    '/v1/webhooks/secret',
    {
      schema: {
        summary: 'The secret the tenant’s deliveries are signed with (made on first use)',
        security: secured,
        response: { 200: WebhookSecretView, ...errors },
      },
    },
    async (request) => webhooks.secrets.view(admin(request).tenant),
  );

  app.post(
    '/v1/webhooks/secret/rotate',
    {
      schema: {
        summary: 'A new signing secret; the previous one also signs for a day',
        security: secured,
        response: { 200: WebhookSecretView, ...errors },
      },
    },
    async (request) => webhooks.secrets.rotate(admin(request).tenant),
  );

  app.get(
    '/v1/webhooks/deliveries',
    {
      schema: {
        summary: 'The tenant’s webhook deliveries, newest first; state=dead lists the dead letters',
        security: secured,
        querystring: WebhookDeliveriesQuery,
        response: { 200: WebhookDeliveryPage, ...errors },
      },
    },
    async (request) => {
      const { state, offset, limit } = request.query;
      const records = await webhooks.deliveries.list(admin(request).tenant, {
        offset,
        limit,
        ...(state ? { state } : {}),
      });
      return {
        deliveries: records.map(toDeliveryView),
        next_offset: records.length === limit ? offset + limit : null,
      };
    },
  );

  app.get(
    '/v1/webhooks/deliveries/:delivery_id',
    {
      schema: {
        summary: 'One webhook delivery: state, attempts, last answer',
        security: secured,
        params: WebhookDeliveryPathParams,
        response: { 200: WebhookDelivery, ...errors },
      },
    },
    async (request) => webhooks.delivery(admin(request).tenant, request.params.delivery_id),
  );

  app.post(
    '/v1/webhooks/deliveries/:delivery_id/retry',
    {
      schema: {
        summary: 'Try a dead delivery again, from scratch (409 for one that is not dead)',
        security: secured,
        params: WebhookDeliveryPathParams,
        response: { 202: WebhookDelivery, ...errors },
      },
    },
    async (request, reply) =>
      reply.code(202).send(await webhooks.redeliver(admin(request).tenant, request.params.delivery_id)),
  );

  app.get(
    '/v1/webhooks/:subscription_id',
    {
      schema: {
        summary: 'One webhook subscription',
        security: secured,
        params: WebhookSubscriptionPathParams,
        response: { 200: WebhookSubscription, ...errors },
      },
    },
    async (request) => webhooks.subscriptions.get(admin(request).tenant, request.params.subscription_id),
  );

  app.delete(
    '/v1/webhooks/:subscription_id',
    {
      schema: {
        summary: 'Delete a subscription made through the API (one from the configuration: 409)',
        security: secured,
        params: WebhookSubscriptionPathParams,
        response: { 200: WebhookSubscription, ...errors },
      },
    },
    async (request) => webhooks.subscriptions.delete(admin(request).tenant, request.params.subscription_id),
  );
};
